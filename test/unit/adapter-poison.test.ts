/**
 * The adapter's message handling with a fake transport (no broker, no database): a message that
 * makes handling throw is logged and skipped, never an unhandled error, and its offset moves on; a
 * reply that cannot go to the named partition is keyed by correlation id.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DatabaseAdapter } from '../../src/adapter/adapter.js';
import { silentLogger } from '../../src/logger.js';
import type {
  GroupConsumerOptions,
  IncomingMessage,
  OutgoingMessage,
  Transport,
} from '../../src/transport/types.js';

function fakeTransport() {
  const published: { topic: string; message: OutgoingMessage }[] = [];
  const committed: { partition: number; offset: string }[] = [];
  let consumer: GroupConsumerOptions | undefined;
  const transport: Transport = {
    connect: async () => {},
    ping: async () => {},
    partitionCount: async () => 24,
    // Partition 0 holds 10 requests; the test hands the adapter the first 3.
    endOffsets: async () => [
      { partition: 0, offset: 10n },
      { partition: 1, offset: 5n },
    ],
    close: async () => {},
    openReplyChannel: async () => {
      throw new Error('not used');
    },
    openGroupConsumer: async (options) => {
      consumer = options;
      return {
        assignedPartitions: 1,
        commit: async (offsets) => {
          committed.push(...offsets);
        },
        pause: () => {},
        close: async () => {},
      };
    },
    publisher: () => ({
      publish: async (topic, message) => {
        published.push({ topic, message });
      },
      close: async () => {},
    }),
  };
  return { transport, published, committed, consumer: () => consumer as GroupConsumerOptions };
}

let adapter: DatabaseAdapter | undefined;
afterEach(async () => {
  await adapter?.stop();
});

const message = (offset: number, value: Buffer): IncomingMessage => ({
  topic: 'unit.omninode-bridge.database.query-requested.v1',
  partition: 0,
  offset: String(offset),
  key: null,
  value,
});

describe('adapter message handling', () => {
  it('skips a message whose handling throws, answers the rest, and commits past all of them', async () => {
    const fake = fakeTransport();
    adapter = new DatabaseAdapter({
      transport: fake.transport,
      // Never reached: every request here is answered before the database would be.
      databaseUrl: 'postgres://nobody@127.0.0.1:1/none',
      topicEnv: 'unit',
      commitIntervalMs: 10,
      logger: silentLogger,
    });
    await adapter.start();
    // Reading this message throws inside the handler, as an unexpected bug would.
    const poison = Buffer.from('{}');
    poison.toString = () => {
      throw new TypeError('boom');
    };
    const request = JSON.stringify({
      event_id: 'e-1',
      event_type: 'DATABASE_QUERY_REQUESTED',
      correlation_id: 'c-partition',
      timestamp: new Date().toISOString(),
      service: 'unit',
      payload: { operation_type: 'SELECT', sql: 'SELECT 1' },
      reply_partition: 29,
    });
    await fake.consumer().onBatch({
      topic: 'unit.omninode-bridge.database.query-requested.v1',
      partition: 0,
      messages: [
        message(0, poison),
        message(1, Buffer.from('{"correlation_id": "c-broken", ')),
        message(2, Buffer.from(request)),
      ],
      heartbeat: async () => {},
      isActive: () => true,
    });
    const deadline = Date.now() + 4000;
    while (!fake.committed.some((c) => c.offset === '3')) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(adapter.stats).toMatchObject({ received: 3, internalErrors: 1, failed: 2, deadLettered: 1 });
    // Lag: partition 0 has 7 requests it has not taken yet; partition 1 was never read (not counted).
    expect(await adapter.consumerLag()).toBe(7);
    // The message whose handling threw went to the dead-letter topic with its bytes and coordinates.
    const deadLetterTopic = 'unit.omninode-bridge.database.query-dead-lettered.v1';
    const dead = fake.published.filter((p) => p.topic === deadLetterTopic);
    expect(dead.map((d) => JSON.parse(d.message.value))).toEqual([
      expect.objectContaining({
        event_type: 'DATABASE_QUERY_DEAD_LETTERED',
        reason: 'INTERNAL_ERROR',
        answered: false,
        source: { topic: 'unit.omninode-bridge.database.query-requested.v1', partition: 0, offset: '0' },
        value_base64: Buffer.from('{}').toString('base64'),
        value_bytes: 2,
        error_message: expect.stringMatching(/boom/),
      }),
    ]);
    const replies = fake.published
      .filter((p) => p.topic !== deadLetterTopic)
      .map((p) => ({
        topic: p.topic,
        key: p.message.key,
        partition: p.message.partition,
        value: JSON.parse(p.message.value),
      }));
    replies.sort((a, b) => String(a.key).localeCompare(String(b.key)));
    expect(replies.map((r) => [r.key, r.partition, r.value.payload.error_code])).toEqual([
      ['c-broken', undefined, 'VALIDATION_ERROR'],
      ['c-partition', undefined, 'VALIDATION_ERROR'],
    ]);
    expect(replies[1]?.value.payload.error_message).toMatch(/reply_partition 29 does not exist/);
  });
});

describe('dead letters', () => {
  const topic = 'unit.omninode-bridge.database.query-requested.v1';
  const deadLetterTopic = 'unit.omninode-bridge.database.query-dead-lettered.v1';

  async function handle(messages: IncomingMessage[], maxMessageBytes?: number) {
    const fake = fakeTransport();
    adapter = new DatabaseAdapter({
      transport: fake.transport,
      databaseUrl: 'postgres://nobody@127.0.0.1:1/none',
      topicEnv: 'unit',
      commitIntervalMs: 10,
      logger: silentLogger,
      ...(maxMessageBytes === undefined ? {} : { maxMessageBytes }),
    });
    await adapter.start();
    await fake.consumer().onBatch({
      topic,
      partition: 0,
      messages,
      heartbeat: async () => {},
      isActive: () => true,
    });
    const next = String(messages.length);
    const deadline = Date.now() + 4000;
    while (!fake.committed.some((c) => c.offset === next)) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 10));
    }
    const parse = (p: { message: OutgoingMessage }) => JSON.parse(p.message.value);
    return {
      dead: fake.published.filter((p) => p.topic === deadLetterTopic),
      replies: fake.published.filter((p) => p.topic !== deadLetterTopic).map(parse),
      parse,
    };
  }

  it('takes every unanswerable message, with its reason, exact bytes, key and headers', async () => {
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x81, 0x7b]);
    const withHeaders: IncomingMessage = {
      ...message(4, Buffer.from('{"payload": {"operation_type": "SELECT"}}')),
      key: Buffer.from('k-1'),
      headers: { traceparent: 'x', 'x-origin': 'test' },
      timestamp: 1_700_000_000_000,
    };
    const { dead, replies, parse } = await handle([
      message(0, binary),
      message(1, Buffer.from('[1, 2]')),
      message(2, Buffer.from('')),
      message(3, Buffer.from('{"correlation_id": 5}')),
      withHeaders,
      message(5, Buffer.from(`{"correlation_id": "${'x'.repeat(300)}"}`)),
    ]);
    expect(replies).toEqual([]);
    const letters = dead.map(parse);
    expect(letters.map((l) => [l.source.offset, l.reason, l.answered])).toEqual([
      ['0', 'UNDECODABLE', false],
      ['1', 'UNDECODABLE', false],
      ['2', 'UNDECODABLE', false],
      ['3', 'NO_CORRELATION_ID', false],
      ['4', 'NO_CORRELATION_ID', false],
      ['5', 'NO_CORRELATION_ID', false],
    ]);
    expect(Buffer.from(letters[0].value_base64, 'base64')).toEqual(binary);
    expect(letters[0]).toMatchObject({
      value_bytes: 5,
      value_truncated: false,
      key_base64: null,
      headers: {},
    });
    expect(letters[4]).toMatchObject({
      key_base64: Buffer.from('k-1').toString('base64'),
      headers: { traceparent: 'x', 'x-origin': 'test' },
      source: { topic, partition: 0, offset: '4', timestamp: 1_700_000_000_000 },
    });
    expect(letters[3].error_message).toMatch(/correlation_id/);
    // Keyed by source partition, so one partition's dead letters stay in order.
    expect(new Set(dead.map((d) => d.message.key))).toEqual(new Set([`${topic}:0`]));
    expect(adapter?.stats).toMatchObject({ received: 6, malformed: 6, deadLettered: 6 });
  });

  it('cuts a value too large for one message, and says so', async () => {
    const big = Buffer.alloc(300_000, 0x61);
    const { dead, parse } = await handle([message(0, big)], 200_000);
    const letter = parse(dead[0] as { message: OutgoingMessage });
    expect(letter).toMatchObject({ reason: 'UNDECODABLE', value_bytes: 300_000, value_truncated: true });
    const kept = Buffer.from(letter.value_base64, 'base64');
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(300_000);
    expect((dead[0] as { message: OutgoingMessage }).message.value.length).toBeLessThanOrEqual(200_000);
  });

  it('answers a request whose handling threw and dead-letters it too (INTERNAL_ERROR)', async () => {
    const request = JSON.stringify({
      event_id: 'e-1',
      event_type: 'DATABASE_QUERY_REQUESTED',
      correlation_id: 'c-internal',
      timestamp: new Date().toISOString(),
      service: 'unit',
      payload: { operation_type: 'SELECT', sql: 'SELECT 1' },
    });
    // Reading the record's timestamp throws once, as an unexpected bug would, after the request parsed.
    let reads = 0;
    const broken = {
      ...message(0, Buffer.from(request)),
      get timestamp(): number {
        reads++;
        if (reads === 1) throw new RangeError('timestamp exploded');
        return 1_700_000_000_000;
      },
    } as IncomingMessage;
    const { dead, replies, parse } = await handle([broken]);
    expect(replies.map((r) => [r.correlation_id, r.payload.error_code, r.payload.error_type])).toEqual([
      ['c-internal', 'DATABASE_OPERATION_FAILED', 'InternalError'],
    ]);
    expect(dead.map(parse)).toEqual([
      expect.objectContaining({
        reason: 'INTERNAL_ERROR',
        answered: true,
        correlation_id: 'c-internal',
        error_message: expect.stringMatching(/timestamp exploded/),
      }),
    ]);
    expect(adapter?.stats).toMatchObject({ internalErrors: 1, deadLettered: 1, failed: 1 });
  });
});

describe('the per-request debug line', () => {
  it.each([
    [false, 0],
    [true, 1],
  ])('is built only when the logger writes debug (enabled: %s)', async (enabled, lines) => {
    const fake = fakeTransport();
    const debug: string[] = [];
    adapter = new DatabaseAdapter({
      transport: fake.transport,
      databaseUrl: 'postgres://nobody@127.0.0.1:1/none',
      topicEnv: 'unit',
      commitIntervalMs: 10,
      logger: { ...silentLogger, debug: (m) => debug.push(m), isLevelEnabled: () => enabled },
    });
    await adapter.start();
    await fake.consumer().onBatch({
      topic: 'unit.omninode-bridge.database.query-requested.v1',
      partition: 0,
      messages: [message(0, Buffer.from('{"correlation_id": "c-debug", "payload": 1}'))],
      heartbeat: async () => {},
      isActive: () => true,
    });
    const deadline = Date.now() + 4000;
    while (!fake.committed.some((c) => c.offset === '1')) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(debug.filter((m) => m === 'request')).toHaveLength(lines);
  });
});

describe('dead letters of per-service topics', () => {
  it("go to the service's own dead-letter topic", async () => {
    const fake = fakeTransport();
    adapter = new DatabaseAdapter({
      transport: fake.transport,
      databaseUrl: 'postgres://nobody@127.0.0.1:1/none',
      topicEnv: 'unit',
      services: ['svc-a'],
      sharedTopics: false,
      commitIntervalMs: 10,
      logger: silentLogger,
    });
    await adapter.start();
    const topic = 'unit.omninode-bridge.database.svc-a.query-requested.v1';
    await fake.consumer().onBatch({
      topic,
      partition: 0,
      messages: [{ ...message(0, Buffer.from('not json')), topic }],
      heartbeat: async () => {},
      isActive: () => true,
    });
    const deadline = Date.now() + 4000;
    while (!fake.committed.some((c) => c.offset === '1')) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(fake.published.map((p) => [p.topic, JSON.parse(p.message.value).source.topic])).toEqual([
      ['unit.omninode-bridge.database.svc-a.query-dead-lettered.v1', topic],
    ]);
  });
});
