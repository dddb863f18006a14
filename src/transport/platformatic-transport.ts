import { randomUUID } from 'node:crypto';
import {
  Admin,
  type ClusterMetadata,
  Consumer,
  compatibilityPartitioner,
  findErrorBy,
  type GroupAssignment,
  ListOffsetTimestamps,
  type Message,
  type MessagesStream,
  type MessageToProduce,
  ProduceAcks,
  Producer,
  type RecordsBatch,
} from '@platformatic/kafka';
import { TransportError } from '../errors.js';
import { type Logger, silentLogger } from '../logger.js';
import { BatchingPublisher, type Queued } from './batching-publisher.js';
import { connectFailed, describeError as describe, transportError } from './connect-error.js';
import { describeSecurity, type KafkaSecurity, platformaticSecurity } from './security.js';
import type {
  GroupBatch,
  GroupConsumer,
  GroupConsumerOptions,
  IncomingMessage,
  Publisher,
  PublisherOptions,
  ReplyChannel,
  ReplyChannelOptions,
  Transport,
} from './types.js';

/**
 * The transport on `@platformatic/kafka` 2.x, the default (see `DEFAULT_TRANSPORT` for the figures
 * that chose it); `KafkaTransport` is the same on kafkajs. Same semantics:
 *
 * - publishers batch what is published in the same tick (and while a produce request is in flight)
 *   into one `send()`, i.e. one produce request per leader broker, with `acks=all`; the adapter's
 *   publisher is idempotent. Keys choose partitions with the Java/kafkajs-compatible murmur2
 *   partitioner, so both transports put a key on the same partition.
 * - a reply channel reads one partition of each reply topic with plain Fetch requests, without
 *   joining any consumer group: it starts at the end offsets listed before it resolves, so it never
 *   reads history and never misses a reply produced after it resolved.
 * - the group consumer joins the group with the classic protocol (platformatic's `roundrobin`
 *   assignor), starts from committed offsets (latest when none), and commits only what `commit()`
 *   is given.
 *
 * Library errors become `TransportError` in one place only: the `wrap()` calls of the public
 * methods below (and of the publisher's flush). Internal helpers let library errors through.
 */
export interface PlatformaticTransportOptions {
  /** Broker addresses, e.g. `['127.0.0.1:9092']`. */
  readonly brokers: readonly string[];
  /** Kafka client id. Default `dbbridge`. */
  readonly clientId?: string;
  readonly logger?: Logger;
  /** TLS and SASL to the brokers (see `KafkaSecurity`). Default: none (PLAINTEXT). */
  readonly security?: KafkaSecurity;
  /** TCP connect timeout, ms. Default 3000. */
  readonly connectionTimeoutMs?: number;
  /** Broker request timeout (and produce timeout), ms. Default 30000. */
  readonly requestTimeoutMs?: number;
  /** Retries of a failed broker operation (metadata, fetch, commit, join). Default 5; producers use at least 8. */
  readonly retries?: number;
  /** First retry delay, ms; doubles per attempt up to 2000. Default 100. */
  readonly retryDelayMs?: number;
  /** Longest time a fetch waits on the broker for new messages, ms. Default 100 for reply channels, 500 for groups. */
  readonly replyMaxWaitMs?: number;
  readonly groupMaxWaitMs?: number;
  /** Most bytes a reply fetch returns per partition (a larger first batch is still returned whole). Default 1 MiB. */
  readonly replyMaxBytesPerPartition?: number;
  /** Pause before a reply reader retries after a failed fetch, ms. Default 500. */
  readonly replyErrorBackoffMs?: number;
  /** Group session timeout and heartbeat interval, ms. Defaults 30000 and 3000 (as the kafkajs transport). */
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  /** Group consumer: messages held for batch handlers before fetching pauses. Default 1024. */
  readonly groupMaxBuffered?: number;
}

const DEFAULTS = {
  clientId: 'dbbridge',
  connectionTimeoutMs: 3000,
  requestTimeoutMs: 30_000,
  retries: 5,
  retryDelayMs: 100,
  replyMaxWaitMs: 100,
  groupMaxWaitMs: 500,
  replyMaxBytesPerPartition: 1024 * 1024,
  replyErrorBackoffMs: 500,
  sessionTimeoutMs: 30_000,
  heartbeatIntervalMs: 3000,
  groupMaxBuffered: 1024,
} as const;

type Resolved = Readonly<Required<Omit<PlatformaticTransportOptions, 'logger' | 'security'>>>;

/** RecordBatch attribute bit of control batches (transaction markers). */
const IS_CONTROL = 0b10_0000;

/** The one boundary where library errors become `TransportError`s. */
function wrap(what: string) {
  return (error: unknown) => transportError(what, error);
}

function retryDelay(firstMs: number) {
  return (_client: unknown, _operation: string, attempt: number) =>
    Math.min(2000, firstMs * 2 ** Math.max(0, attempt - 1));
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function splitKey(key: string): { topic: string; partition: number } {
  const at = key.lastIndexOf('\u0000');
  return { topic: key.slice(0, at), partition: Number(key.slice(at + 1)) };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The `@platformatic/kafka` implementation of the transport. */
export class PlatformaticTransport implements Transport {
  readonly #options: Resolved;
  readonly #logger: Logger;
  readonly #brokers: string[];
  readonly #security: ReturnType<typeof platformaticSecurity>;
  readonly #securityLabel: string;
  #admin: Admin | undefined;
  readonly #producers = new Set<Producer>();
  /** Close functions of open reply channels and group consumers. */
  readonly #closers = new Set<() => Promise<void>>();

  constructor(options: PlatformaticTransportOptions) {
    if (options.brokers.length === 0)
      throw new TransportError('bootstrap_servers must be provided', { retryable: false });
    const { logger, security, ...rest } = options;
    this.#options = Object.freeze({ ...DEFAULTS, ...rest });
    this.#security = platformaticSecurity(security, options.brokers);
    this.#securityLabel = describeSecurity(security);
    this.#logger = logger ?? silentLogger;
    this.#brokers = [...options.brokers];
  }

  /** Options every platformatic client of this transport shares. */
  #base(suffix: string) {
    const o = this.#options;
    return {
      clientId: `${o.clientId}-${suffix}`,
      bootstrapBrokers: this.#brokers,
      connectTimeout: o.connectionTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      timeout: o.requestTimeoutMs,
      retries: o.retries,
      retryDelay: retryDelay(o.retryDelayMs),
      autocreateTopics: false,
      ...this.#security,
    };
  }

  async connect(): Promise<void> {
    if (this.#admin) return;
    const admin = new Admin(this.#base('admin'));
    try {
      await admin.metadata({ topics: [], forceUpdate: true });
    } catch (error) {
      await admin.close().catch(() => {});
      throw connectFailed(this.#brokers, error, this.#securityLabel);
    }
    this.#admin = admin;
  }

  #requireAdmin(): Admin {
    if (!this.#admin)
      throw new TransportError('transport is not connected: call connect() first', { retryable: false });
    return this.#admin;
  }

  publisher(options: PublisherOptions = {}): Publisher {
    const idempotent = options.idempotent ?? true;
    const producer = new Producer({
      ...this.#base('producer'),
      retries: Math.max(this.#options.retries, 8),
      idempotent,
      acks: ProduceAcks.ALL,
      partitioner: compatibilityPartitioner,
    });
    this.#producers.add(producer);
    const publisher = new BatchingPublisher(
      (batch) => producer.send({ messages: batch.map(toProduce) }).then(() => {}),
      wrap('produce'),
    );
    return {
      publish: (topic, message) => publisher.publish(topic, message),
      close: async () => {
        await publisher.close();
        this.#producers.delete(producer);
        await producer.close().catch(() => {});
      },
    };
  }

  async ping(topics: readonly string[] = []): Promise<void> {
    const admin = this.#requireAdmin();
    try {
      await admin.metadata({ topics: [...topics], forceUpdate: true });
    } catch (error) {
      throw wrap('metadata request')(error);
    }
  }

  /**
   * Reads one partition of each reply topic with Fetch requests of a consumer that never joins a
   * group (nothing is committed, no group is left behind). The end offsets are listed before this
   * resolves and reading starts there.
   */
  async openReplyChannel(options: ReplyChannelOptions): Promise<ReplyChannel> {
    const admin = this.#requireAdmin();
    const topics = [...options.topics];
    let partition: number;
    const startAt = new Map<string, bigint>();
    try {
      const metadata = await admin.metadata({ topics, forceUpdate: true });
      const counts = topics.map((t) => metadata.topics.get(t)?.partitionsCount ?? 0);
      const available = Math.min(...counts);
      if (!(available > 0)) throw new TransportError(`reply topics ${topics.join(', ')} have no partitions`);
      partition = options.partition ?? Math.floor(Math.random() * available);
      if (partition >= available) {
        throw new TransportError(
          `reply partition ${partition} does not exist (reply topics have ${available})`,
          { retryable: false },
        );
      }
      const p = partition;
      const listed = await admin.listOffsets({
        topics: topics.map((name) => ({
          name,
          partitions: [{ partitionIndex: p, timestamp: ListOffsetTimestamps.LATEST }],
        })),
      });
      for (const topic of topics) {
        const offset = listed
          .find((t) => t.name === topic)
          ?.partitions.find((x) => x.partitionIndex === p)?.offset;
        if (offset === undefined || offset < 0n) throw new Error(`no end offset for ${topic}[${p}]`);
        startAt.set(topic, offset);
      }
    } catch (error) {
      throw wrap('reply channel set-up')(error);
    }

    // One reader (own consumer, own fetch session and connection) per topic: the partitions of the
    // two reply topics may have different leaders, and a fetch session covers one broker.
    let delivery: Promise<void> = Promise.resolve();
    const deliver = (messages: IncomingMessage[]): Promise<void> => {
      const run = delivery.then(async () => {
        for (const m of messages) {
          const pending = options.onMessage(m);
          if (pending) await pending;
        }
      });
      delivery = run.catch(() => {});
      return run;
    };
    const readers = topics.map(
      (topic) =>
        new PartitionReader({
          consumer: new Consumer({
            ...this.#base('reply'),
            // Required by the client's options; this consumer never joins (or creates) a group.
            groupId: `dbbridge-reply-unused-${randomUUID()}`,
          }),
          topic,
          partition,
          position: startAt.get(topic) ?? 0n,
          maxWaitMs: this.#options.replyMaxWaitMs,
          maxBytesPerPartition: this.#options.replyMaxBytesPerPartition,
          backoffMs: this.#options.replyErrorBackoffMs,
          logger: this.#logger,
          deliver,
        }),
    );
    const close = async () => {
      this.#closers.delete(close);
      await Promise.all(readers.map((r) => r.close()));
    };
    this.#closers.add(close);
    for (const reader of readers) reader.start();
    return {
      partition,
      get assigned() {
        return readers.every((r) => r.healthy);
      },
      close,
    };
  }

  async openGroupConsumer(options: GroupConsumerOptions): Promise<GroupConsumer> {
    const o = this.#options;
    const consumer = new Consumer({
      ...this.#base('group'),
      groupId: options.groupId,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      autocommit: false,
      minBytes: 1,
      maxWaitTime: o.groupMaxWaitMs,
    });
    const group = new GroupReader(consumer, options, o.groupMaxBuffered, this.#logger);
    try {
      await group.start(o);
    } catch (error) {
      await consumer.close(true).catch(() => {});
      throw wrap('group consumer start')(error);
    }
    const close = async () => {
      this.#closers.delete(close);
      await group.close();
    };
    this.#closers.add(close);
    return {
      commit: async (offsets) => {
        if (offsets.length === 0) return;
        try {
          await group.commit(offsets);
        } catch (error) {
          throw wrap('offset commit')(error);
        }
      },
      pause: () => group.pause(),
      close,
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#closers].map((c) => c().catch(() => {})));
    await Promise.all([...this.#producers].map((p) => p.close().catch(() => {})));
    this.#closers.clear();
    this.#producers.clear();
    await this.#admin?.close().catch(() => {});
    this.#admin = undefined;
  }
}

function toProduce({ topic, message }: Queued): MessageToProduce {
  const out: MessageToProduce = { topic, value: Buffer.from(message.value) };
  if (message.key != null) out.key = Buffer.from(message.key);
  if (message.partition !== undefined) out.partition = message.partition;
  if (message.headers !== undefined) {
    out.headers = new Map(Object.entries(message.headers).map(([k, v]) => [Buffer.from(k), Buffer.from(v)]));
  }
  return out;
}

interface PartitionReaderOptions {
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
class PartitionReader {
  readonly #o: PartitionReaderOptions;
  #position: bigint;
  #closed = false;
  #healthy = true;
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
        this.#healthy = false;
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

/**
 * Adapts platformatic's message stream (one message at a time, all partitions) to `onBatch` calls:
 * messages that arrive together are grouped per partition; a partition has at most one batch
 * handler running, and at most `partitionsConsumedConcurrently` partitions run at once. Fetching
 * pauses while too many messages wait for handlers.
 */
class GroupReader {
  readonly #consumer: Consumer;
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

  constructor(consumer: Consumer, options: GroupConsumerOptions, maxBuffered: number, logger: Logger) {
    this.#consumer = consumer;
    this.#options = options;
    this.#maxBuffered = maxBuffered;
    this.#logger = logger;
    this.#concurrency = Math.max(1, options.partitionsConsumedConcurrently ?? 4);
  }

  async start(o: Resolved): Promise<void> {
    const consumer = this.#consumer;
    consumer.on('consumer:group:join', ({ assignments }) => this.#onAssignment(assignments ?? []));
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
    stream.on('error', (error) =>
      this.#logger.error('group consumer stream failed', { error: describe(error) }),
    );
    await Promise.race([positioned, sleep(o.sessionTimeoutMs)]);
  }

  #onAssignment(assignments: readonly GroupAssignment[]): void {
    const next = new Set<string>();
    for (const a of assignments) for (const p of a.partitions) next.add(partitionKey(a.topic, p));
    const revoked = [...this.#owned].filter((k) => !next.has(k));
    this.#owned = next;
    for (const key of revoked) {
      this.#epochs.set(key, (this.#epochs.get(key) ?? 0) + 1);
      this.#next.delete(key);
      this.#buffered -= this.#queues.get(key)?.length ?? 0;
      this.#queues.delete(key);
    }
    if (revoked.length > 0) this.#options.onPartitionsRevoked?.(revoked.map(splitKey));
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
        isActive: () =>
          this.#running &&
          this.#consumer.isActive() &&
          this.#owned.has(key) &&
          (this.#epochs.get(key) ?? 0) === epoch,
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
    await Promise.allSettled([...this.#handlers]);
    await this.#commits;
    await this.#stream?.close().catch(() => {});
    await this.#consumer.close().catch(() => {});
  }
}
