import { randomUUID } from 'node:crypto';
import {
  Admin,
  Consumer,
  compatibilityPartitioner,
  ListOffsetTimestamps,
  type MessageToProduce,
  ProduceAcks,
  Producer,
} from '@platformatic/kafka';
import { TransportError } from '../errors.js';
import { type Logger, silentLogger } from '../logger.js';
import { BatchingPublisher, type Queued } from './batching-publisher.js';
import { platformaticSecurity } from './client-security.js';
import { connectFailed, transportError } from './connect-error.js';
import { GroupReader } from './platformatic-group-reader.js';
import { PartitionReader } from './platformatic-reply-reader.js';
import { describeSecurity, type KafkaSecurity } from './security.js';
import type {
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
  /** Group session timeout and heartbeat interval, ms. Defaults 8000 and 1000, as the kafkajs transport: a dead adapter's partitions move within about 8 s (brokers refuse less than `group.min.session.timeout.ms`, 6 s by default). */
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
  sessionTimeoutMs: 8000,
  heartbeatIntervalMs: 1000,
  groupMaxBuffered: 1024,
} as const;

/** The options with their defaults: what the transport's readers are configured with. */
export type PlatformaticSettings = Readonly<
  Required<Omit<PlatformaticTransportOptions, 'logger' | 'security'>>
>;
type Resolved = PlatformaticSettings;

/** The one boundary where library errors become `TransportError`s. */
function wrap(what: string) {
  return (error: unknown) => transportError(what, error);
}

function retryDelay(firstMs: number) {
  return (_client: unknown, _operation: string, attempt: number) =>
    Math.min(2000, firstMs * 2 ** Math.max(0, attempt - 1));
}

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
      acks: ProduceAcks.ALL, // for every publisher, idempotent or not (see `Publisher`)
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

  async endOffsets(
    topic: string,
  ): Promise<readonly { readonly partition: number; readonly offset: bigint }[]> {
    const admin = this.#requireAdmin();
    try {
      const metadata = await admin.metadata({ topics: [topic] });
      const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
      const listed = await admin.listOffsets({
        topics: [
          {
            name: topic,
            partitions: Array.from({ length: count }, (_, p) => ({
              partitionIndex: p,
              timestamp: ListOffsetTimestamps.LATEST,
            })),
          },
        ],
      });
      return (listed.find((t) => t.name === topic)?.partitions ?? []).map((x) => ({
        partition: x.partitionIndex,
        offset: x.offset,
      }));
    } catch (error) {
      throw wrap('end offsets request')(error);
    }
  }

  async partitionCount(topics: readonly string[]): Promise<number> {
    const admin = this.#requireAdmin();
    try {
      const metadata = await admin.metadata({ topics: [...topics], forceUpdate: true });
      return Math.min(...topics.map((t) => metadata.topics.get(t)?.partitionsCount ?? 0));
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
            // The reader retries on its own, forever, with a pause: the client's retries here would
            // only hide an outage (~20 s at the default) from the calls that should fail fast.
            retries: 1,
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
    const newConsumer = (groupInstanceId: string | undefined) =>
      new Consumer({
        ...this.#base('group'),
        groupId: options.groupId,
        // Static membership: a restarted adapter with the same id takes its partitions back at once.
        ...(groupInstanceId === undefined ? {} : { groupInstanceId }),
        sessionTimeout: o.sessionTimeoutMs,
        heartbeatInterval: o.heartbeatIntervalMs,
        // Cooperative sticky (KIP-429): a rebalance moves only the partitions the balance needs
        // moved, and members keep serving the rest meanwhile. Round-robin second, so that a member of
        // an older version, which announces only that one, can still join (the group then uses it).
        protocols: [
          { name: 'cooperative-sticky', version: 3 },
          { name: 'roundrobin', version: 1 },
        ],
        autocommit: false,
        minBytes: 1,
        maxWaitTime: o.groupMaxWaitMs,
      });
    const group = new GroupReader(newConsumer, options, o.groupMaxBuffered, this.#logger);
    try {
      await group.start(o);
    } catch (error) {
      await group.close().catch(() => {});
      throw wrap('group consumer start')(error);
    }
    const close = async () => {
      this.#closers.delete(close);
      await group.close();
    };
    this.#closers.add(close);
    return {
      get assignedPartitions() {
        return group.assignedPartitions;
      },
      committed: async (partitions) => {
        if (partitions.length === 0) return [];
        try {
          return await group.committed(partitions);
        } catch (error) {
          throw wrap('committed offsets request')(error);
        }
      },
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
