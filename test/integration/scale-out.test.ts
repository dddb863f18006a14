/**
 * Several adapter processes share the request topic through one consumer group: the work spreads
 * over them, and when one stops, the others take over its partitions without losing a request.
 * Runs with the transport under test (`DBBRIDGE_TRANSPORT`), on the real broker and database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseEventClient } from '../../src/client/index.js';
import { createTopics, type RunningAdapter, stack, startAdapter, uniqueEnv } from '../helpers/bridge.js';

const env = uniqueEnv('scale');
const adapters: RunningAdapter[] = [];
let client: DatabaseEventClient;

async function startOne(name: string) {
  const running = await startAdapter(env, { name, adapter: { poolMax: 4 } });
  adapters.push(running);
  return running;
}

/** `n` requests with distinct keys (so they land on every partition); resolves to each answer's index. */
function burst(n: number, from: number) {
  return Promise.all(
    Array.from({ length: n }, async (_, k) => {
      const i = from + k;
      const rows = await client.query<{ i: number }>('SELECT $1::int AS i', [i], { timeoutMs: 45_000 });
      return rows[0]?.i;
    }),
  );
}

beforeAll(async () => {
  await createTopics(env);
  await startOne('a');
  client = new DatabaseEventClient({
    bootstrapServers: stack().bootstrapServers,
    topicEnv: env,
    maxRetries: 0,
  });
  await client.start();
}, 90_000);

afterAll(async () => {
  await client?.stop();
  for (const running of adapters) await running.close();
});

describe('two adapters in one group', () => {
  it('share the requests once the second joins under load, and when one stops the other answers everything that follows', async () => {
    // B joins while requests flow: A rejoins the group (its consumer is not "active" meanwhile) and
    // hands B a share of the partitions. Every request is answered, those of the partitions A keeps
    // included. Waves of 40 run until B has answered some.
    const [a] = adapters as [RunningAdapter];
    let sent = 0;
    let joined: Promise<RunningAdapter> | undefined;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const wave = burst(40, sent);
      joined ??= startOne('b');
      expect(await wave).toEqual(Array.from({ length: 40 }, (_, k) => sent + k));
      sent += 40;
      const b = adapters[1];
      if (b !== undefined && b.adapter.stats.completed > 0 && a.adapter.stats.completed > 0) break;
      expect(Date.now()).toBeLessThan(deadline);
    }
    const b = await joined;
    // A stops gracefully (leaves the group) while requests keep coming: none is lost.
    const during = burst(200, sent);
    const stopped = a.adapter.stop();
    const answers = await during;
    expect(answers).toEqual(Array.from({ length: 200 }, (_, k) => sent + k));
    sent += 200;
    await stopped;
    const before = b.adapter.stats.completed;
    const after = await burst(100, sent);
    expect(after).toEqual(Array.from({ length: 100 }, (_, k) => sent + k));
    // B now holds every partition: it answered all of them (A is stopped). At-least-once delivery may
    // add a few requests B reads again after the last rebalance (those it had answered but not yet
    // committed): kafkajs's eager rebalance revokes every partition, B's own included.
    expect(b.adapter.stats.completed - before).toBeGreaterThanOrEqual(100);
  }, 120_000);
});
