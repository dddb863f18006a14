import {
  type Admin,
  AssignerProtocol,
  type Consumer,
  Kafka,
  type KafkaConfig,
  logLevel as KafkaLogLevel,
  type LogEntry,
  type PartitionAssigner,
  PartitionAssigners,
  Partitioners,
  type Producer,
  type TopicMessages,
} from 'kafkajs';
import { v4 as uuidv4 } from 'uuid';
import { TransportError } from '../errors.js';
import { type Logger, silentLogger } from '../logger.js';
import { BatchingPublisher, type Queued } from './batching-publisher.js';
import { kafkajsSecurity } from './client-security.js';
import { connectFailed, transportError } from './connect-error.js';
import { textHeaders } from './headers.js';
import { removePredecessors } from './kafkajs-rejoin.js';
import { partitionKey, splitKey } from './partition-key.js';
import { describeSecurity, type KafkaSecurity } from './security.js';
import { stickyAssigner } from './sticky-assigner.js';
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

export interface KafkaTransportOptions {
  /** Broker addresses, e.g. `['127.0.0.1:9092']`. */
  readonly brokers: readonly string[];
  /** Kafka client id. Default `dbbridge`. */
  readonly clientId?: string;
  readonly logger?: Logger;
  /** TLS and SASL to the brokers (see `KafkaSecurity`). Default: none (PLAINTEXT). */
  readonly security?: KafkaSecurity;
  /** TCP connect timeout, ms. Default 3000. */
  readonly connectionTimeoutMs?: number;
  /** Broker request timeout, ms. Default 30000. */
  readonly requestTimeoutMs?: number;
  /** kafkajs retry options for connections and requests. Default: 5 retries from 100 ms. */
  readonly retry?: KafkaConfig['retry'];
  /** Longest time a fetch waits on the broker for new messages, ms. Default 100 for reply channels, 500 for groups. */
  readonly replyMaxWaitMs?: number;
  readonly groupMaxWaitMs?: number;
  /**
   * Group session timeout and heartbeat interval (adapter group and reply readers), ms. Defaults
   * 8000 and 1000: a dead adapter's partitions move to the others within about 8 s, and after a
   * broker restart kafkajs rejoins as a new member, and the group waits for the old member's session
   * to expire before it assigns partitions again (30 s at 30000). Brokers refuse less than
   * `group.min.session.timeout.ms` (6 s by default).
   */
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
}

const DEFAULTS = {
  clientId: 'dbbridge',
  connectionTimeoutMs: 3000,
  requestTimeoutMs: 30_000,
  replyMaxWaitMs: 100,
  groupMaxWaitMs: 500,
  sessionTimeoutMs: 8000,
  heartbeatIntervalMs: 1000,
} as const;

function kafkaLogCreator(logger: Logger) {
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      const { message, ...fields } = log;
      // kafkajs warns about bounded retries on idempotent producers; dbbridge bounds them on purpose.
      if (message.startsWith('Limiting retries for the idempotent producer')) return;
      const entry = { namespace, ...fields };
      if (level === KafkaLogLevel.ERROR) logger.error(message, entry);
      else if (level === KafkaLogLevel.WARN) logger.warn(message, entry);
      else if (level === KafkaLogLevel.INFO) logger.debug(message, entry);
    };
}

/** A group member that takes exactly one partition of every subscribed topic. */
function pinnedAssigner(partition: number): PartitionAssigner {
  const name = 'DbbridgePinnedPartition';
  return () => ({
    name,
    version: 1,
    async assign({ members, topics }) {
      return members.map((member, i) => ({
        memberId: member.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: i === 0 ? Object.fromEntries(topics.map((t) => [t, [partition]])) : {},
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }),
      };
    },
  });
}

function wrap(what: string) {
  return (error: unknown) => transportError(what, error);
}

/** The kafkajs implementation of the transport. */
export class KafkaTransport implements Transport {
  readonly #options: Readonly<Required<Omit<KafkaTransportOptions, 'retry' | 'logger' | 'security'>>> &
    KafkaTransportOptions;
  readonly #kafka: Kafka;
  /** The settings `#kafka` was made with, for a group consumer with a client id of its own. */
  readonly #kafkaConfig: KafkaConfig;
  readonly #logger: Logger;
  #admin: Admin | undefined;
  readonly #producers = new Set<Producer>();
  readonly #consumers = new Set<Consumer>();

  constructor(options: KafkaTransportOptions) {
    if (options.brokers.length === 0)
      throw new TransportError('bootstrap_servers must be provided', { retryable: false });
    this.#options = Object.freeze({ ...DEFAULTS, ...options });
    this.#logger = options.logger ?? silentLogger;
    this.#kafkaConfig = {
      clientId: this.#options.clientId,
      brokers: [...options.brokers],
      connectionTimeout: this.#options.connectionTimeoutMs,
      requestTimeout: this.#options.requestTimeoutMs,
      retry: options.retry ?? { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
      logLevel: KafkaLogLevel.INFO,
      logCreator: kafkaLogCreator(this.#logger),
      ...kafkajsSecurity(options.security),
    };
    this.#kafka = new Kafka(this.#kafkaConfig);
  }

  async connect(): Promise<void> {
    if (this.#admin) return;
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
    } catch (error) {
      await admin.disconnect().catch(() => {});
      throw connectFailed(this.#options.brokers, error, describeSecurity(this.#options.security));
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
    const producer = this.#kafka.producer({
      // kafkajs 2's default, named so that it does not warn that its default changed.
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent,
      allowAutoTopicCreation: false,
      retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 2000 },
      ...(idempotent ? { maxInFlightRequests: 1 } : {}),
    });
    this.#producers.add(producer);
    let connecting: Promise<void> | undefined;
    const connectOnce = () => {
      connecting ??= producer.connect().catch((error) => {
        connecting = undefined;
        throw error;
      });
      return connecting;
    };
    const publisher = new BatchingPublisher(
      // acks=all (-1) for every publisher, idempotent or not (see `Publisher`).
      (batch) => producer.sendBatch({ acks: -1, topicMessages: groupByTopic(batch) }).then(() => {}),
      wrap('produce'),
    );
    return {
      publish: async (topic, message) => {
        await connectOnce().catch((e) => Promise.reject(wrap('producer connect')(e)));
        return publisher.publish(topic, message);
      },
      close: async () => {
        await publisher.close();
        this.#producers.delete(producer);
        await producer.disconnect();
      },
    };
  }

  async ping(topics: readonly string[] = []): Promise<void> {
    const admin = this.#requireAdmin();
    try {
      if (topics.length > 0) await admin.fetchTopicMetadata({ topics: [...topics] });
      else await admin.describeCluster();
    } catch (error) {
      throw wrap('metadata request')(error);
    }
  }

  async endOffsets(
    topic: string,
  ): Promise<readonly { readonly partition: number; readonly offset: bigint }[]> {
    const admin = this.#requireAdmin();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.map((o) => ({ partition: o.partition, offset: BigInt(o.high) }));
    } catch (error) {
      throw wrap('end offsets request')(error);
    }
  }

  async partitionCount(topics: readonly string[]): Promise<number> {
    const admin = this.#requireAdmin();
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [...topics] });
      return Math.min(...metadata.topics.map((t) => t.partitions.length));
    } catch (error) {
      throw wrap('metadata request')(error);
    }
  }

  /**
   * A private consumer group (one member) pinned to one partition of the reply topics. The end of
   * each topic is read before the group starts, and the reader is moved there as soon as it joins,
   * before this resolves: no old reply is read, and no reply produced after this call is missed.
   */
  async openReplyChannel(options: ReplyChannelOptions): Promise<ReplyChannel> {
    const admin = this.#requireAdmin();
    const topics = [...options.topics];
    const groupId = `dbbridge-reply-${this.#options.clientId}-${uuidv4()}`;
    let partition: number;
    const startAt = new Map<string, string>();
    try {
      const metadata = await retryRetriable(() => admin.fetchTopicMetadata({ topics }));
      const counts = metadata.topics.map((t) => t.partitions.length);
      const available = Math.min(...counts);
      if (!(available > 0)) throw new TransportError(`reply topics ${topics.join(', ')} have no partitions`);
      partition = options.partition ?? Math.floor(Math.random() * available);
      if (partition >= available) {
        throw new TransportError(
          `reply partition ${partition} does not exist (reply topics have ${available})`,
          {
            retryable: false,
          },
        );
      }
      for (const topic of topics) {
        const offsets = await retryRetriable(() => admin.fetchTopicOffsets(topic));
        startAt.set(topic, offsets.find((o) => o.partition === partition)?.high ?? '0');
      }
    } catch (error) {
      throw wrap('reply channel set-up')(error);
    }

    const consumer = this.#kafka.consumer({
      groupId,
      partitionAssigners: [pinnedAssigner(partition)],
      maxWaitTimeInMs: this.#options.replyMaxWaitMs,
      minBytes: 1,
      sessionTimeout: this.#options.sessionTimeoutMs,
      heartbeatInterval: this.#options.heartbeatIntervalMs,
      allowAutoTopicCreation: false,
    });
    this.#consumers.add(consumer);
    let assigned = false;
    /** Next offset to read per topic: starts at the end of the log, then follows what was read. Nothing is committed. */
    const position = new Map(startAt);
    const joined = new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        const mine = topics.every((t) => payload.memberAssignment[t]?.includes(partition));
        assigned = mine;
        if (!mine) {
          reject(new TransportError(`reply partition ${partition} was not assigned to this reader`));
          return;
        }
        // Every join (the first, and any after a rebalance) resumes exactly after the last reply read.
        for (const topic of topics) consumer.seek({ topic, partition, offset: position.get(topic) ?? '0' });
        resolve();
      });
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        assigned = false;
        reject(wrap('reply consumer')(payload.error));
      });
    });
    consumer.on(consumer.events.STOP, () => {
      assigned = false;
    });
    const close = async () => {
      assigned = false;
      this.#consumers.delete(consumer);
      await consumer.disconnect().catch(() => {});
      await admin.deleteGroups([groupId]).catch(() => {});
    };
    try {
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: false });
      await consumer.run({
        // Committing would put an offset commit round trip after every fetch, before the next one.
        autoCommit: false,
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            const pending = options.onMessage(toIncoming(batch.topic, batch.partition, m));
            if (pending) await pending;
            position.set(batch.topic, (BigInt(m.offset) + 1n).toString());
          }
        },
      });
      await joined;
    } catch (error) {
      await close();
      throw wrap('reply consumer start')(error);
    }
    return {
      partition,
      get assigned() {
        return assigned;
      },
      close,
    };
  }

  async openGroupConsumer(options: GroupConsumerOptions): Promise<GroupConsumer> {
    // No static membership in kafkajs: the instance id goes into the member's client id, and the
    // member a crashed predecessor left behind is removed before joining (see kafkajs-rejoin.ts).
    let kafka = this.#kafka;
    if (options.groupInstanceId !== undefined) {
      const memberClientId = `${this.#options.clientId}.${options.groupInstanceId}`;
      kafka = new Kafka({ ...this.#kafkaConfig, clientId: memberClientId });
      await removePredecessors({
        brokers: this.#options.brokers,
        security: this.#options.security,
        groupId: options.groupId,
        memberClientId,
        logger: this.#logger,
      });
    }
    let owned = new Set<string>();
    const consumer = kafka.consumer({
      groupId: options.groupId,
      // Sticky: a rebalance moves only the partitions the balance needs moved (round-robin kept
      // second, so a member of an older version can still join the group).
      partitionAssigners: [
        stickyAssigner(() => {
          const held: Record<string, number[]> = {};
          for (const { topic, partition } of [...owned].map(splitKey))
            held[topic] = [...(held[topic] ?? []), partition];
          return held;
        }),
        PartitionAssigners.roundRobin,
      ],
      maxWaitTimeInMs: this.#options.groupMaxWaitMs,
      minBytes: 1,
      sessionTimeout: this.#options.sessionTimeoutMs,
      heartbeatInterval: this.#options.heartbeatIntervalMs,
      allowAutoTopicCreation: false,
    });
    this.#consumers.add(consumer);
    let running = true;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const next = new Set<string>();
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        for (const p of partitions) next.add(partitionKey(topic, p));
      }
      const revoked = [...owned].filter((k) => !next.has(k)).map(splitKey);
      const added = [...next].filter((k) => !owned.has(k)).map(splitKey);
      owned = next;
      if (revoked.length > 0) options.onPartitionsRevoked?.(revoked);
      if (added.length > 0) options.onPartitionsAssigned?.(added);
    });
    try {
      await consumer.connect();
      await consumer.subscribe({
        topics: [options.topic, ...(options.extraTopics ?? [])],
        fromBeginning: false,
      });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 4,
        eachBatch: async ({ batch, heartbeat, isRunning, isStale }) => {
          await options.onBatch({
            topic: batch.topic,
            partition: batch.partition,
            messages: batch.messages.map((m) => toIncoming(batch.topic, batch.partition, m)),
            heartbeat,
            isActive: () => running && isRunning() && !isStale(),
          });
        },
      });
    } catch (error) {
      this.#consumers.delete(consumer);
      await consumer.disconnect().catch(() => {});
      throw wrap('group consumer start')(error);
    }
    return {
      get assignedPartitions() {
        return owned.size;
      },
      committed: async (partitions) => {
        if (partitions.length === 0) return [];
        const admin = this.#requireAdmin();
        try {
          const topics = [...new Set(partitions.map((p) => p.topic))];
          const listed = await admin.fetchOffsets({ groupId: options.groupId, topics });
          return partitions.map((p) => {
            const found = listed
              .find((t) => t.topic === p.topic)
              ?.partitions.find((x) => x.partition === p.partition)?.offset;
            return { ...p, offset: found === undefined ? -1n : BigInt(found) };
          });
        } catch (error) {
          throw wrap('committed offsets request')(error);
        }
      },
      commit: async (offsets) => {
        if (offsets.length === 0) return;
        try {
          await consumer.commitOffsets(offsets.map((o) => ({ ...o })));
        } catch (error) {
          throw wrap('offset commit')(error);
        }
      },
      pause: () => {
        running = false;
        try {
          consumer.pause([options.topic, ...(options.extraTopics ?? [])].map((topic) => ({ topic })));
        } catch {
          // Not running (crashed with the broker down, restarting): there is nothing to pause, and
          // `running` already keeps batches from being taken on.
        }
      },
      close: async () => {
        running = false;
        this.#consumers.delete(consumer);
        await consumer.disconnect().catch(() => {});
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#consumers].map((c) => c.disconnect().catch(() => {})));
    await Promise.all([...this.#producers].map((p) => p.disconnect().catch(() => {})));
    this.#consumers.clear();
    this.#producers.clear();
    await this.#admin?.disconnect().catch(() => {});
    this.#admin = undefined;
  }
}

/**
 * Retries a broker call that failed with a retriable Kafka error (a topic created a moment ago may
 * still answer NOT_LEADER_FOR_PARTITION, which kafkajs's admin does not retry on its own).
 */
async function retryRetriable<T>(call: () => Promise<T>, attempts = 10): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= attempts || (error as { retriable?: boolean }).retriable !== true) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
    }
  }
}

function toIncoming(
  topic: string,
  partition: number,
  m: {
    offset: string;
    timestamp?: string;
    key: Buffer | null;
    value: Buffer | null;
    headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
  },
): IncomingMessage {
  const headers = textHeaders(Object.entries(m.headers ?? {}));
  const timestamp = m.timestamp === undefined ? Number.NaN : Number(m.timestamp);
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key,
    value: m.value,
    ...(Number.isFinite(timestamp) ? { timestamp } : {}),
    ...(headers ? { headers } : {}),
  };
}

function groupByTopic(batch: readonly Queued[]): TopicMessages[] {
  const byTopic = new Map<string, TopicMessages>();
  for (const { topic, message } of batch) {
    let entry = byTopic.get(topic);
    if (entry === undefined) {
      entry = { topic, messages: [] };
      byTopic.set(topic, entry);
    }
    entry.messages.push({
      key: message.key ?? null,
      value: message.value,
      ...(message.partition === undefined ? {} : { partition: message.partition }),
      ...(message.headers === undefined ? {} : { headers: { ...message.headers } }),
    });
  }
  return [...byTopic.values()];
}
