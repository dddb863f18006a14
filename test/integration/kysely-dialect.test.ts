/**
 * Typed queries over the bus: the Kysely dialect against the real stack, compared query by query
 * with Kysely's own PostgreSQL dialect on a direct connection.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AbortedTransactionError, Kysely, PostgresDialect, type Selectable, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { AgentExecutionLogs, DB } from '../../generated/db.js';
import { GENERATED_FILE, renderDirect, renderViaBus } from '../../scripts/codegen.js';
import { DatabaseError, type DatabaseEventClient, KafkaDialect } from '../../src/index.js';
import { type Bridge, stack, startBridge } from '../helpers/bridge.js';

let bridge: Bridge;
let client: DatabaseEventClient;
let db: Kysely<DB>;
let direct: Kysely<DB>;
const tag = `kysely-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  bridge = await startBridge('kysely');
  client = await bridge.client();
  db = new Kysely<DB>({ dialect: new KafkaDialect({ client }) });
  direct = new Kysely<DB>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: stack().databaseUrl, max: 4 }) }),
  });
  for (let i = 0; i < 4; i++) {
    const correlation = randomUUID();
    await direct
      .insertInto('agent_execution_logs')
      .values({
        correlation_id: correlation,
        agent_name: tag,
        status: i % 2 ? 'success' : 'failed',
        quality_score: `0.8${i}`,
        duration_ms: 100 * i,
      })
      .execute();
    await direct
      .insertInto('agent_manifest_injections')
      .values({
        correlation_id: correlation,
        agent_name: tag,
        manifest_version: '2.0',
        generation_source: 'test',
        sections_included: ['patterns'],
        query_times: JSON.stringify({ qdrant: i }),
        total_query_time_ms: 10 * i,
        full_manifest_snapshot: JSON.stringify({}),
        patterns_count: i,
      })
      .execute();
  }
});

afterAll(async () => {
  await db?.destroy();
  await direct?.destroy();
  await bridge?.close();
});

describe('KafkaDialect', () => {
  it('compiles exactly as the PostgreSQL dialect', () => {
    const build = (k: Kysely<DB>) =>
      k
        .selectFrom('agent_execution_logs')
        .select(['execution_id', 'status'])
        .where('agent_name', '=', tag)
        .where('quality_score', '>', '0.5')
        .orderBy('created_at', 'desc')
        .limit(10)
        .compile();
    expect(build(db)).toEqual(build(direct));
  });

  it('selectAll has the generated row type, and the values match it at run time', async () => {
    const row = await db
      .selectFrom('agent_execution_logs')
      .selectAll()
      .where('agent_name', '=', tag)
      .executeTakeFirstOrThrow();
    expectTypeOf(row).toEqualTypeOf<Selectable<AgentExecutionLogs>>();
    expectTypeOf(row.created_at).toEqualTypeOf<Date | null>();
    expect(row.created_at).toBeInstanceOf(Date);
    expect(typeof row.quality_score).toBe('string');
    await expect(
      db
        .selectFrom('agent_execution_logs')
        .selectAll()
        .where('agent_name', '=', 'nobody')
        .executeTakeFirstOrThrow(),
    ).rejects.toThrow('no result');
  });

  it("the seed's Patterns 1-4 written with Kysely return what the PostgreSQL dialect returns", async () => {
    // Pattern 1: insert, then update to success.
    const executionId = randomUUID();
    const both = [db, direct] as const;
    const inserted = await db
      .insertInto('agent_execution_logs')
      .values({
        execution_id: executionId,
        correlation_id: randomUUID(),
        agent_name: tag,
        status: 'in_progress',
        started_at: new Date(),
      })
      .returning('execution_id')
      .executeTakeFirstOrThrow();
    expect(inserted).toEqual({ execution_id: executionId });
    const updated = await db
      .updateTable('agent_execution_logs')
      .set({ status: 'success', completed_at: new Date(), quality_score: 0.92, duration_ms: 15000 })
      .where('execution_id', '=', executionId)
      .executeTakeFirst();
    expect(updated.numUpdatedRows).toBe(1n);

    // Pattern 2: routing decision with JSON alternatives.
    const decision = await db
      .insertInto('agent_routing_decisions')
      .values({
        correlation_id: randomUUID(),
        user_request: 'design an API',
        selected_agent: tag,
        confidence_score: 0.91,
        routing_strategy: 'enhanced_fuzzy_matching',
        alternatives: JSON.stringify([{ agent: 'agent-api-architect', confidence: 0.85 }]),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    expect(decision).toEqual(
      await direct
        .selectFrom('agent_routing_decisions')
        .selectAll()
        .where('id', '=', decision.id)
        .executeTakeFirstOrThrow(),
    );

    // Pattern 3: historical analysis.
    const pattern3 = (k: Kysely<DB>) =>
      k
        .selectFrom('agent_execution_logs')
        .select((eb) => [
          'agent_name',
          eb.fn.countAll().as('execution_count'),
          eb.fn.avg('quality_score').as('avg_quality'),
          eb.fn.avg('duration_ms').as('avg_duration_ms'),
        ])
        .where('status', '=', 'success')
        .where('created_at', '>', sql<Date>`now() - interval '7 days'`)
        .groupBy('agent_name')
        .orderBy('avg_quality', 'desc')
        .orderBy('agent_name')
        .execute();
    const [p3bus, p3pg] = await Promise.all(both.map(pattern3));
    expect(p3bus).toEqual(p3pg);
    expect(p3bus?.find((r) => r.agent_name === tag)).toBeTruthy();

    // Pattern 4: manifest injection traceability.
    const pattern4 = (k: Kysely<DB>) =>
      k
        .selectFrom('agent_manifest_injections as ami')
        .leftJoin('agent_execution_logs as ael', 'ami.correlation_id', 'ael.correlation_id')
        .select([
          'ami.correlation_id',
          'ami.agent_name',
          'ami.patterns_count',
          'ami.total_query_time_ms',
          'ami.created_at',
          'ael.status',
          'ael.quality_score',
        ])
        .where('ami.agent_name', '=', tag)
        .orderBy('ami.created_at', 'desc')
        .orderBy('ami.total_query_time_ms')
        .limit(10)
        .execute();
    const [p4bus, p4pg] = await Promise.all(both.map(pattern4));
    expect(p4bus).toHaveLength(4);
    expect(p4bus).toEqual(p4pg);
  });

  it('numAffectedRows matches the PostgreSQL dialect for insert, update and delete', async () => {
    const results = [];
    for (const k of [db, direct]) {
      const name = `${tag}-affected`;
      const insert = await k
        .insertInto('agent_execution_logs')
        .values([1, 2, 3].map(() => ({ correlation_id: randomUUID(), agent_name: name })))
        .executeTakeFirst();
      const update = await k
        .updateTable('agent_execution_logs')
        .set({ status: 'x' })
        .where('agent_name', '=', name)
        .executeTakeFirst();
      const del = await k
        .deleteFrom('agent_execution_logs')
        .where('agent_name', '=', name)
        .executeTakeFirst();
      const none = await k
        .deleteFrom('agent_execution_logs')
        .where('agent_name', '=', name)
        .executeTakeFirst();
      results.push([
        insert.numInsertedOrUpdatedRows,
        update.numUpdatedRows,
        del.numDeletedRows,
        none.numDeletedRows,
      ]);
    }
    expect(results[0]).toEqual([3n, 3n, 3n, 0n]);
    expect(results[0]).toEqual(results[1]);
  });
});

describe('transactions', () => {
  it('db.transaction() commits what it did', async () => {
    const name = `${tag}-commit`;
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('agent_execution_logs')
        .values({ correlation_id: randomUUID(), agent_name: name })
        .execute();
      const inside = await trx
        .selectFrom('agent_execution_logs')
        .select('agent_name')
        .where('agent_name', '=', name)
        .execute();
      expect(inside).toHaveLength(1);
      // Not visible outside before COMMIT.
      expect(
        await direct
          .selectFrom('agent_execution_logs')
          .select('agent_name')
          .where('agent_name', '=', name)
          .execute(),
      ).toHaveLength(0);
    });
    expect(
      await direct
        .selectFrom('agent_execution_logs')
        .select('agent_name')
        .where('agent_name', '=', name)
        .execute(),
    ).toHaveLength(1);
  });

  it('a transaction that throws leaves no trace in the tables', async () => {
    const name = `${tag}-rollback`;
    await expect(
      db.transaction().execute(async (trx) => {
        await trx
          .insertInto('agent_execution_logs')
          .values({ correlation_id: randomUUID(), agent_name: name })
          .execute();
        await trx
          .updateTable('agent_routing_decisions')
          .set({ reasoning: 'changed' })
          .where('selected_agent', '=', tag)
          .execute();
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(
      await direct
        .selectFrom('agent_execution_logs')
        .select('agent_name')
        .where('agent_name', '=', name)
        .execute(),
    ).toHaveLength(0);
    expect(
      await direct
        .selectFrom('agent_routing_decisions')
        .select('reasoning')
        .where('selected_agent', '=', tag)
        .where('reasoning', '=', 'changed')
        .execute(),
    ).toHaveLength(0);
  });

  it('savepoints: rollbackToSavepoint undoes only what followed the savepoint', async () => {
    const name = `${tag}-savepoint`;
    const trx = await db.startTransaction().execute();
    await trx
      .insertInto('agent_execution_logs')
      .values({ correlation_id: randomUUID(), agent_name: name, status: 'kept' })
      .execute();
    const sp = await trx.savepoint('before_second').execute();
    await sp
      .insertInto('agent_execution_logs')
      .values({ correlation_id: randomUUID(), agent_name: name, status: 'undone' })
      .execute();
    const back = await sp.rollbackToSavepoint('before_second').execute();
    await back.commit().execute();
    expect(
      await direct
        .selectFrom('agent_execution_logs')
        .select('status')
        .where('agent_name', '=', name)
        .execute(),
    ).toEqual([{ status: 'kept' }]);
  });

  it('an error inside the transaction aborts it: COMMIT reports AbortedTransactionError', async () => {
    const trx = await db.startTransaction().execute();
    await expect(sql`SELECT 1/0`.execute(trx)).rejects.toMatchObject({
      code: 'DATABASE_OPERATION_FAILED',
      sqlstate: '22012',
    });
    await expect(trx.commit().execute()).rejects.toBeInstanceOf(AbortedTransactionError);
  });

  it("a killed client's transaction is rolled back within its idle timeout; its id then reads as expired", async () => {
    const [row] = await direct
      .insertInto('agent_execution_logs')
      .values({ correlation_id: randomUUID(), agent_name: `${tag}-locked`, status: 'before' })
      .returning('execution_id')
      .execute();
    const doomed = await bridge.client();
    const tx = await doomed.beginTransaction({ idleTimeoutMs: 1500 });
    await doomed.request(
      {
        operation_type: 'EXECUTE',
        sql: `UPDATE agent_execution_logs SET status = 'during' WHERE execution_id = $1`,
        params: [row?.execution_id],
      },
      { transaction: tx },
    );
    await doomed.stop(); // dies without COMMIT or ROLLBACK

    // The row stays locked until the adapter rolls the transaction back, then it is free, unchanged.
    const probe = new pg.Client({ connectionString: stack().databaseUrl });
    await probe.connect();
    try {
      await probe.query(`SET lock_timeout = '200ms'`);
      let free = false;
      const deadline = Date.now() + 15_000;
      while (!free && Date.now() < deadline) {
        free = await probe
          .query(`UPDATE agent_execution_logs SET status = status WHERE execution_id = $1`, [
            row?.execution_id,
          ])
          .then(() => true)
          .catch(() => false);
      }
      expect(free).toBe(true);
      const { rows } = await probe.query('SELECT status FROM agent_execution_logs WHERE execution_id = $1', [
        row?.execution_id,
      ]);
      expect(rows).toEqual([{ status: 'before' }]);
      const idle = await probe.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'idle in transaction' AND application_name = 'dbbridge-adapter'`,
      );
      expect(idle.rows[0].n).toBe(0);
    } finally {
      await probe.end();
    }
    const late = await client
      .request({ operation_type: 'SELECT', sql: 'SELECT 1' }, { transaction: tx })
      .catch((e) => e);
    expect(late).toBeInstanceOf(DatabaseError);
    expect(late).toMatchObject({ code: 'VALIDATION_ERROR', errorType: 'TransactionExpired' });
    const unknown = await client
      .request({ operation_type: 'SELECT', sql: 'SELECT 1' }, { transaction: { id: 'tx-nope', key: 'k' } })
      .catch((e) => e);
    expect(unknown).toMatchObject({ code: 'VALIDATION_ERROR', errorType: 'UnknownTransaction' });
  });

  it('an atomic batch applies all statements or none', async () => {
    const name = `${tag}-batch`;
    const ok = await client.batch([
      {
        sql: 'INSERT INTO agent_execution_logs (agent_name, correlation_id) VALUES ($1, $2)',
        params: [name, randomUUID()],
      },
      { sql: 'UPDATE agent_execution_logs SET status = $1 WHERE agent_name = $2', params: ['batched', name] },
      { sql: 'SELECT status FROM agent_execution_logs WHERE agent_name = $1', params: [name] },
    ]);
    expect(ok.map((r) => [r.command, r.rowCount])).toEqual([
      ['INSERT', 1],
      ['UPDATE', 1],
      ['SELECT', 1],
    ]);
    expect(ok[2]?.rows).toEqual([{ status: 'batched' }]);
    const error = await client
      .batch([
        {
          sql: 'INSERT INTO agent_execution_logs (agent_name, correlation_id) VALUES ($1, $2)',
          params: [`${name}-2`, randomUUID()],
        },
        {
          sql: 'INSERT INTO agent_execution_logs (agent_name, correlation_id) VALUES ($1, $2)',
          params: [`${name}-2`, 'not-a-uuid'],
        },
      ])
      .catch((e) => e);
    expect(error).toMatchObject({ code: 'DATABASE_OPERATION_FAILED', sqlstate: '22P02', statementIndex: 1 });
    expect(
      await direct
        .selectFrom('agent_execution_logs')
        .select('agent_name')
        .where('agent_name', '=', `${name}-2`)
        .execute(),
    ).toHaveLength(0);
  });
});

describe('large results', () => {
  it('a 20 MB result streams in chunks with bounded client memory', async () => {
    const big = sql<{
      g: number;
      payload: string;
    }>`SELECT g, repeat(md5(g::text), 32) AS payload FROM generate_series(1, 20000) g`;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const baseline = process.memoryUsage().heapUsed;
    let peak = 0;
    let count = 0;
    let bytes = 0;
    let chunks = 0;
    for await (const chunk of client.stream<{ g: number; payload: string }>(
      { operation_type: 'SELECT', sql: big.compile(db).sql },
      // Memory is under test, not speed: a slow reader on a loaded machine needs more than 10 s.
      { maxRows: 1_000_000, timeoutMs: 60_000 },
    )) {
      chunks++;
      for (const row of chunk) {
        expect(row.g).toBe(count + 1);
        count++;
        bytes += row.payload.length;
      }
      await new Promise((r) => setTimeout(r, 5)); // a slow reader: the adapter must not flood the client
      gc?.();
      peak = Math.max(peak, process.memoryUsage().heapUsed - baseline);
    }
    expect(count).toBe(20_000);
    expect(bytes).toBe(20_000 * 1024);
    expect(chunks).toBeGreaterThan(60);
    expect(client.lastStreamQueue?.maxQueued).toBeLessThanOrEqual(4);
    if (gc) expect(peak).toBeLessThan(12 * 1024 * 1024);
  });

  it('a result within the one-round-trip limit (max_rows <= 1000) still leaves in chunks', async () => {
    let count = 0;
    let chunks = 0;
    for await (const chunk of client.stream<{ g: number; payload: string }>(
      {
        operation_type: 'SELECT',
        sql: `SELECT g, repeat('x', 1024) AS payload FROM generate_series(1, 1200) g ORDER BY g`,
      },
      { maxRows: 1000 },
    )) {
      chunks++;
      for (const row of chunk) {
        count++;
        expect(row).toEqual({ g: count, payload: 'x'.repeat(1024) });
      }
    }
    expect(count).toBe(1000); // cut at max_rows
    expect(chunks).toBeGreaterThanOrEqual(4); // ~1 MB in chunks of ~256 KiB
    const cut = await client.request(
      { operation_type: 'SELECT', sql: `SELECT g FROM generate_series(1, 1200) g` },
      { maxRows: 1000 },
    );
    expect(cut.rows).toHaveLength(1000);
    expect(cut.truncated).toBe(true);
  });

  it('Kysely .stream() yields every row; execute() reassembles a chunked result', async () => {
    const query = sql<{
      g: number;
      payload: string;
    }>`SELECT g, repeat('y', 2000) AS payload FROM generate_series(1, 3000) g`;
    const all = await query.execute(db);
    expect(all.rows).toHaveLength(3000);
    expect(all.rows[2999]).toEqual({ g: 3000, payload: 'y'.repeat(2000) });
    let seen = 0;
    for await (const row of db
      .selectFrom(sql<{ g: number }>`(SELECT generate_series(1, 5000) AS g)`.as('t'))
      .select('t.g')
      .stream()) {
      seen++;
      expect(row.g).toBe(seen);
    }
    expect(seen).toBe(5000);
  });

  it('a result beyond the configured maximum fails with a clear error, and nothing hangs', async () => {
    const small = await startBridge('kysely-limit', { adapter: { maxResultBytes: 1024 * 1024 } });
    try {
      const limited = await small.client();
      const error = await limited
        .query(`SELECT repeat('z', 1000) FROM generate_series(1, 5000)`, [], { maxRows: 1_000_000 })
        .catch((e) => e);
      expect(error).toMatchObject({
        code: 'DATABASE_OPERATION_FAILED',
        errorType: 'ResultTooLarge',
        sqlstate: '54000',
      });
    } finally {
      await small.close();
    }
  });
});

describe('codegen', () => {
  it('through the bus (no database credentials) and through a direct connection produce the same, committed file', async () => {
    const [viaBus, viaPg] = await Promise.all([renderViaBus(client), renderDirect(stack().databaseUrl)]);
    expect(viaBus).toBe(viaPg);
    expect(readFileSync(GENERATED_FILE, 'utf8')).toBe(viaPg);
  });
});
