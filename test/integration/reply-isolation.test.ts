/** Each client reads its own reply partition, from the moment it started: not others' replies, not history. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bridge, startBridge } from '../helpers/bridge.js';
import { rawKafka } from '../helpers/raw-kafka.js';

let bridge: Bridge;
beforeAll(async () => {
  bridge = await startBridge('isolation');
});
afterAll(async () => {
  await bridge?.close();
});

async function until(predicate: () => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('reply isolation', () => {
  it('two clients running at once each receive only their own replies', async () => {
    const a = await bridge.client({ replyPartition: 3 });
    const b = await bridge.client({ replyPartition: 7 });
    expect([a.replyPartition, b.replyPartition]).toEqual([3, 7]);
    const ask = (client: typeof a, who: string) =>
      Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          client.query<{ who: string; i: number }>('SELECT $1::text AS who, $2::int AS i', [who, i]),
        ),
      );
    const [ra, rb] = await Promise.all([ask(a, 'a'), ask(b, 'b')]);
    expect(ra.map((r) => r[0])).toEqual(Array.from({ length: 40 }, (_, i) => ({ who: 'a', i })));
    expect(rb.map((r) => r[0])).toEqual(Array.from({ length: 40 }, (_, i) => ({ who: 'b', i })));
    expect(a.unmatchedReplies).toBe(0);
    expect(b.unmatchedReplies).toBe(0);
  });

  it('a client started after thousands of replies were written does not read them', async () => {
    const partition = 5;
    const earlier = await bridge.client({ replyPartition: partition });
    const raw = await rawKafka('history');
    try {
      const fake = (i: number) => ({
        partition,
        value: JSON.stringify({
          event_id: randomUUID(),
          event_type: 'DATABASE_QUERY_COMPLETED',
          correlation_id: randomUUID(),
          timestamp: new Date().toISOString(),
          service: 'database-adapter-effect',
          payload: {
            operation_type: 'SELECT',
            rows: [{ i }],
            row_count: 1,
            execution_time_ms: 1,
            metadata: { cached: false, circuit_breaker_state: 'CLOSED' },
          },
        }),
      });
      for (let batch = 0; batch < 6; batch++) {
        await raw.sendMany(
          bridge.topics.completed,
          Array.from({ length: 500 }, (_, i) => fake(batch * 500 + i)),
        );
      }
      // A reader that was already there sees all 3000 (so the counter below can fail)...
      await until(() => earlier.unmatchedReplies >= 3000);
      expect(earlier.unmatchedReplies).toBe(3000);

      // ...one started afterwards on the same partition sees none of them, and still gets its own reply.
      const later = await bridge.client({ replyPartition: partition });
      expect(await later.query('SELECT 42 AS answer')).toEqual([{ answer: 42 }]);
      // No waiting needed: its reply sits after the 3000 on the same partition and topic, read in
      // order, so a reader that read history would have counted them before its reply arrived.
      expect(later.unmatchedReplies).toBe(0);
    } finally {
      await raw.close();
    }
  });

  it('a reply partition the topics do not have is refused at start', async () => {
    await expect(bridge.client({ replyPartition: 999 })).rejects.toMatchObject({ code: 'TRANSPORT_ERROR' });
  });
});
