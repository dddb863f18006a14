import type { Consumer, GroupAssignment, Message, MessagesStream } from '@platformatic/kafka';
import type { Logger } from '../logger.js';
import { describeError as describe } from './connect-error.js';
import { textHeaders } from './headers.js';
import { partitionKey, splitKey } from './partition-key.js';
import type { PlatformaticSettings as Resolved } from './platformatic-transport.js';
import type { GroupBatch, GroupConsumerOptions, IncomingMessage } from './types.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Adapts platformatic's message stream (one message at a time, all partitions) to `onBatch` calls:
 * messages that arrive together are grouped per partition; a partition has at most one batch
 * handler running, and at most `partitionsConsumedConcurrently` partitions run at once. Fetching
 * pauses while too many messages wait for handlers.
 */
export class GroupReader {
  /**
   * Makes a fresh consumer (a static member when given an instance id): after its stream fails (a
   * broker outage), the reader starts over with a new one.
   */
  readonly #newConsumer: (groupInstanceId: string | undefined) => Consumer;
  /** `group.instance.id` of new consumers; dropped if another member turns out to use it too. */
  #instanceId: string | undefined;
  #consumer: Consumer;
  #settings: Resolved | undefined;
  /** Set while a restart after a stream failure is pending or running. */
  #restarting: Promise<void> | undefined;
  readonly #options: GroupConsumerOptions;
  readonly #maxBuffered: number;
  readonly #logger: Logger;
  readonly #concurrency: number;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  #running = true;
  #throttled = false;
  #owned = new Set<string>();
  /** Bumped when a partition is revoked: batches of an older epoch are no longer active. */
  readonly #epochs = new Map<string, number>();
  /** Next offset not yet handed to a batch handler, per partition owned since. */
  readonly #next = new Map<string, bigint>();
  readonly #queues = new Map<string, IncomingMessage[]>();
  readonly #busy = new Set<string>();
  #buffered = 0;
  #drainScheduled = false;
  readonly #handlers = new Set<Promise<void>>();
  #commits: Promise<void> = Promise.resolve();

  constructor(
    newConsumer: (groupInstanceId: string | undefined) => Consumer,
    options: GroupConsumerOptions,
    maxBuffered: number,
    logger: Logger,
  ) {
    this.#newConsumer = newConsumer;
    this.#instanceId = options.groupInstanceId;
    this.#consumer = newConsumer(this.#instanceId);
    this.#options = options;
    this.#maxBuffered = maxBuffered;
    this.#logger = logger;
    this.#concurrency = Math.max(1, options.partitionsConsumedConcurrently ?? 4);
  }

  async start(o: Resolved): Promise<void> {
    this.#settings = o;
    const consumer = this.#consumer;
    consumer.on('consumer:group:join', ({ assignments }) => {
      if (consumer === this.#consumer) this.#onAssignment(assignments ?? []);
    });
    // Cooperative rebalance: partitions given up in its first round are gone now, before the join
    // that completes it (a no-op when nothing changed).
    consumer.on('consumer:group:rebalance', () => {
      if (consumer === this.#consumer && consumer.assignments !== null)
        this.#onAssignment(consumer.assignments);
    });
    consumer.on('consumer:heartbeat:error', ({ error }: { error?: unknown }) => {
      if (consumer === this.#consumer && this.#instanceId !== undefined && isFencedInstance(error))
        this.#fenced(consumer);
    });
    const stream = await consumer.consume({
      topics: [this.#options.topic, ...(this.#options.extraTopics ?? [])],
      mode: 'committed',
      fallbackMode: 'latest',
      autocommit: false,
      minBytes: 1,
      maxWaitTime: o.groupMaxWaitMs,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
    });
    this.#stream = stream;
    // Resolve once the starting offsets are known, so a request published after start() is read.
    const positioned = new Promise<void>((resolve, reject) => {
      stream.once('offsets', () => resolve());
      stream.once('error', reject);
    });
    stream.on('data', (m: Message<Buffer, Buffer, Buffer, Buffer>) => this.#onMessage(m));
    stream.on('error', (error) => this.#failed(stream, error));
    stream.on('close', () => this.#failed(stream, new Error('stream closed')));
    await Promise.race([positioned, sleep(o.sessionTimeoutMs)]);
  }

  /**
   * The consumer's stream failed (a broker outage longer than the library's retries) or ended: it
   * will not read again. Drop the partitions (their requests' offsets were not committed, so the next
   * owner reads them again) and start over with a new consumer, retrying until it is running or closed.
   */
  #failed(stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>, error: unknown): void {
    if (!this.#running || stream !== this.#stream || this.#restarting) return;
    this.#logger.warn('group consumer stream failed; rejoining with a new consumer', {
      error: describe(error),
    });
    this.#restarting = this.#restart().finally(() => {
      this.#restarting = undefined;
    });
  }

  /**
   * Another live member joined with this member's `group.instance.id` and fenced it. Rejoining with
   * the same id would fence that one in turn, back and forth: this member goes on without one.
   */
  #fenced(consumer: Consumer): void {
    if (!this.#running || this.#restarting || consumer !== this.#consumer) return;
    this.#logger.error(
      'another group member uses this group.instance.id: continuing as a dynamic member (give each adapter its own DBBRIDGE_INSTANCE_ID)',
      { groupInstanceId: this.#instanceId },
    );
    this.#instanceId = undefined;
    this.#restarting = this.#restart().finally(() => {
      this.#restarting = undefined;
    });
  }

  async #restart(): Promise<void> {
    this.#onAssignment([]);
    const old = this.#consumer;
    this.#stream = undefined;
    await old.close(true).catch(() => {});
    for (let attempt = 0; this.#running; attempt++) {
      this.#consumer = this.#newConsumer(this.#instanceId);
      try {
        await this.start(this.#settings as Resolved);
        if (!this.#running) await this.#consumer.close(true).catch(() => {});
        else this.#logger.info('group consumer rejoined', { attempts: attempt + 1 });
        return;
      } catch (error) {
        this.#stream = undefined;
        await this.#consumer.close(true).catch(() => {});
        const delayMs = Math.min(5000, 250 * 2 ** attempt);
        this.#logger.warn('group consumer restart failed; retrying', { error: describe(error), delayMs });
        await sleep(delayMs);
      }
    }
  }

  get assignedPartitions(): number {
    return this.#owned.size;
  }

  #onAssignment(assignments: readonly GroupAssignment[]): void {
    const next = new Set<string>();
    for (const a of assignments) for (const p of a.partitions) next.add(partitionKey(a.topic, p));
    const revoked = [...this.#owned].filter((k) => !next.has(k));
    const added = [...next].filter((k) => !this.#owned.has(k));
    this.#owned = next;
    for (const key of revoked) {
      this.#epochs.set(key, (this.#epochs.get(key) ?? 0) + 1);
      this.#next.delete(key);
      this.#buffered -= this.#queues.get(key)?.length ?? 0;
      this.#queues.delete(key);
    }
    if (revoked.length > 0) this.#options.onPartitionsRevoked?.(revoked.map(splitKey));
    if (added.length > 0) this.#options.onPartitionsAssigned?.(added.map(splitKey));
    this.#unthrottle();
  }

  #onMessage(m: Message<Buffer, Buffer, Buffer, Buffer>): void {
    if (!this.#running) return;
    const partition = m.partition;
    const key = partitionKey(m.topic, partition);
    if (!this.#owned.has(key)) return;
    // After a rejoin the stream rewinds to the committed offset: skip what was already handed over.
    const next = this.#next.get(key);
    if (next !== undefined && m.offset < next) return;
    this.#next.set(key, m.offset + 1n);
    let queue = this.#queues.get(key);
    if (queue === undefined) {
      queue = [];
      this.#queues.set(key, queue);
    }
    queue.push({
      topic: m.topic,
      partition,
      offset: m.offset.toString(),
      key: m.key ?? null,
      value: m.value ?? null,
      timestamp: Number(m.timestamp),
      ...headersOf(m),
    });
    this.#buffered++;
    if (this.#buffered >= this.#maxBuffered && !this.#throttled) {
      this.#throttled = true;
      this.#stream?.pause();
    }
    this.#scheduleDrain();
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    setImmediate(() => {
      this.#drainScheduled = false;
      this.#drain();
    });
  }

  #drain(): void {
    for (const [key, queue] of this.#queues) {
      if (!this.#running || this.#busy.size >= this.#concurrency) return;
      if (this.#busy.has(key) || queue.length === 0) continue;
      this.#queues.delete(key);
      this.#buffered -= queue.length;
      this.#busy.add(key);
      const { topic, partition } = splitKey(key);
      const epoch = this.#epochs.get(key) ?? 0;
      const batch: GroupBatch = {
        topic,
        partition,
        messages: queue,
        heartbeat: async () => {},
        // Owned in the same epoch, and nothing more: the consumer is not "active" while it rejoins
        // in a rebalance, but the partitions it keeps stay its own, and a handler that stopped then
        // would drop messages that nobody reads again.
        isActive: () => this.#running && this.#owned.has(key) && (this.#epochs.get(key) ?? 0) === epoch,
      };
      const handler = this.#options
        .onBatch(batch)
        .catch((error) => this.#logger.error('group batch handler failed', { topic, partition, error }))
        .finally(() => {
          this.#busy.delete(key);
          this.#handlers.delete(handler);
          this.#unthrottle();
          this.#scheduleDrain();
        });
      this.#handlers.add(handler);
    }
    this.#unthrottle();
  }

  #unthrottle(): void {
    if (this.#throttled && this.#running && this.#buffered < this.#maxBuffered / 2) {
      this.#throttled = false;
      this.#stream?.resume();
    }
  }

  async committed(
    partitions: readonly { topic: string; partition: number }[],
  ): Promise<{ topic: string; partition: number; offset: bigint }[]> {
    const byTopic = new Map<string, number[]>();
    for (const p of partitions) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p.partition]);
    const listed = await this.#consumer.listCommittedOffsets({
      topics: [...byTopic].map(([topic, ps]) => ({ topic, partitions: ps })),
    });
    return partitions.map((p) => ({ ...p, offset: listed.get(p.topic)?.[p.partition] ?? -1n }));
  }

  commit(offsets: readonly { topic: string; partition: number; offset: string }[]): Promise<void> {
    // One commit at a time: two in flight could land out of order and move an offset backwards.
    const run = this.#commits.then(() =>
      this.#consumer.commit({
        offsets: offsets.map((o) => ({
          topic: o.topic,
          partition: o.partition,
          offset: BigInt(o.offset),
          leaderEpoch: -1,
        })),
      }),
    );
    this.#commits = run.catch(() => {});
    return run;
  }

  pause(): void {
    this.#running = false;
    this.#stream?.pause();
    this.#buffered = 0;
    this.#queues.clear();
  }

  async close(): Promise<void> {
    this.pause();
    await this.#restarting;
    await Promise.allSettled([...this.#handlers]);
    await this.#commits;
    await this.#stream?.close().catch(() => {});
    await this.#consumer.close().catch(() => {});
  }
}

/** A FENCED_INSTANCE_ID error from the broker, however deep the library nested it. */
function isFencedInstance(error: unknown, depth = 0): boolean {
  if (error === null || typeof error !== 'object' || depth > 5) return false;
  const e = error as { apiId?: unknown; fencedInstanceId?: unknown; errors?: unknown; cause?: unknown };
  if (e.apiId === 'FENCED_INSTANCE_ID' || e.fencedInstanceId === true) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isFencedInstance(x, depth + 1))) return true;
  return isFencedInstance(e.cause, depth + 1);
}

/** A message's headers as text, as `IncomingMessage` carries them (nothing when it has none). */
function headersOf(m: { headers?: Map<Buffer, Buffer> }): { headers?: Record<string, string> } {
  const headers = m.headers === undefined ? undefined : textHeaders([...m.headers.entries()]);
  return headers === undefined ? {} : { headers };
}
