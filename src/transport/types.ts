/**
 * The transport seen by the client and the adapter: publish messages, read one reply partition,
 * consume a topic in a group. Kafka-specific code lives behind it (today: kafkajs).
 */

export interface OutgoingMessage {
  readonly key?: string | null;
  readonly value: string;
  /** Explicit partition; otherwise the key chooses one. */
  readonly partition?: number;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface IncomingMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /**
   * The record's timestamp, ms since the epoch: when the broker appended it on topics with
   * `message.timestamp.type=LogAppendTime` (the request topic), else the producer's clock.
   */
  readonly timestamp?: number;
  /** Kafka headers as text (e.g. W3C `traceparent`); absent when the message has none. */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Publishes messages; sends issued within the same tick share one produce request. Every publisher
 * of both transports produces with `acks=all` (kafkajs `acks: -1`, platformatic `ProduceAcks.ALL`),
 * idempotent or not: a publish resolves only once every in-sync replica has the message, so on a
 * cluster with `min.insync.replicas` 2 an acknowledged request or reply survives the loss of a broker.
 */
export interface Publisher {
  publish(topic: string, message: OutgoingMessage): Promise<void>;
  close(): Promise<void>;
}

export interface PublisherOptions {
  /** Idempotent producer (no duplicates from its own retries). Default true. Acks are `all` either way. */
  readonly idempotent?: boolean;
}

/** Reads one partition of the reply topics, from the end of the log at the time it was opened. */
export interface ReplyChannel {
  readonly partition: number;
  /** True while the broker has the partition assigned to this reader. */
  readonly assigned: boolean;
  close(): Promise<void>;
}

export interface ReplyChannelOptions {
  readonly topics: readonly string[];
  /** Partition to read; default: a random one. */
  readonly partition?: number;
  /** May return a promise: the reader fetches no further messages until it settles (backpressure). */
  readonly onMessage: (message: IncomingMessage) => void | Promise<void>;
}

/** One fetched batch of one partition. The handler resolves when it has taken the messages on. */
export interface GroupBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly IncomingMessage[];
  /** Keeps the group membership alive during long work. */
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping or the partition was taken away. */
  isActive(): boolean;
}

export interface GroupConsumerOptions {
  readonly groupId: string;
  readonly topic: string;
  /** More topics consumed in the same group (e.g. per-service request topics). Default none. */
  readonly extraTopics?: readonly string[];
  readonly onBatch: (batch: GroupBatch) => Promise<void>;
  /** Partitions handled at once. Default 4. */
  readonly partitionsConsumedConcurrently?: number;
  readonly onPartitionsRevoked?: (partitions: readonly { topic: string; partition: number }[]) => void;
  /** Partitions this member was given that it did not hold before (after each join of the group). */
  readonly onPartitionsAssigned?: (partitions: readonly { topic: string; partition: number }[]) => void;
  /**
   * Stable id of this member across restarts (Kafka's `group.instance.id`, static membership): a
   * restarted member with the same id takes its partitions back without waiting for the old one's
   * session to expire. Must be unique among live members. `@platformatic/kafka` joins as a static
   * member; kafkajs has no static membership: its member's client id carries the id, and the member a
   * crashed predecessor left is removed before joining (`kafkajs-rejoin.ts`). Default: none.
   */
  readonly groupInstanceId?: string;
}

export interface GroupConsumer {
  /** How many partitions this member holds now (0 before it joined, or with more members than partitions). */
  readonly assignedPartitions: number;
  /** The group's committed offsets (the next offset to read) of these partitions; -1n where there is none. */
  committed?(
    partitions: readonly { topic: string; partition: number }[],
  ): Promise<readonly { topic: string; partition: number; offset: bigint }[]>;
  /** Commits offsets (the next offset to read) of partitions this member owns. */
  commit(offsets: readonly { topic: string; partition: number; offset: string }[]): Promise<void>;
  /** Stops fetching; resolves once the current batch handlers returned. */
  pause(): void;
  close(): Promise<void>;
}

export interface Transport {
  connect(): Promise<void>;
  publisher(options?: PublisherOptions): Publisher;
  openReplyChannel(options: ReplyChannelOptions): Promise<ReplyChannel>;
  openGroupConsumer(options: GroupConsumerOptions): Promise<GroupConsumer>;
  /** A metadata round trip to the cluster; rejects when the brokers do not answer. */
  ping(topics?: readonly string[]): Promise<void>;
  /** Partitions that every one of the topics has (the smallest count), from fresh metadata. */
  partitionCount(topics: readonly string[]): Promise<number>;
  /** The end offset (the next offset to be written) of every partition of `topic`. */
  endOffsets(topic: string): Promise<readonly { readonly partition: number; readonly offset: bigint }[]>;
  close(): Promise<void>;
}
