import type { Admin } from 'kafkajs';
import type { TopicNames } from '../events/topics.js';

export interface TopicLayout {
  /** Partitions of the request topic: the unit of parallelism between adapter processes. Default 12. */
  readonly requestPartitions?: number;
  /** Partitions of each reply topic: each client reads one of them. Default 24. */
  readonly replyPartitions?: number;
  /** Default 1 (the local stack); 3 on a real cluster. */
  readonly replicationFactor?: number;
  /** `min.insync.replicas` of the topics (with `acks=all`, writes need this many replicas). Default: the broker's. */
  readonly minInsyncReplicas?: number;
}

/**
 * Creates the topics if they are missing (request, completed, failed, and the dead-letter topic with
 * one partition: it carries little, and its messages are keyed by their source partition) and waits until the broker reports their leaders.
 * Existing topics are left as they are (their partition count is not changed).
 */
export async function ensureTopics(
  admin: Admin,
  topics: TopicNames,
  layout: TopicLayout = {},
): Promise<void> {
  const requestPartitions = layout.requestPartitions ?? 12;
  const replyPartitions = layout.replyPartitions ?? 24;
  const replicationFactor = layout.replicationFactor ?? 1;
  const existing = new Set(await admin.listTopics());
  const wanted = [
    // The broker's clock stamps requests, so the adapter can place a deadline without trusting the
    // client's clock (see `onOwnClock`).
    { topic: topics.requested, numPartitions: requestPartitions, logAppendTime: true },
    { topic: topics.completed, numPartitions: replyPartitions, logAppendTime: false },
    { topic: topics.failed, numPartitions: replyPartitions, logAppendTime: false },
    { topic: topics.deadLettered, numPartitions: 1, logAppendTime: false },
  ].filter((t) => !existing.has(t.topic));
  if (wanted.length === 0) return;
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: wanted.map(({ topic, numPartitions, logAppendTime }) => ({
        topic,
        numPartitions,
        replicationFactor,
        configEntries: [
          ...(logAppendTime ? [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] : []),
          ...(layout.minInsyncReplicas === undefined
            ? []
            : [{ name: 'min.insync.replicas', value: String(layout.minInsyncReplicas) }]),
        ],
      })),
    });
  } catch (error) {
    // Another process may have created them between listTopics and createTopics. On a cluster, the
    // broker asked for the leaders may not know the new topics yet: waited for below.
    const type = (error as { type?: string }).type;
    if (
      type !== 'TOPIC_ALREADY_EXISTS' &&
      type !== 'UNKNOWN_TOPIC_OR_PARTITION' &&
      type !== 'LEADER_NOT_AVAILABLE'
    )
      throw error;
  }
  await waitForLeaders(admin, [topics.requested, topics.completed, topics.failed, topics.deadLettered]);
}

/** Polls the metadata (any broker may answer) until every partition of `topics` has a leader, 30 s at most. */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics });
      if (metadata.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)))
        return;
    } catch (error) {
      const type = (error as { type?: string }).type;
      if ((type !== 'UNKNOWN_TOPIC_OR_PARTITION' && type !== 'LEADER_NOT_AVAILABLE') || Date.now() > deadline)
        throw error;
    }
    if (Date.now() > deadline)
      throw new Error(`topics ${topics.join(', ')} have no leaders after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
