/**
 * Deadlines do not trust the client's clock: a client whose clock runs 10 minutes behind or ahead
 * is answered like any other (the adapter measures the client's window from when the broker
 * appended the request), and a request whose window has really passed is not run.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopics, type RunningAdapter, startAdapter, uniqueEnv } from '../helpers/bridge.js';
import { rawKafka } from '../helpers/raw-kafka.js';

const env = uniqueEnv('skew');
let topics: Awaited<ReturnType<typeof createTopics>>;
let running: RunningAdapter;
let raw: Awaited<ReturnType<typeof rawKafka>>;
let replies: Awaited<ReturnType<Awaited<ReturnType<typeof rawKafka>>['collect']>>;

beforeAll(async () => {
  topics = await createTopics(env);
  running = await startAdapter(env, { name: 'skew' });
  raw = await rawKafka(`skew-${process.pid}`);
  replies = await raw.collect([topics.completed, topics.failed]);
  // The adapter's group may still be settling on its partitions: wait until it answers a request
  // sent now (requests published before it holds a partition would never be read).
  for (const deadline = Date.now() + 60_000; ; ) {
    const probe = randomUUID();
    await raw.send(topics.requested, skewedRequest(probe, 0), { key: probe });
    const answered = await replies
      .waitFor((m) => m.value.correlation_id === probe, 3000)
      .then(
        () => true,
        () => false,
      );
    if (answered) break;
    if (Date.now() > deadline) throw new Error('the adapter never answered a probe');
  }
});
afterAll(async () => {
  await raw?.close();
  await running?.close();
});

/** A request as a client whose clock is off by `skewMs` would send it, with a 10 s window. */
function skewedRequest(cid: string, skewMs: number, windowMs = 10_000): string {
  const clientNow = Date.now() + skewMs;
  return JSON.stringify({
    event_id: randomUUID(),
    event_type: 'DATABASE_QUERY_REQUESTED',
    correlation_id: cid,
    timestamp: new Date(clientNow).toISOString(),
    service: 'skew-test',
    payload: { operation_type: 'SELECT', sql: `SELECT '${cid}' AS cid` },
    deadline: new Date(clientNow + windowMs).toISOString(),
  });
}

describe('deadlines and clock skew', () => {
  it.each([
    ['10 minutes behind', -600_000],
    ['10 minutes ahead', 600_000],
  ])('a client clock %s is answered', async (_label, skewMs) => {
    const cid = randomUUID();
    await raw.send(topics.requested, skewedRequest(cid, skewMs), { key: cid });
    const reply = await replies.waitFor((m) => m.value.correlation_id === cid);
    expect(reply.value).toMatchObject({
      event_type: 'DATABASE_QUERY_COMPLETED',
      payload: { rows: [{ cid }] },
    });
  });

  it('a request whose window has passed is dropped unanswered and counted as expired', async () => {
    const expiredBefore = running.adapter.stats.expired;
    const cid = randomUUID();
    // A window of 0 ms: expired by the time the adapter reads it, whatever the clocks.
    await raw.send(topics.requested, skewedRequest(cid, 0, 0), { key: cid });
    const probe = randomUUID();
    await raw.send(topics.requested, skewedRequest(probe, 0), { key: cid }); // same partition, after it
    await replies.waitFor((m) => m.value.correlation_id === probe);
    expect(running.adapter.stats.expired).toBe(expiredBefore + 1);
    expect(replies.received.some((m) => m.value.correlation_id === cid)).toBe(false);
  });
});
