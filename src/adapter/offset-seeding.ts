import type { Logger } from '../logger.js';
import { partitionKey } from '../transport/partition-key.js';
import type { GroupConsumer } from '../transport/types.js';

type Partition = { readonly topic: string; readonly partition: number };

export interface OffsetSeederOptions {
  /** End offsets of a topic (the next offset to be written), per partition. */
  readonly endOffsets: (topic: string) => Promise<readonly { partition: number; offset: bigint }[]>;
  readonly logger: Logger;
  /** Attempts at seeding one assignment before the partitions are served unseeded. Default 3. */
  readonly attempts?: number;
}

/**
 * Closes the loss window of a partition the group has never committed: its consumer starts at the
 * end of the log (no old requests are replayed), but until the first commit nothing records that
 * position, so if the only adapter died then, the next owner would start at the (later) end of the
 * log and skip every request sent in between. When a member is given such a partition, this commits
 * the current end offset for it before any of its requests is served; and if the library started
 * reading below that offset after all, the first batch's offset is committed instead, before it is
 * handed out. Partitions that have a committed offset are left alone.
 */
export class OffsetSeeder {
  readonly #options: OffsetSeederOptions;
  /** Per newly assigned partition: the offset committed for it, or undefined when it needed none. */
  readonly #pending = new Map<string, Promise<bigint | undefined>>();
  #consumer: GroupConsumer | undefined;
  #attached: () => void = () => {};
  readonly #ready = new Promise<void>((resolve) => {
    this.#attached = resolve;
  });

  constructor(options: OffsetSeederOptions) {
    this.#options = options;
  }

  /** The group consumer, once `openGroupConsumer` resolved (its first assignment may come earlier). */
  attach(consumer: GroupConsumer): void {
    this.#consumer = consumer;
    this.#attached();
  }

  /** Partitions this member was just given: their batches wait until they are seeded. */
  assigned(partitions: readonly Partition[]): void {
    const seeding = this.#seed(partitions);
    for (const p of partitions) {
      this.#pending.set(
        partitionKey(p.topic, p.partition),
        seeding.then((seeds) => seeds.get(partitionKey(p.topic, p.partition))),
      );
    }
  }

  forget(partitions: readonly Partition[]): void {
    for (const p of partitions) this.#pending.delete(partitionKey(p.topic, p.partition));
  }

  /** Resolves when the partition's requests may be served: call before handing out a batch. */
  async ready(topic: string, partition: number, firstOffset: string | undefined): Promise<void> {
    const key = partitionKey(topic, partition);
    const pending = this.#pending.get(key);
    if (pending === undefined) return;
    const seed = await pending;
    if (this.#pending.get(key) !== pending) return; // revoked (and maybe re-assigned) meanwhile
    this.#pending.delete(key);
    if (seed === undefined || firstOffset === undefined || BigInt(firstOffset) >= seed) return;
    await this.#commit([{ topic, partition, offset: firstOffset }]).catch((error) =>
      this.#options.logger.warn('offset seeding failed', { topic, partition, error }),
    );
  }

  async #seed(partitions: readonly Partition[]): Promise<Map<string, bigint>> {
    await this.#ready;
    const attempts = this.#options.attempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#seedOnce(partitions);
      } catch (error) {
        if (attempt >= attempts) {
          this.#options.logger.warn('offset seeding failed; serving the partitions unseeded', {
            partitions: partitions.length,
            error,
          });
          return new Map();
        }
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }

  async #seedOnce(partitions: readonly Partition[]): Promise<Map<string, bigint>> {
    const consumer = this.#consumer;
    const seeds = new Map<string, bigint>();
    if (!consumer?.committed) return seeds;
    const committed = await consumer.committed(partitions);
    const missing = committed.filter((c) => c.offset < 0n);
    if (missing.length === 0) return seeds;
    const ends = new Map<string, bigint>();
    for (const topic of new Set(missing.map((m) => m.topic))) {
      for (const e of await this.#options.endOffsets(topic))
        ends.set(partitionKey(topic, e.partition), e.offset);
    }
    const offsets: { topic: string; partition: number; offset: string }[] = [];
    for (const m of missing) {
      const key = partitionKey(m.topic, m.partition);
      const end = ends.get(key);
      if (end === undefined || end < 0n) continue;
      seeds.set(key, end);
      offsets.push({ topic: m.topic, partition: m.partition, offset: end.toString() });
    }
    await this.#commit(offsets);
    if (offsets.length > 0)
      this.#options.logger.info('seeded offsets of new partitions', { partitions: offsets.length });
    return seeds;
  }

  async #commit(offsets: readonly { topic: string; partition: number; offset: string }[]): Promise<void> {
    if (offsets.length > 0) await this.#consumer?.commit(offsets);
  }
}
