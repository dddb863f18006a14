/**
 * The adapter's database circuit breaker against a real PostgreSQL that goes away (issue 8 §5): it
 * opens within its threshold, lets one probe through when its reset time is up, closes once a probe
 * succeeds after recovery, and a late success of a request admitted before it opened does not close
 * it. (500 caller SQL errors never opening it: `hostile-input.test.ts`.) On a PostgreSQL of the
 * test's own, so the shared stack's database is never down.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTER_ROLE } from '../../scripts/stack/roles.js';
import { DatabaseError, type DatabaseEventClient } from '../../src/index.js';
import { type Bridge, startBridge } from '../helpers/bridge.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../helpers/stack.js';

let server: ThrowawayPostgres;
let owner: pg.Pool;

beforeAll(async () => {
  server = await startThrowawayPostgres(`breaker-${process.pid}`);
  owner = new pg.Pool({ connectionString: server.ownerUrl, max: 2 });
  owner.on('error', () => {}); // its idle connections end with each outage
});
afterAll(async () => {
  await owner?.end();
  await server?.destroy();
});

/** The code of a failed call, or `ok`. */
const outcome = (call: Promise<unknown>) =>
  call.then(
    () => 'ok',
    (e) => {
      if (!(e instanceof DatabaseError)) throw e;
      return e.code;
    },
  );

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    expect(Date.now(), `${what} within ${timeoutMs} ms`).toBeLessThan(deadline);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('PostgreSQL down', () => {
  let bridge: Bridge;
  let client: DatabaseEventClient;

  beforeAll(async () => {
    bridge = await startBridge('breaker', {
      adapter: {
        databaseUrl: server.url,
        breaker: { failureThreshold: 3, resetTimeoutMs: 3000 },
        connectionTimeoutMs: 2000,
      },
    });
    // No client breaker: every code is the adapter's own answer.
    client = await bridge.client({ enableCircuitBreaker: false });
  });
  afterAll(async () => {
    await bridge?.close();
  });

  it('opens after exactly its threshold, lets one probe through, and closes after recovery', async () => {
    expect(await client.query('SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
    await server.stop();
    try {
      const codes: string[] = [];
      for (let i = 0; i < 4; i++) codes.push(await outcome(client.query('SELECT 1 AS ok')));
      expect(codes).toEqual([
        'DATABASE_CONNECTION_FAILED',
        'DATABASE_CONNECTION_FAILED',
        'DATABASE_CONNECTION_FAILED',
        'CIRCUIT_BREAKER_OPEN',
      ]);
      expect(bridge.adapter.breakerState).toBe('OPEN');

      // Reset time up: one request goes through to PostgreSQL (and fails), the rest are refused.
      await until('half open', () => bridge.adapter.breakerState === 'HALF_OPEN');
      const probes = await Promise.all(
        Array.from({ length: 5 }, () => outcome(client.query('SELECT 1 AS ok'))),
      );
      expect(probes.filter((c) => c === 'DATABASE_CONNECTION_FAILED')).toHaveLength(1);
      expect(probes.filter((c) => c === 'CIRCUIT_BREAKER_OPEN')).toHaveLength(4);
      expect(bridge.adapter.breakerState).toBe('OPEN');
    } finally {
      await server.start();
    }
    // Recovery: the next probe succeeds and closes it; meanwhile only the two coded refusals.
    const seen = new Set<string>();
    await until(
      'an answer after recovery',
      async () => {
        const code = await outcome(client.query('SELECT 1 AS ok'));
        seen.add(code);
        return code === 'ok';
      },
      60_000,
    );
    expect(
      [...seen].filter(
        (c) => c !== 'ok' && c !== 'CIRCUIT_BREAKER_OPEN' && c !== 'DATABASE_CONNECTION_FAILED',
      ),
    ).toEqual([]);
    expect(bridge.adapter.breakerState).toBe('CLOSED');
    const burst = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.query('SELECT $1::int AS i', [i])),
    );
    expect(burst.map((rows) => rows[0]?.i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });
});

describe('a late success', () => {
  let bridge: Bridge;
  let client: DatabaseEventClient;

  beforeAll(async () => {
    bridge = await startBridge('breaker-late', {
      adapter: {
        databaseUrl: server.url,
        // Open long enough that the slow statement ends while it is still open.
        breaker: { failureThreshold: 3, resetTimeoutMs: 60_000 },
        connectionTimeoutMs: 2000,
      },
    });
    client = await bridge.client({ enableCircuitBreaker: false });
  });
  afterAll(async () => {
    await owner.query(`ALTER ROLE ${ADAPTER_ROLE} LOGIN`);
    await bridge?.close();
  });

  it('of a request admitted before the breaker opened does not close it', async () => {
    expect(await client.query('SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
    const slow = client.query<{ s: string }>("SELECT 'slept' AS s FROM pg_sleep(4)", [], {
      timeoutMs: 30_000,
    });
    let sleeper: number | undefined;
    await until('the slow statement running', async () => {
      const { rows } = await owner.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE usename = $1 AND state = 'active' AND query LIKE '%pg_sleep(4)%'",
        [ADAPTER_ROLE],
      );
      sleeper = rows[0]?.pid;
      return sleeper !== undefined;
    });
    // PostgreSQL refuses the adapter's new connections (and drops its idle ones); the slow
    // statement's session lives on.
    await owner.query(`ALTER ROLE ${ADAPTER_ROLE} NOLOGIN`);
    await owner.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> $2',
      [ADAPTER_ROLE, sleeper],
    );
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) codes.push(await outcome(client.query('SELECT 1 AS ok')));
    expect(codes).toEqual(Array(3).fill('DATABASE_CONNECTION_FAILED'));
    expect(bridge.adapter.breakerState).toBe('OPEN');

    expect(await slow).toEqual([{ s: 'slept' }]); // succeeded, after the breaker opened
    expect(bridge.adapter.breakerState).toBe('OPEN');
    expect(await outcome(client.query('SELECT 1 AS ok'))).toBe('CIRCUIT_BREAKER_OPEN');
  });
});
