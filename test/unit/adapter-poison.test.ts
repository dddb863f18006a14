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
    expect(adapter.stats).toMatchObject({ received: 3, internalErrors: 1, failed: 2 });
    // Lag: partition 0 has 7 requests it has not taken yet; partition 1 was never read (not counted).
    expect(await adapter.consumerLag()).toBe(7);
    const replies = fake.published.map((p) => ({
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
