/**
 * Quick statements that reach the adapter together share a connection (pg pipeline mode), each in
 * its own implicit transaction: one failing statement fails alone, on the real database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseEventClient } from '../../src/index.js';
import { type Bridge, startBridge } from '../helpers/bridge.js';

let bridge: Bridge;
let db: DatabaseEventClient;
let table: string;

beforeAll(async () => {
  // One request partition: requests sent together reach the adapter in one fetch (with several, the
  // broker may answer a waiting fetch after the first partition's append, splitting them).
  // Quick means "seen within 100 ms" here (default 2 ms), so a busy machine cannot keep these trivial
  // statements from pipelining; pg_sleep(0.3) below still is not quick.
  bridge = await startBridge('pipeline', {
    requestPartitions: 1,
    adapter: { pipelineQuickMs: 100 },
  });
  // Without idempotency keys here; writes with keys (each recorded by its own statement) share the
  // pipeline too: see the test of their own below.
  db = await bridge.client({ idempotentWrites: false });
  table = `pipeline_probe_${bridge.env.replace(/[^a-z0-9]/gi, '_')}`.toLowerCase();
  await bridge.pg.query(`CREATE TABLE ${table} (id int PRIMARY KEY, note text NOT NULL)`);
});
afterAll(async () => {
  await bridge?.pg.query(`DROP TABLE IF EXISTS ${table}`);
  await bridge?.close();
});

describe('pipelined statements', () => {
  it('reads sent together share connections, and the one that fails fails alone', async () => {
    const sql = 'SELECT pg_backend_pid() AS pid, 10 / $1::int AS x';
    for (let i = 0; i < 3; i++) await db.query(sql, [1]); // seen, and quick: now it may be pipelined
    const before = bridge.adapter.stats.executor;
    const divisors = [1, 2, 5, 0, 10, 1, 2, 5];
    const settled = await Promise.allSettled(
      divisors.map((d) => db.query<{ pid: number; x: number }>(sql, [d])),
    );
    const pids = new Set<number>();
    settled.forEach((outcome, i) => {
      if (divisors[i] === 0) {
        expect(outcome).toMatchObject({ status: 'rejected', reason: { sqlstate: '22012' } });
      } else {
        expect(outcome.status).toBe('fulfilled');
        const [row] = (outcome as PromiseFulfilledResult<{ pid: number; x: number }[]>).value;
        expect(row?.x).toBe(10 / (divisors[i] as number));
        pids.add(row?.pid as number);
      }
    });
    // Seven answers from fewer backends than statements: they went out pipelined.
    expect(pids.size).toBeLessThan(7);
    const after = bridge.adapter.stats.executor;
    expect(after.statements - before.statements).toBe(8);
    expect(after.pipelined - before.pipelined).toBeGreaterThanOrEqual(2);
    expect(after.groups - before.groups).toBeLessThan(8);
  });

  it('writes sent together each commit on their own: a duplicate key fails alone', async () => {
    const sql = `INSERT INTO ${table} (id, note) VALUES ($1, $2) RETURNING pg_backend_pid() AS pid`;
    const run = async (params: unknown[]) =>
      (await db.request<{ pid: number }>({ operation_type: 'EXECUTE', sql, params })).rows;
    await run([1, 'first']);
    await run([2, 'second']);
    const ids = [10, 11, 1, 12, 13, 14];
    const settled = await Promise.allSettled(ids.map((id) => run([id, `n${id}`])));
    expect(settled[2]).toMatchObject({ status: 'rejected', reason: { sqlstate: '23505' } });
    const pids = new Set(
      settled.flatMap((o) => (o.status === 'fulfilled' ? [(o.value[0] as { pid: number }).pid] : [])),
    );
    expect(pids.size).toBeLessThan(5);
    const { rows } = await bridge.pg.query(`SELECT id, note FROM ${table} ORDER BY id`);
    expect(rows).toEqual([
      { id: 1, note: 'first' },
      { id: 2, note: 'second' },
      ...[10, 11, 12, 13, 14].map((id) => ({ id, note: `n${id}` })),
    ]);
  });

  it('writes with idempotency keys sent together share connections too, each recorded by its own statement: a duplicate key fails alone, a repeat replays', async () => {
    const keyed = await bridge.client(); // the client's default: every write carries a key
    const sql = `INSERT INTO ${table} (id, note) VALUES ($1, $2) RETURNING pg_backend_pid() AS pid`;
    const run = (id: number, note: string, idempotencyKey: string) =>
      keyed.request<{ pid: number }>(
        { operation_type: 'EXECUTE', sql, params: [id, note] },
        { idempotencyKey },
      );
    const key = (id: number) => `pipe-${bridge.env}-${id}`;
    await run(20, 'first', `${key(20)}-a`);
    await run(21, 'second', `${key(21)}-a`);
    const before = bridge.adapter.stats.executor;
    const ids = [30, 31, 20, 32, 33, 34];
    const settled = await Promise.allSettled(ids.map((id) => run(id, `k${id}`, key(id))));
    // Its statement failed: its transaction rolled back, the others' committed.
    expect(settled[2]).toMatchObject({ status: 'rejected', reason: { sqlstate: '23505' } });
    const done = settled.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    expect(done).toHaveLength(5);
    const pids = new Set(done.map((r) => (r.rows[0] as { pid: number }).pid));
    expect(pids.size).toBeLessThan(5);
    expect(bridge.adapter.stats.executor.pipelined - before.pipelined).toBeGreaterThanOrEqual(2);
    const again = await run(30, 'k30', key(30));
    expect(again.metadata.replayed).toBe(true);
    expect(again.rows).toEqual(done[0]?.rows);
    const { rows } = await bridge.pg.query(`SELECT id, note FROM ${table} WHERE id >= 20 ORDER BY id`);
    expect(rows).toEqual([
      { id: 20, note: 'first' },
      { id: 21, note: 'second' },
      ...[30, 31, 32, 33, 34].map((id) => ({ id, note: `k${id}` })),
    ]);
  });

  it('a statement not known to be quick gets a connection of its own', async () => {
    const sql = 'SELECT pg_backend_pid() AS pid, pg_sleep(0.3), $1::int AS i';
    const rows = await Promise.all([0, 1, 2, 3].map((i) => db.query<{ pid: number; i: number }>(sql, [i])));
    expect(rows.map((r) => r[0]?.i)).toEqual([0, 1, 2, 3]);
    expect(new Set(rows.map((r) => r[0]?.pid)).size).toBe(4); // side by side, not one behind another
  });
});
