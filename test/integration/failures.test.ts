/** Every failure is an answer: clear errors with codes, never a hang, a crash or a half-written table. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseError, DatabaseEventClient, TimeoutError, TransportError } from '../../src/index.js';
import { type Bridge, startBridge } from '../helpers/bridge.js';
import { rawKafka } from '../helpers/raw-kafka.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../helpers/stack.js';

let bridge: Bridge;
let db: DatabaseEventClient;

beforeAll(async () => {
  bridge = await startBridge('fail');
  db = await bridge.client();
});
afterAll(async () => {
  await bridge?.close();
});

/** Rows of `table` where `column` = `value`: what one test wrote, whatever the others did. */
async function count(table: string, column: string, value: unknown) {
  return Number(
    (await bridge.pg.query(`SELECT count(*) FROM ${table} WHERE ${column} = $1`, [value])).rows[0].count,
  );
}

describe('SQL and validation errors come back within the round trip', () => {
  it('a syntax error is DATABASE_OPERATION_FAILED with SQLSTATE 42601, not a timeout', async () => {
    const error = await db
      .query('SELET * FROM agent_execution_logs', [], { timeoutMs: 10_000 })
      .catch((e) => e);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).toMatchObject({
      code: 'DATABASE_OPERATION_FAILED',
      sqlstate: '42601',
      errorType: 'PostgresError',
      position: '1',
    });
    expect(error.message).toBe('DATABASE_OPERATION_FAILED: syntax error at or near "SELET"');
  });

  it('an unknown column in insert is a VALIDATION_ERROR and nothing is written', async () => {
    const correlationId = randomUUID();
    const error = await db
      .insert('agent_execution_logs', { agent_name: 'x', correlation_id: correlationId, no_such_column: 1 })
      .catch((e) => e);
    expect(error).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(error.reason).toMatch(/unknown column "no_such_column"/);
    expect(await count('agent_execution_logs', 'correlation_id', correlationId)).toBe(0);
    // The control: without the unknown column the same row is written (and seen by the count).
    await db.insert('agent_execution_logs', { agent_name: 'x', correlation_id: correlationId });
    expect(await count('agent_execution_logs', 'correlation_id', correlationId)).toBe(1);
    await expect(db.insert('no_such_table', { a: 1 })).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
  });

  it('a constraint violation carries SQLSTATE, constraint and detail, and writes nothing', async () => {
    const correlationId = randomUUID();
    const error = await db
      .insert('agent_routing_decisions', {
        correlation_id: correlationId,
        user_request: 'r',
        selected_agent: 'a',
        confidence_score: 1.5,
        routing_strategy: 's',
      })
      .catch((e) => e);
    expect(error).toMatchObject({
      code: 'DATABASE_OPERATION_FAILED',
      sqlstate: '23514',
      table: 'agent_routing_decisions',
    });
    expect(error.constraint).toBeTruthy();
    expect(await count('agent_routing_decisions', 'correlation_id', correlationId)).toBe(0);
  });

  it('UPDATE and DELETE with an empty where are refused', async () => {
    await expect(db.update('agent_execution_logs', { status: 'x' }, {})).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
    });
    await expect(db.delete('agent_execution_logs', {})).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
  });

  it('a SELECT request cannot write: not by DELETE, not by a writing CTE, not inside a function', async () => {
    await expect(db.query('DELETE FROM agent_execution_logs')).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
    });
    await expect(
      db.query('WITH d AS (DELETE FROM agent_execution_logs RETURNING *) SELECT count(*) FROM d'),
    ).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    await bridge.pg.query(`CREATE OR REPLACE FUNCTION dbbridge_test_write() RETURNS int LANGUAGE sql AS $$
      INSERT INTO agent_execution_logs (agent_name, correlation_id) VALUES ('sneaky', gen_random_uuid()) RETURNING 1 $$`);
    const before = await count('agent_execution_logs', 'agent_name', 'sneaky');
    await expect(db.query('SELECT dbbridge_test_write()')).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      sqlstate: '25006',
    });
    expect(await count('agent_execution_logs', 'agent_name', 'sneaky')).toBe(before);
  });

  it('EXECUTE refuses session changes and, by default, DDL', async () => {
    const marker = `ddl-${randomUUID()}`;
    await bridge.pg.query('INSERT INTO agent_execution_logs (agent_name, correlation_id) VALUES ($1, $2)', [
      marker,
      randomUUID(),
    ]);
    await expect(db.execute('SET statement_timeout = 0')).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    await expect(db.execute('DROP TABLE agent_execution_logs')).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
    });
    await expect(
      db.execute(`SELECT 1; DELETE FROM agent_execution_logs WHERE agent_name = '${marker}'`),
    ).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      reason: expect.stringMatching(/exactly one SQL statement/),
    });
    // The table is still there, with the row the second statement would have deleted.
    expect(await count('agent_execution_logs', 'agent_name', marker)).toBe(1);
  });

  it('max_rows caps the rows and flags the cut', async () => {
    const result = await db.request(
      { operation_type: 'SELECT', sql: 'SELECT g FROM generate_series(1, 10) g' },
      { maxRows: 4 },
    );
    expect(result.rows).toEqual([{ g: 1 }, { g: 2 }, { g: 3 }, { g: 4 }]);
    expect(result.truncated).toBe(true);
    const all = await db.request({ operation_type: 'SELECT', sql: 'SELECT g FROM generate_series(1, 10) g' });
    expect(all.rows).toHaveLength(10);
    expect(all.truncated).toBe(false);
  });

  it('timeout_ms becomes the statement timeout; the connection is healthy afterwards', async () => {
    // The statement timeout (800 ms) is shorter than the wait for the reply (10 s): the adapter's answer decides.
    const error = await db
      .request(
        { operation_type: 'SELECT', sql: 'SELECT pg_sleep(5)', options: { timeout_ms: 800 } },
        { timeoutMs: 10_000 },
      )
      .catch((e) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ code: 'TIMEOUT_ERROR', sqlstate: '57014' });
    expect(error.message).toMatch(
      /^Request timeout after 800ms: canceling statement due to statement timeout/,
    );
    const rows = await Promise.all(
      Array.from({ length: 12 }, (_, i) => db.query('SELECT $1::int AS i', [i])),
    );
    expect(rows.map((r) => r[0]?.i)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('a request whose deadline passed is dropped by the adapter unanswered', async () => {
    const raw = await rawKafka('deadline');
    try {
      const before = bridge.adapter.stats.expired;
      const id = randomUUID();
      await raw.send(
        bridge.topics.requested,
        JSON.stringify({
          event_id: randomUUID(),
          event_type: 'DATABASE_QUERY_REQUESTED',
          correlation_id: id,
          timestamp: new Date().toISOString(),
          service: 'test',
          deadline: new Date(Date.now() - 1000).toISOString(),
          payload: { operation_type: 'SELECT', sql: 'SELECT 1' },
        }),
      );
      for (let i = 0; i < 200 && bridge.adapter.stats.expired === before; i++)
        await new Promise((r) => setTimeout(r, 25));
      expect(bridge.adapter.stats.expired).toBe(before + 1);
    } finally {
      await raw.close();
    }
  });
});

describe('when parts are missing', () => {
  it('start() fails with a TransportError when the broker cannot be reached', async () => {
    const client = new DatabaseEventClient({ bootstrapServers: '127.0.0.1:1' });
    const error = await client.start().catch((e) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(error.message).toMatch(/Kafka/);
  });

  it('with the adapter stopped, a query raises TimeoutError after its timeout', async () => {
    const idle = await startBridge('no-adapter', { adapterRunning: false });
    try {
      const client = await idle.client();
      const error = await client.query('SELECT 1', [], { timeoutMs: 1500 }).catch((e) => e);
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error).toMatchObject({ code: 'REQUEST_TIMEOUT', timeoutMs: 1500 });
      expect(error.message).toBe('Request timeout after 1500ms');
    } finally {
      await idle.close();
    }
  });

  it('calls that get no reply never open the client breaker: each is sent and times out on its own', async () => {
    const idle = await startBridge('client-breaker', { adapterRunning: false });
    try {
      // Without the adapter nothing answers; the requests wait in the topic for whichever adapter
      // takes their partition. The breaker counts only an adapter's report that PostgreSQL is down.
      const client = await idle.client({ circuitBreaker: { failureThreshold: 2, resetTimeoutMs: 60_000 } });
      for (let i = 0; i < 4; i++)
        await expect(client.query('SELECT 1', [], 300)).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });
      expect(client.circuitBreakerState).toBe('CLOSED');
    } finally {
      await idle.close();
    }
  });
});

describe('PostgreSQL outage', () => {
  let pgServer: ThrowawayPostgres;
  let outage: Bridge;

  beforeAll(async () => {
    pgServer = await startThrowawayPostgres(`outage-${process.pid}`);
    outage = await startBridge('outage', {
      adapter: {
        databaseUrl: pgServer.url,
        breaker: { failureThreshold: 2, resetTimeoutMs: 1500 },
        connectionTimeoutMs: 2000,
      },
    });
  });
  afterAll(async () => {
    await outage?.close();
    await pgServer?.destroy();
  });

  it('DATABASE_CONNECTION_FAILED, then CIRCUIT_BREAKER_OPEN, then recovery when PostgreSQL returns', async () => {
    const client = await outage.client({ enableCircuitBreaker: false });
    expect(await client.query('SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
    await pgServer.stop();

    const codes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const error = await client.query('SELECT 1 AS ok').catch((e) => e);
      expect(error).toBeInstanceOf(DatabaseError);
      codes.push(error.code);
    }
    expect(codes).toEqual([
      'DATABASE_CONNECTION_FAILED',
      'DATABASE_CONNECTION_FAILED',
      'CIRCUIT_BREAKER_OPEN',
    ]);
    expect(outage.adapter.breakerState).toBe('OPEN');

    await pgServer.start();
    let result: unknown;
    for (let i = 0; i < 60 && result === undefined; i++) {
      result = await client.query('SELECT 1 AS ok').catch(() => undefined);
      if (result === undefined) await new Promise((r) => setTimeout(r, 250));
    }
    expect(result).toEqual([{ ok: 1 }]);
    expect(outage.adapter.breakerState).toBe('CLOSED');
  });

  it('reads and writes that provably did not run are retried with backoff; the seed breaker message matches', async () => {
    const delays: number[] = [];
    const client = await outage.client({
      enableCircuitBreaker: false,
      maxRetries: 2,
      retry: { initialRetryTime: 1000, multiplier: 2, jitter: 0.2 },
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    await pgServer.stop();
    try {
      const error = await client
        .insert('agent_execution_logs', { agent_name: 'retry', correlation_id: randomUUID() })
        .catch((e) => e);
      expect(error).toBeInstanceOf(DatabaseError);
      expect(['DATABASE_CONNECTION_FAILED', 'CIRCUIT_BREAKER_OPEN']).toContain(error.code);
      expect(error.executed).toBe(false);
      expect(delays).toHaveLength(2);
      expect(delays[0]).toBeGreaterThanOrEqual(800);
      expect(delays[0]).toBeLessThanOrEqual(1200);
      expect(delays[1]).toBeGreaterThanOrEqual(1600);
      expect(delays[1]).toBeLessThanOrEqual(2400);
    } finally {
      await pgServer.start();
    }
  });
});

describe('deadlines', () => {
  it('a write whose deadline passes while it waits for a connection is not run', async () => {
    // One connection: a slow statement holds it while a short-deadline INSERT waits behind it.
    const small = await startBridge('deadline', { adapter: { poolMax: 1 } });
    try {
      const client = await small.client();
      const row = (id: string) => ({
        id,
        correlation_id: randomUUID(),
        user_request: 'deadline test',
        selected_agent: 'agent-deadline',
        confidence_score: 0.5,
        routing_strategy: 'test',
        routing_time_ms: 1,
      });
      const stored = async (id: string) =>
        (await small.pg.query('SELECT count(*)::int AS n FROM agent_routing_decisions WHERE id = $1', [id]))
          .rows[0].n;
      // The control: the same insert, not held up, is written.
      const control = randomUUID();
      await client.insert('agent_routing_decisions', row(control));
      expect(await stored(control)).toBe(1);

      const marker = `deadline-${randomUUID()}`;
      const slow = client.request(
        { operation_type: 'EXECUTE', sql: `SELECT pg_sleep(1.2) /* ${marker} */` },
        { timeoutMs: 10_000 },
      );
      // Wait until the sleep holds the only connection (seen in pg_stat_activity), not a fixed time.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const { rows } = await small.pg.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1`,
          [`%${marker}%`],
        );
        if (rows[0].n > 0) break;
        if (Date.now() > deadline) throw new Error('the slow statement never started');
        await new Promise((r) => setTimeout(r, 20));
      }
      const id = randomUUID();
      const error = await client
        .insert('agent_routing_decisions', row(id), { timeoutMs: 400 })
        .catch((e) => e);
      expect(error).toBeInstanceOf(TimeoutError);
      await slow;
      // The INSERT waited for the one connection before this query did: once this one is answered,
      // the INSERT has run or been dropped, whatever the machine's speed.
      expect(await client.query('SELECT 1 AS after')).toEqual([{ after: 1 }]);
      expect(await stored(id)).toBe(0);
      await small.pg.query('DELETE FROM agent_routing_decisions WHERE id = $1', [control]);
    } finally {
      await small.close();
    }
  });
});
