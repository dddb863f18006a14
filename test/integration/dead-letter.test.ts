/**
 * The dead-letter topic (issue 8 §4), on the real broker with the transport under test: a message
 * that cannot be decoded, and one that carries no correlation id, land on
 * `{env}.omninode-bridge.database.query-dead-lettered.v1` with the reason, their exact bytes and
 * headers and where they were read; the partition keeps moving (the next request on it is
 * answered), the counter on /metrics says so, and a request that can be answered is not dead-lettered.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterMetrics } from '../../src/adapter/metrics.js';
import { DatabaseEventClient } from '../../src/client/index.js';
import { topicNames } from '../../src/events/topics.js';
import { type Bridge, kafkaAdmin, stack, startAdapter, startBridge, uniqueEnv } from '../helpers/bridge.js';
import { rawKafka } from '../helpers/raw-kafka.js';

let bridge: Bridge;
let metrics: AdapterMetrics;
let raw: Awaited<ReturnType<typeof rawKafka>>;
let collected: Awaited<ReturnType<Awaited<ReturnType<typeof rawKafka>>['collect']>>;

beforeAll(async () => {
  bridge = await startBridge('dead-letter', { requestPartitions: 3 });
  metrics = new AdapterMetrics(bridge.adapter);
  raw = await rawKafka(`dead-letter-${process.pid}`);
  collected = await raw.collect([bridge.topics.deadLettered, bridge.topics.completed, bridge.topics.failed]);
});

afterAll(async () => {
  metrics?.close();
  await raw?.close();
  await bridge?.close();
});

function request(cid: string) {
  return JSON.stringify({
    event_id: randomUUID(),
    event_type: 'DATABASE_QUERY_REQUESTED',
    correlation_id: cid,
    timestamp: new Date().toISOString(),
    service: 'dead-letter-test',
    payload: { operation_type: 'SELECT', sql: 'SELECT 41 + 1 AS answer' },
  });
}

/** The next offset of a request partition (where the next message sent to it lands). */
async function nextOffset(partition: number): Promise<string> {
  const admin = kafkaAdmin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(bridge.topics.requested);
    return offsets.find((o) => o.partition === partition)?.high ?? '0';
  } finally {
    await admin.disconnect();
  }
}

/** The value of one sample of a counter in the exposition text, 0 when absent. */
async function sample(name: string, labels: string): Promise<number> {
  const line = (await metrics.metrics()).split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('dead-letter topic', () => {
  it('takes undecodable bytes with the reason, the exact bytes and headers, and where they were read', async () => {
    const partition = 1;
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x22, 0xc0]);
    const offset = await nextOffset(partition);
    await raw.send(bridge.topics.requested, bytes, {
      partition,
      key: 'undecodable-key',
      headers: { 'x-origin': 'dead-letter-test' },
    });
    const next = `after-undecodable-${randomUUID()}`;
    await raw.send(bridge.topics.requested, request(next), { partition, key: next });

    const letter = await collected.waitFor(
      (m) =>
        m.topic === bridge.topics.deadLettered && (m.value.source as { offset?: string }).offset === offset,
    );
    expect(letter.value).toMatchObject({
      event_type: 'DATABASE_QUERY_DEAD_LETTERED',
      reason: 'UNDECODABLE',
      answered: false,
      source: { topic: bridge.topics.requested, partition, offset },
      key_base64: Buffer.from('undecodable-key').toString('base64'),
      value_bytes: bytes.length,
      value_truncated: false,
      headers: { 'x-origin': 'dead-letter-test' },
    });
    expect(Buffer.from(String(letter.value.value_base64), 'base64')).toEqual(bytes);
    expect(String(letter.value.error_message)).toMatch(/not valid JSON/);

    // The partition kept moving: the request behind it on the same partition is answered.
    const reply = await collected.waitFor((m) => m.value.correlation_id === next);
    expect(reply.topic).toBe(bridge.topics.completed);
    expect((reply.value.payload as { rows: unknown }).rows).toEqual([{ answer: 42 }]);
    expect(await sample('dbbridge_dead_lettered_total', 'reason="UNDECODABLE",published="true"')).toBe(1);
  });

  it('takes a request without a correlation id, and the next request is answered', async () => {
    const partition = 2;
    const offset = await nextOffset(partition);
    const noId = JSON.parse(request('x')) as Record<string, unknown>;
    delete noId.correlation_id;
    const text = JSON.stringify(noId);
    await raw.send(bridge.topics.requested, text, { partition });
    const next = `after-no-id-${randomUUID()}`;
    await raw.send(bridge.topics.requested, request(next), { partition, key: next });

    const letter = await collected.waitFor(
      (m) =>
        m.topic === bridge.topics.deadLettered &&
        (m.value.source as { partition?: number }).partition === partition &&
        (m.value.source as { offset?: string }).offset === offset,
    );
    expect(letter.value).toMatchObject({
      reason: 'NO_CORRELATION_ID',
      answered: false,
      key_base64: null,
      value_bytes: Buffer.byteLength(text),
    });
    expect(letter.value).not.toHaveProperty('correlation_id');
    expect(Buffer.from(String(letter.value.value_base64), 'base64').toString('utf8')).toBe(text);
    expect(String(letter.value.error_message)).toMatch(/correlation_id/);

    const reply = await collected.waitFor((m) => m.value.correlation_id === next);
    expect((reply.value.payload as { rows: unknown }).rows).toEqual([{ answer: 42 }]);
    expect(await sample('dbbridge_dead_lettered_total', 'reason="NO_CORRELATION_ID",published="true"')).toBe(
      1,
    );
  });

  it('answers an invalid request that has a correlation id instead of dead-lettering it', async () => {
    const cid = `invalid-${randomUUID()}`;
    const invalid = { ...(JSON.parse(request(cid)) as Record<string, unknown>), payload: 'SELECT 1' };
    await raw.send(bridge.topics.requested, JSON.stringify(invalid), { key: cid });
    const reply = await collected.waitFor((m) => m.value.correlation_id === cid);
    expect(reply.topic).toBe(bridge.topics.failed);
    expect((reply.value.payload as { error_code: string }).error_code).toBe('VALIDATION_ERROR');
    // Exactly the two dead letters of the tests above: nothing for this one.
    const letters = collected.received.filter((m) => m.topic === bridge.topics.deadLettered);
    expect(letters.map((l) => l.value.reason)).toEqual(['UNDECODABLE', 'NO_CORRELATION_ID']);
    expect(bridge.adapter.stats.deadLettered).toBe(2);
  });
});

describe('without a dead-letter topic (a cluster set up before it existed)', () => {
  it('logs and skips the message, counts it as not published, and its partition keeps moving', async () => {
    const env = uniqueEnv('no-dlt');
    const topics = topicNames(env);
    const admin = kafkaAdmin();
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          { topic: topics.requested, numPartitions: 1 },
          { topic: topics.completed, numPartitions: 2 },
          { topic: topics.failed, numPartitions: 2 },
        ],
      });
    } finally {
      await admin.disconnect();
    }
    const warnings: string[] = [];
    const running = await startAdapter(env, {
      name: 'no-dlt',
      logger: {
        debug() {},
        info() {},
        warn: (m) => warnings.push(m),
        error: (m) => warnings.push(m),
      },
    });
    const noDltMetrics = new AdapterMetrics(running.adapter);
    const client = new DatabaseEventClient({
      bootstrapServers: stack().bootstrapServers,
      topicEnv: env,
      maxRetries: 0,
    });
    try {
      expect(warnings).toContain(
        'dead-letter topic not reachable: undecodable messages are logged and skipped',
      );
      await client.start();
      await raw.send(topics.requested, Buffer.from([0xff, 0x00]), { partition: 0 });
      expect(await client.query('SELECT 7 AS seven')).toEqual([{ seven: 7 }]);
      // The dead letter fails (within its 15 s bound) and the offset behind it is committed.
      const deadline = Date.now() + 40_000;
      let committed = -1;
      const offsets = kafkaAdmin();
      await offsets.connect();
      try {
        while (committed < 2) {
          expect(Date.now(), `committed offset ${committed}`).toBeLessThan(deadline);
          const [topic] = await offsets.fetchOffsets({
            groupId: `adapter-${env}`,
            topics: [topics.requested],
          });
          committed = Number(topic?.partitions.find((p) => p.partition === 0)?.offset ?? -1);
          if (committed < 2) await new Promise((r) => setTimeout(r, 200));
        }
      } finally {
        await offsets.disconnect();
      }
      expect(warnings).toContain('dead letter could not be published; message skipped');
      expect(running.adapter.stats.deadLettered).toBe(1);
      const text = await noDltMetrics.metrics();
      expect(text).toContain('dbbridge_dead_lettered_total{reason="UNDECODABLE",published="false"} 1');
    } finally {
      noDltMetrics.close();
      await client.stop();
      await running.close();
    }
  }, 90_000);
});
