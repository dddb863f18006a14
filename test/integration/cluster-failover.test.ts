/**
 * The deployment users grow into (issue 8 §5): a three-broker KRaft cluster, the three topics with
 * replication factor 3 and `min.insync.replicas` 2, producers with `acks=all`. Mid-load, the broker
 * that leads the most request partitions is SIGKILLed: no acknowledged write is lost, none is applied
 * twice, every call ends with one outcome within its bound, and the service resumes by itself; the
 * recovery time is printed. On a cluster of the test's own (the shared stack is not touched), with
 * the transport under test (`DBBRIDGE_TRANSPORT`).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicNames } from '../../src/events/topics.js';
import { DatabaseEventClient } from '../../src/index.js';
import { ensureTopics } from '../../src/transport/kafka-admin.js';
import {
  kafkaAdmin,
  type RunningAdapter,
  stack,
  startAdapter,
  transportKind,
  uniqueEnv,
} from '../helpers/bridge.js';
import { callBoundMs, recoveryMs, startLoad, summarize } from '../helpers/load.js';
import { startThrowawayKafkaCluster, type ThrowawayKafkaCluster } from '../helpers/stack.js';

const env = uniqueEnv('cluster');
const topics = topicNames(env);
const TABLE = `cluster_rows_${process.pid}_${Date.now().toString(36)}`;
const RETRY = { initialRetryTime: 200, multiplier: 2, maxRetryTime: 2000, jitter: 0.2 };
const TIMEOUT_MS = 5000;
const MAX_RETRIES = 5;
const seen: string[] = [];
const note = (level: string) => (message: string, fields?: Record<string, unknown>) => {
  seen.push(
    `${new Date().toISOString()} ${level} ${message} ${JSON.stringify(fields ?? {}, (_, v) => (v instanceof Error ? v.message : v))}`,
  );
};
const recorder = { debug() {}, info() {}, warn: note('warn'), error: note('error') };

let cluster: ThrowawayKafkaCluster;
let adapter: RunningAdapter | undefined;
let client: DatabaseEventClient;
let owner: pg.Pool;

beforeAll(async () => {
  owner = new pg.Pool({ connectionString: stack().databaseOwnerUrl, max: 2 });
  await owner.query(`CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, marker text NOT NULL)`);
  cluster = await startThrowawayKafkaCluster(`cluster-${transportKind()}`, 3);
  const admin = kafkaAdmin(cluster.bootstrapServers);
  await admin.connect();
  try {
    // As `stack:up -- --brokers 3` creates them.
    await ensureTopics(admin, topics, {
      requestPartitions: 6,
      replyPartitions: 6,
      replicationFactor: 3,
      minInsyncReplicas: 2,
    });
  } finally {
    await admin.disconnect();
  }
  adapter = await startAdapter(env, {
    name: 'cluster',
    bootstrapServers: cluster.bootstrapServers,
    logger: recorder,
    adapter: { poolMax: 8 },
  });
  client = new DatabaseEventClient({
    bootstrapServers: cluster.bootstrapServers,
    topicEnv: env,
    requestTimeoutMs: TIMEOUT_MS,
    maxRetries: MAX_RETRIES,
    retry: RETRY,
    // The client's breaker is §3's subject: here every call shows what the cluster itself does.
    enableCircuitBreaker: false,
  });
  await client.start();
}, 180_000);

afterAll(async () => {
  await client?.stop();
  await adapter?.close();
  await cluster?.destroy();
  await owner?.query(`DROP TABLE IF EXISTS ${TABLE}`).catch(() => {});
  await owner?.end();
}, 120_000);

/** Partition -> leader node of a topic, and the replicas and ISR sizes of each partition. */
async function layout(topic: string) {
  const admin = kafkaAdmin(cluster.bootstrapServers);
  await admin.connect();
  try {
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    return (metadata.topics[0]?.partitions ?? []).map((p) => ({
      partition: p.partitionId,
      leader: p.leader,
      replicas: p.replicas.length,
      isr: p.isr.length,
    }));
  } finally {
    await admin.disconnect();
  }
}

describe('three-broker cluster', () => {
  it('the topics have three replicas and min.insync.replicas 2', async () => {
    for (const topic of [topics.requested, topics.completed, topics.failed]) {
      const partitions = await layout(topic);
      expect(partitions.length).toBeGreaterThan(0);
      for (const p of partitions) expect(p).toMatchObject({ replicas: 3, isr: 3 });
    }
    const admin = kafkaAdmin(cluster.bootstrapServers);
    await admin.connect();
    try {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [topics.requested, topics.completed, topics.failed].map((name) => ({
          type: 2, // TOPIC
          name,
          configNames: ['min.insync.replicas'],
        })),
      });
      expect(resources.map((r) => r.configEntries[0]?.configValue)).toEqual(['2', '2', '2']);
    } finally {
      await admin.disconnect();
    }
  });

  it('SIGKILL of the leader of the request partitions mid-load: 0 acknowledged writes lost, 0 duplicates', async () => {
    const load = startLoad({
      prefix: env,
      concurrency: 8,
      write: (marker) => client.execute(`INSERT INTO ${TABLE} (marker) VALUES ($1)`, [marker]),
    });
    let calls: Awaited<ReturnType<typeof load.stop>> = [];
    let killedAt = 0;
    let victim = 0;
    let led: number[] = [];
    try {
      await load.waitForSuccesses(300, 60_000);
      // The broker that leads the most request partitions (ties: the lowest id).
      const before = await layout(topics.requested);
      const byLeader = new Map<number, number[]>();
      for (const p of before) byLeader.set(p.leader, [...(byLeader.get(p.leader) ?? []), p.partition]);
      [victim, led] = [...byLeader.entries()].sort((a, b) => b[1].length - a[1].length || a[0] - b[0])[0] as [
        number,
        number[],
      ];
      killedAt = Date.now();
      await cluster.kill(victim);
      // The service resumes by itself: 300 more writes succeed, started after the kill.
      await load.waitForSuccesses(300, 120_000, killedAt);
    } finally {
      calls = await load.stop();
    }
    const after = await layout(topics.requested);
    expect(
      after.every((p) => p.leader !== victim && p.leader >= 0),
      JSON.stringify(after),
    ).toBe(true);

    // Every call ended with one outcome, a coded one, within the longest its retries allow.
    const bound = callBoundMs({ timeoutMs: TIMEOUT_MS, maxRetries: MAX_RETRIES, ...RETRY, slackMs: 2000 });
    const summary = summarize(calls);
    expect(Object.keys(summary.outcomes).filter((o) => o.startsWith('UNCODED'))).toEqual([]);
    expect(summary.slowestMs).toBeLessThanOrEqual(bound);

    const rows = await owner.query<{ marker: string; n: number }>(
      `SELECT marker, count(*)::int AS n FROM ${TABLE} GROUP BY marker`,
    );
    const stored = new Map(rows.rows.map((r) => [r.marker, r.n]));
    const acknowledged = calls.filter((c) => c.outcome === 'ok').map((c) => c.marker);
    const lost = acknowledged.filter((m) => stored.get(m) !== 1);
    const duplicates = rows.rows.filter((r) => r.n > 1).map((r) => r.marker);
    const known = new Set(calls.map((c) => c.marker));
    const strangers = rows.rows.filter((r) => !known.has(r.marker)).map((r) => r.marker);
    const baseline = calls.filter((c) => c.endedAt < killedAt).map((c) => c.endedAt - c.startedAt);
    const slowMs = Math.max(1000, 3 * Math.max(...baseline));
    const figures = {
      transport: transportKind(),
      killed: `node ${victim} (leader of request partitions ${led.join(',')})`,
      writes: calls.length,
      acknowledged: acknowledged.length,
      outcomes: summary.outcomes,
      messages: summary.messages,
      lost: lost.length,
      duplicates: duplicates.length,
      longestGapMs: summary.longestGapMs,
      recoveryMs: recoveryMs(calls, killedAt, slowMs),
      slowestCallMs: summary.slowestMs,
    };
    // The figures of the README's reliability section.
    process.stdout.write(`cluster failover: ${JSON.stringify(figures)}\n`);
    expect(lost, `adapter warnings:\n${seen.slice(-20).join('\n')}`).toEqual([]);
    expect(duplicates).toEqual([]);
    expect(strangers).toEqual([]);
  }, 240_000);
});
