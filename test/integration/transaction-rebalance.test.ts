/**
 * An interactive transaction lives on the adapter that answered its BEGIN, and every request of it
 * is keyed like the BEGIN, so it reaches that adapter through one request partition. When a second
 * adapter joins the group and that partition moves to it, the first adapter rolls the transaction
 * back at once (not at its idle timeout), and the transaction's next request gets a coded failure
 * that names the cause. Runs with the transport under test, on the real broker and database.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterMetrics } from '../../src/adapter/metrics.js';
import { DatabaseEventClient, type Transaction } from '../../src/client/index.js';
import { topicNames } from '../../src/events/topics.js';
import type { Logger } from '../../src/logger.js';
import { createTopics, type RunningAdapter, stack, startAdapter, uniqueEnv } from '../helpers/bridge.js';

const env = uniqueEnv('txmove');
const table = `tx_move_${env.replace(/[^a-z0-9]/gi, '_')}`.toLowerCase();
/** Far longer than the test waits: a roll-back seen within the deadline is not the idle timeout's. */
const IDLE_TIMEOUT_MS = 120_000;
const TRANSACTIONS = 8;

interface Line {
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

function capture(lines: Line[]): Logger {
  const push = (message: string, fields?: Record<string, unknown>) =>
    lines.push({ message, fields: fields ?? {} });
  return { debug: push, info: push, warn: push, error: push, isLevelEnabled: () => true };
}

async function until(
  what: string,
  deadlineMs: number,
  check: () => Promise<boolean> | boolean,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const aLines: Line[] = [];
let a: RunningAdapter;
let b: RunningAdapter | undefined;
let client: DatabaseEventClient;
let pool: pg.Pool;
let metrics: AdapterMetrics;

beforeAll(async () => {
  // Two request partitions: once B joins, each adapter holds one, so one of them moves.
  await createTopics(env, 24, 2);
  pool = new pg.Pool({ connectionString: stack().databaseOwnerUrl, max: 2 });
  await pool.query(`CREATE TABLE ${table} (marker text PRIMARY KEY)`);
  a = await startAdapter(env, {
    name: 'txmove-a',
    logger: capture(aLines),
    adapter: { poolMax: 20, transactions: { idleTimeoutMs: IDLE_TIMEOUT_MS, maxOpen: 10 } },
  });
  client = new DatabaseEventClient({
    bootstrapServers: stack().bootstrapServers,
    topicEnv: env,
    maxRetries: 0,
  });
  await client.start();
}, 90_000);

afterAll(async () => {
  metrics?.close();
  await client?.stop();
  await b?.close();
  await a?.close();
  await pool?.query(`DROP TABLE IF EXISTS ${table}`);
  await pool?.end();
});

describe('a transaction whose partition moves in a rebalance', () => {
  it('is rolled back at once, and its next request fails with a coded error', async () => {
    await until('adapter A holds both request partitions', 30_000, () => a.adapter.assignedPartitions === 2);
    // Transactions with keys of their own, until both partitions have some (A logs where each began).
    const open: { tx: Transaction; pid: number; marker: string; partition: number }[] = [];
    const partitionOf = (id: string) =>
      aLines.find((l) => l.message === 'transaction begun' && l.fields.transactionId === id)?.fields
        .partition as number;
    for (
      let i = 0;
      i < 40 && (open.length < TRANSACTIONS || new Set(open.map((o) => o.partition)).size < 2);
      i++
    ) {
      if (open.length === TRANSACTIONS) {
        // Enough on one partition: end one of the most common and try another key.
        const counts = new Map<number, number>();
        for (const o of open) counts.set(o.partition, (counts.get(o.partition) ?? 0) + 1);
        const common = [...counts].sort((x, y) => y[1] - x[1])[0]?.[0];
        const at = open.findIndex((o) => o.partition === common);
        const [dropped] = open.splice(at, 1);
        if (dropped) await client.rollbackTransaction(dropped.tx);
      }
      const tx = await client.beginTransaction({ idleTimeoutMs: IDLE_TIMEOUT_MS });
      const marker = `${env}-${i}`;
      const selected = await client.request<{ pid: number }>(
        { operation_type: 'SELECT', sql: 'SELECT pg_backend_pid() AS pid', params: [] },
        { transaction: tx },
      );
      const row = selected.rows[0];
      await client.request(
        { operation_type: 'INSERT', sql: `INSERT INTO ${table} (marker) VALUES ($1)`, params: [marker] },
        { transaction: tx },
      );
      open.push({ tx, pid: Number(row?.pid), marker, partition: partitionOf(tx.id) });
    }
    expect(new Set(open.map((o) => o.partition))).toEqual(new Set([0, 1]));
    const idleInTransaction = async (pid: number) =>
      (
        await pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND state LIKE 'idle in transaction%'`,
          [pid],
        )
      ).rows[0]?.n === 1;
    for (const o of open) expect(await idleInTransaction(o.pid)).toBe(true);

    metrics = new AdapterMetrics(a.adapter);
    // B joins the group: one partition moves to it.
    const movedAt = Date.now();
    b = await startAdapter(env, { name: 'txmove-b', adapter: { poolMax: 20 } });
    await until('each adapter holds one partition', 60_000, () => a.adapter.assignedPartitions === 1);
    const revokedLines = () =>
      aLines.filter((l) =>
        l.message.startsWith('transaction rolled back: its request partition was revoked'),
      );
    await until('A rolled back the transactions of the moved partition', 20_000, () =>
      open.some((o) => revokedLines().some((l) => l.fields.transactionId === o.tx.id)),
    );
    const movedPartition = revokedLines()[0]?.fields.partition as number;
    expect(revokedLines().every((l) => l.fields.partition === movedPartition)).toBe(true);
    const moved = open.filter((o) => o.partition === movedPartition);
    const stayed = open.filter((o) => o.partition !== movedPartition);
    expect(moved.length).toBeGreaterThan(0);
    expect(stayed.length).toBeGreaterThan(0);
    await until('A logged every moved transaction', 20_000, () =>
      moved.every((o) => revokedLines().some((l) => l.fields.transactionId === o.tx.id)),
    );
    expect(revokedLines()).toHaveLength(moved.length);
    expect(revokedLines()[0]?.fields).toMatchObject({ topic: topicNames(env).requested });
    // Their sessions are gone from "idle in transaction", well before the idle timeout.
    for (const o of moved)
      await until(
        `session ${o.pid} no longer idle in transaction`,
        20_000,
        async () => !(await idleInTransaction(o.pid)),
      );
    expect(Date.now() - movedAt).toBeLessThan(IDLE_TIMEOUT_MS / 2);
    expect(a.adapter.stats.transactionsMoved).toBe(moved.length);
    // Nothing of them was committed; the others are still open on A.
    const markers = async (list: typeof open) =>
      (
        await pool.query<{ marker: string }>(`SELECT marker FROM ${table} WHERE marker = ANY($1)`, [
          list.map((o) => o.marker),
        ])
      ).rows.length;
    expect(await markers(moved)).toBe(0);
    for (const o of stayed) expect(await idleInTransaction(o.pid)).toBe(true);

    // The next request of a moved transaction reaches B, which never knew it.
    const onB = await client
      .commitTransaction((moved[0] as (typeof open)[number]).tx, { timeoutMs: 30_000 })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(onB).toMatchObject({
      code: 'VALIDATION_ERROR',
      errorType: 'UnknownTransaction',
      retryable: false,
    });
    expect((onB as Error).message).toMatch(/partition moved to another adapter/);

    // The transactions whose partition stayed commit on A as usual.
    for (const o of stayed)
      expect(await client.commitTransaction(o.tx, { timeoutMs: 30_000 })).toBe('COMMIT');
    expect(await markers(stayed)).toBe(stayed.length);
    expect(await markers(moved)).toBe(0);

    // B leaves: the partition comes back to A, which tells a moved transaction exactly what happened.
    await b.close();
    b = undefined;
    await until('A holds both partitions again', 60_000, () => a.adapter.assignedPartitions === 2);
    const last = moved[moved.length - 1] as (typeof open)[number];
    const onA = await client
      .request(
        { operation_type: 'SELECT', sql: 'SELECT 1', params: [] },
        { transaction: last.tx, timeoutMs: 30_000 },
      )
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(onA).toMatchObject({
      code: 'VALIDATION_ERROR',
      errorType: 'TransactionPartitionMoved',
      retryable: false,
    });
    expect((onA as Error).message).toMatch(/rolled back because its partition .* moved to another adapter/);
    expect(await metrics.metrics()).toContain(
      `dbbridge_transactions_rolled_back_total{reason="partition-moved"} ${moved.length}`,
    );
  }, 240_000);
});
