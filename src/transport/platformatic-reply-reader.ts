import { type ClusterMetadata, type Consumer, findErrorBy, type RecordsBatch } from '@platformatic/kafka';
import type { Logger } from '../logger.js';
import { describeError as describe } from './connect-error.js';
import type { IncomingMessage } from './types.js';

/** RecordBatch attribute bit of control batches (transaction markers). */
const IS_CONTROL = 0b10_0000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface PartitionReaderOptions {
  readonly consumer: Consumer;
  readonly topic: string;
  readonly partition: number;
  readonly position: bigint;
  readonly maxWaitMs: number;
  readonly maxBytesPerPartition: number;
  readonly backoffMs: number;
  readonly logger: Logger;
  readonly deliver: (messages: IncomingMessage[]) => Promise<void>;
}

/**
 * A fetch loop over one topic-partition: fetch from the position, hand the messages over, wait for
 * the handler to settle (backpressure), move the position past them, fetch again. Nothing joins a
 * group and nothing is committed. Failed fetches are logged and retried after a pause.
 */
export class PartitionReader {
  readonly #o: PartitionReaderOptions;
  #position: bigint;
  #closed = false;
  #healthy = true;
  /** Failed fetches in a row: one is a blip (a leader moving), two in a row make the reader unhealthy. */
  #failures = 0;
  #loop: Promise<void> | undefined;

  constructor(options: PartitionReaderOptions) {
    this.#o = options;
    this.#position = options.position;
    // Lets the client resolve the partition's leader (and follow leader changes) from metadata.
    options.consumer.topics.track(options.topic);
  }

  get healthy(): boolean {
    return this.#healthy && !this.#closed;
  }

  start(): void {
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const { consumer, topic, partition } = this.#o;
    while (!this.#closed) {
      try {
        const metadata: ClusterMetadata = await consumer.metadata({ topics: [topic] });
        const info = metadata.topics.get(topic);
        const leader = info?.partitions[partition]?.leader;
        if (info === undefined || leader === undefined)
          throw new Error(`no leader for ${topic}[${partition}]`);
        const response = await consumer.fetch({
          node: leader,
          maxWaitTime: this.#o.maxWaitMs,
          minBytes: 1,
          maxBytes: Math.max(this.#o.maxBytesPerPartition, 1024 * 1024),
          topics: [
            {
              topicId: info.id,
              partitions: [
                {
                  partition,
                  fetchOffset: this.#position,
                  currentLeaderEpoch: -1,
                  lastFetchedEpoch: -1,
                  partitionMaxBytes: this.#o.maxBytesPerPartition,
                },
              ],
            },
          ],
        });
        if (this.#closed) return;
        this.#healthy = true;
        this.#failures = 0;
        const batches: RecordsBatch[] = [];
        for (const t of response.responses) {
          if (t.topicId !== info.id) continue;
          for (const p of t.partitions)
            if (p.partitionIndex === partition && p.records) batches.push(...p.records);
        }
        await this.#take(batches);
      } catch (error) {
        if (this.#closed) return;
        if (this.#recoverOutOfRange(error)) continue;
        this.#failures++;
        if (this.#failures >= 2) this.#healthy = false;
        // A failed fetch, or a handler that threw: the position did not move, the same messages come again.
        this.#o.logger.warn('reply reader failed; retrying', { topic, partition, error: describe(error) });
        await sleep(this.#o.backoffMs);
      }
    }
  }

  async #take(batches: readonly RecordsBatch[]): Promise<void> {
    const { topic, partition } = this.#o;
    const messages: IncomingMessage[] = [];
    let next = this.#position;
    for (const batch of batches) {
      const last = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
      if (batch.attributes & IS_CONTROL) {
        if (last > next) next = last;
        continue;
      }
      for (const record of batch.records) {
        const offset = batch.firstOffset + BigInt(record.offsetDelta);
        // A fetch returns whole batches: records before the position were read already.
        if (offset < this.#position) continue;
        messages.push({ topic, partition, offset: offset.toString(), key: record.key, value: record.value });
      }
      if (last > next) next = last;
    }
    if (messages.length > 0) await this.#o.deliver(messages);
    if (next > this.#position) this.#position = next;
  }

  /** The position fell out of the log (retention, truncation): move to the nearest end. */
  #recoverOutOfRange(error: unknown): boolean {
    if (!findErrorBy(error as Error, 'apiId', 'OFFSET_OUT_OF_RANGE')) return false;
    const response = (
      error as {
        response?: {
          responses?: {
            partitions: { partitionIndex: number; highWatermark: bigint; logStartOffset: bigint }[];
          }[];
        };
      }
    ).response;
    const p = response?.responses
      ?.flatMap((t) => t.partitions)
      .find((x) => x.partitionIndex === this.#o.partition);
    if (p === undefined) return false;
    const to = this.#position > p.highWatermark ? p.highWatermark : p.logStartOffset;
    this.#o.logger.warn('reply partition offset out of range; moving', {
      topic: this.#o.topic,
      partition: this.#o.partition,
      from: this.#position.toString(),
      to: to.toString(),
    });
    this.#position = to;
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#o.consumer.close(true).catch(() => {});
    await this.#loop?.catch(() => {});
  }
}
