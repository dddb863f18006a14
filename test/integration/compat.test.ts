/** Drop-in facades: asyncpg-style and pg.Pool-style calls over the bus, checked against direct pg. */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AsyncpgConnection,
  BusPool,
  connectAsyncpg,
  DatabaseError,
  TimeoutError,
  toPgError,
} from '../../src/index.js';
import { type Bridge, stack, startBridge } from '../helpers/bridge.js';

let bridge: Bridge;
let conn: AsyncpgConnection;
let pool: BusPool;
const name = `compat-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  bridge = await startBridge('compat');
  const options = { bootstrapServers: stack().bootstrapServers, topicEnv: bridge.env };
  conn = await connectAsyncpg(options);
  pool = new BusPool(options);
});
afterAll(async () => {
  await conn?.close();
  await pool?.end();
  await bridge?.close();
});

describe('asyncpg-style connection', () => {
  it('fetch, fetchrow, fetchval, execute behave as asyncpg', async () => {
    expect(
      await conn.execute(
        'INSERT INTO agent_execution_logs (agent_name, correlation_id, duration_ms) VALUES ($1, $2, $3)',
        name,
        randomUUID(),
        5,
      ),
    ).toBe('INSERT 0 1');
    await conn.execute(
      'INSERT INTO agent_execution_logs (agent_name, correlation_id, duration_ms) VALUES ($1, $2, $3)',
      name,
      randomUUID(),
      7,
    );
    const sql = 'SELECT * FROM agent_execution_logs WHERE agent_name = $1 ORDER BY duration_ms';
    const rows = await conn.fetch(sql, name);
    expect(rows).toEqual((await bridge.pg.query(sql, [name])).rows);
    expect(await conn.fetchrow(sql, name)).toEqual(rows[0]);
    expect(await conn.fetchrow(sql, 'nobody')).toBeNull();
    expect(await conn.fetchval('SELECT count(*) FROM agent_execution_logs WHERE agent_name = $1', name)).toBe(
      '2',
    );
    expect(
      await conn.fetchval(
        'SELECT sum(duration_ms)::int AS total FROM agent_execution_logs WHERE agent_name = $1',
        name,
      ),
    ).toBe(12);
    expect(
      await conn.execute(`UPDATE agent_execution_logs SET status = 'done' WHERE agent_name = $1`, name),
    ).toBe('UPDATE 2');
  });

  it('transaction() commits, or rolls back when the callback throws', async () => {
    await expect(
      conn.transaction(async () => {
        await conn.execute('DELETE FROM agent_execution_logs WHERE agent_name = $1', name);
        expect(
          await conn.fetchval('SELECT count(*)::int FROM agent_execution_logs WHERE agent_name = $1', name),
        ).toBe(0);
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(
      await conn.fetchval('SELECT count(*)::int FROM agent_execution_logs WHERE agent_name = $1', name),
    ).toBe(2);
  });
});

describe('pg.Pool-style facade', () => {
  it('query(text, values) returns rows, rowCount, command and fields like pg', async () => {
    const sql =
      'SELECT execution_id, duration_ms, created_at FROM agent_execution_logs WHERE agent_name = $1 ORDER BY duration_ms';
    const viaBus = await pool.query(sql, [name]);
    const viaPg = await bridge.pg.query(sql, [name]);
    expect(viaBus.rows).toEqual(viaPg.rows);
    expect(viaBus.rowCount).toBe(viaPg.rowCount);
    expect(viaBus.command).toBe(viaPg.command);
    expect(viaBus.fields.map((f) => [f.name, f.dataTypeID])).toEqual(
      viaPg.fields.map((f) => [f.name, f.dataTypeID]),
    );
    const update = await pool.query({
      text: 'UPDATE agent_execution_logs SET status = $1 WHERE agent_name = $2',
      values: ['pg', name],
    });
    expect([update.command, update.rowCount]).toEqual(['UPDATE', 2]);
  });

  it('connect(): BEGIN / COMMIT / ROLLBACK through a checked-out client', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('UPDATE agent_execution_logs SET status = $1 WHERE agent_name = $2', [
        'in-tx',
        name,
      ]);
      await client.query('ROLLBACK');
      await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
      await client.query('UPDATE agent_execution_logs SET status = $1 WHERE agent_name = $2', [
        'committed',
        name,
      ]);
      expect((await client.query('COMMIT')).command).toBe('COMMIT');
    } finally {
      client.release();
    }
    expect(
      (
        await bridge.pg.query('SELECT DISTINCT status FROM agent_execution_logs WHERE agent_name = $1', [
          name,
        ])
      ).rows,
    ).toEqual([{ status: 'committed' }]);
  });

  it("PostgreSQL's errors are pg's own DatabaseError: err.code is the SQLSTATE, fields as pg has them", async () => {
    const id = randomUUID();
    const insert =
      'INSERT INTO agent_execution_logs (execution_id, agent_name, correlation_id) VALUES ($1, $2, $1)';
    await bridge.pg.query(insert, [id, name]);
    const failure = async (run: () => Promise<unknown>) => {
      try {
        await run();
      } catch (error) {
        return error as pg.DatabaseError;
      }
      throw new Error('expected a failure');
    };
    const fields = (e: pg.DatabaseError) => ({
      instance: e instanceof pg.DatabaseError,
      code: e.code,
      message: e.message,
      severity: e.severity,
      detail: e.detail,
      constraint: e.constraint,
      table: e.table,
    });
    const expected = fields(await failure(() => bridge.pg.query(insert, [id, name])));
    expect(expected).toMatchObject({
      instance: true,
      code: '23505',
      constraint: 'agent_execution_logs_pkey',
    });
    expect(fields(await failure(() => pool.query(insert, [id, name])))).toEqual(expected);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const inTx = await failure(() => client.query(insert, [id, name]));
      expect(fields(inTx)).toEqual(expected);
      expect((inTx as Error).cause).toBeInstanceOf(DatabaseError);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    const syntax = await failure(() => pool.query('SELET 1'));
    expect([syntax instanceof pg.DatabaseError, syntax.code, syntax.position]).toEqual([true, '42601', '1']);
    // Not PostgreSQL's: left as dbbridge's own errors.
    expect(toPgError(new TimeoutError(5))).toBeInstanceOf(TimeoutError);
  });
});
