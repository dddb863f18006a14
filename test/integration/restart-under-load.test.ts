/**
 * Faults mid-load (issue 8 §5), each against a component of the test's own so the shared stack stays
 * up: PostgreSQL restarted, the Kafka broker restarted, and an outage longer than the clients'
 * timeout. Writers insert rows with unique markers, retries on. Every call ends with one outcome, a
 * coded one, within the bound its retries allow; during a database outage calls fail fast (the
 * adapter's coded refusal, not a timeout); service resumes by itself; no session is left
 * `idle in transaction`; every acknowledged write is stored exactly once; and a request whose
 * client gave up before the adapter could read it never runs.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTER_ROLE } from '../../scripts/stack/roles.js';
import { DatabaseEventClient, type DatabaseEventClientOptions, DbBridgeError } from '../../src/index.js';
import {
  createTopics,
  type RunningAdapter,
  stack,
  startAdapter,
  transportKind,
  uniqueEnv,
} from '../helpers/bridge.js';
import { type CallRecord, callBoundMs, recoveryMs, startLoad, summarize } from '../helpers/load.js';
import {
  startThrowawayKafka,
  startThrowawayPostgres,
  type ThrowawayKafka,
  type ThrowawayPostgres,
} from '../helpers/stack.js';

const RETRY = { initialRetryTime: 300, multiplier: 2, maxRetryTime: 2000, jitter: 0.2 };
const TIMEOUT_MS = 5000;
const MAX_RETRIES = 3;
const BOUND_MS = callBoundMs({ timeoutMs: TIMEOUT_MS, maxRetries: MAX_RETRIES, ...RETRY, slackMs: 2000 });

function clientOptions(bootstrapServers: string, env: string): DatabaseEventClientOptions {
  return {
    bootstrapServers,
    topicEnv: env,
    requestTimeoutMs: TIMEOUT_MS,
    maxRetries: MAX_RETRIES,
    retry: RETRY,
    // The client's breaker is §3's subject: here every call shows what the fault itself does.
    enableCircuitBreaker: false,
  };
}

/** A table of the test's own for marker rows. */
async function createTable(pool: pg.Pool, name: string): Promise<string> {
  const table = `${name}_${process.pid}_${Date.now().toString(36)}`;
  await pool.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, marker text NOT NULL)`);
  return table;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    expect(Date.now(), `${what} within ${timeoutMs} ms`).toBeLessThan(deadline);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The checks every fault shares: outcomes coded and among `allowed`, no call past its bound, every
 * acknowledged marker stored once, no marker twice, nothing stored that no call wrote, no session
 * idle in a transaction. Returns the figures the test prints.
 */
async function verify(
  calls: readonly CallRecord[],
  o: {
    pool: pg.Pool;
    table: string;
    allowed: readonly string[];
    faultAt: number;
    /** When the server was back (its start resolved). */
    backAt: number;
    fault: string;
  },
) {
  const summary = summarize(calls);
  const failures = Object.keys(summary.outcomes).filter((k) => k !== 'ok');
  expect(
    failures.filter((k) => !o.allowed.includes(k)),
    JSON.stringify(summary.messages),
  ).toEqual([]);
  expect(summary.slowestMs).toBeLessThanOrEqual(BOUND_MS);

  const { rows } = await o.pool.query<{ marker: string; n: number }>(
    `SELECT marker, count(*)::int AS n FROM ${o.table} GROUP BY marker`,
  );
  const stored = new Map(rows.map((r) => [r.marker, r.n]));
  const acknowledged = calls.filter((c) => c.outcome === 'ok').map((c) => c.marker);
  const known = new Set(calls.map((c) => c.marker));
  expect(acknowledged.filter((m) => stored.get(m) !== 1)).toEqual([]); // lost
  expect(rows.filter((r) => r.n > 1).map((r) => r.marker)).toEqual([]); // applied twice
  expect(rows.filter((r) => !known.has(r.marker)).map((r) => r.marker)).toEqual([]);

  // Every call has been answered: no transaction may be left open on any of the adapter's sessions.
  const idle = async () =>
    (
      await o.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND state LIKE 'idle in transaction%'",
        [ADAPTER_ROLE],
      )
    ).rows[0]?.n;
  await until('no session idle in transaction', async () => (await idle()) === 0, 5000);

  const baseline = calls.filter((c) => c.endedAt < o.faultAt).map((c) => c.endedAt - c.startedAt);
  const figures = {
    fault: o.fault,
    transport: transportKind(),
    writes: calls.length,
    acknowledged: acknowledged.length,
    outcomes: summary.outcomes,
    duplicates: 0,
    lost: 0,
    longestGapMs: summary.longestGapMs,
    outageMs: o.backAt - o.faultAt,
    // From the server being back to the first write acknowledged after it.
    resumedAfterMs:
      Math.min(...calls.filter((c) => c.outcome === 'ok' && c.endedAt >= o.backAt).map((c) => c.endedAt)) -
      o.backAt,
    recoveryMs: recoveryMs(calls, o.faultAt, Math.max(1000, 3 * Math.max(...baseline))),
    slowestCallMs: summary.slowestMs,
  };
  process.stdout.write(`${o.fault}: ${JSON.stringify(figures)}\n`);
  return figures;
}

describe('PostgreSQL restarted mid-load', () => {
  let server: ThrowawayPostgres;
  let owner: pg.Pool;
  let adapter: RunningAdapter;
  let client: DatabaseEventClient;
  let table: string;

  beforeAll(async () => {
    server = await startThrowawayPostgres(`load-${process.pid}`);
    owner = new pg.Pool({ connectionString: server.ownerUrl, max: 2 });
    owner.on('error', () => {}); // its idle connections end with the restart
    table = await createTable(owner, 'pg_restart_rows');
    const env = uniqueEnv('pg-restart');
    await createTopics(env, 6, 6);
    adapter = await startAdapter(env, {
      name: 'pg-restart',
      adapter: {
        databaseUrl: server.url,
        poolMax: 8,
        connectionTimeoutMs: 2000,
        breaker: { failureThreshold: 3, resetTimeoutMs: 1000 },
      },
    });
    client = new DatabaseEventClient(clientOptions(stack().bootstrapServers, env));
    await client.start();
  });
  afterAll(async () => {
    await client?.stop();
    await adapter?.close();
    await owner?.end();
    await server?.destroy();
  });

  it('calls fail fast with a coded error or succeed; service resumes; nothing lost or doubled', async () => {
    const load = startLoad({
      prefix: 'pg',
      concurrency: 6,
      write: (marker) => client.execute(`INSERT INTO ${table} (marker) VALUES ($1)`, [marker]),
    });
    let calls: readonly CallRecord[] = [];
    let stoppedAt = 0;
    let backAt = 0;
    try {
      await load.waitForSuccesses(200, 60_000);
      stoppedAt = Date.now();
      await server.stop(); // fast shutdown: sessions end mid-statement, new connections are refused
      // Down until a call has used up its retries on the outage (each attempt refused at once).
      await until(
        'a call failed by the outage',
        () => load.calls.some((c) => c.endedAt >= stoppedAt && c.outcome !== 'ok'),
        30_000,
      );
      await server.start();
      backAt = Date.now();
      await load.waitForSuccesses(200, 90_000, backAt);
    } finally {
      calls = await load.stop();
    }
    // Fast: every attempt of a failed call was refused at once; none waited for its timeout.
    const failed = calls.filter((c) => c.outcome !== 'ok');
    expect(failed.length).toBeGreaterThan(0);
    expect(Math.max(...failed.map((c) => c.endedAt - c.startedAt))).toBeLessThan(TIMEOUT_MS);
    // Refused by the adapter (connection failed, breaker open), never a timeout.
    await verify(calls, {
      pool: owner,
      table,
      allowed: ['DATABASE_CONNECTION_FAILED', 'CIRCUIT_BREAKER_OPEN'],
      faultAt: stoppedAt,
      backAt,
      fault: 'PostgreSQL restart',
    });
  }, 240_000);
});

describe('Kafka restarted mid-load', () => {
  let kafka: ThrowawayKafka;
  let owner: pg.Pool;
  let adapter: RunningAdapter;
  let client: DatabaseEventClient;
  let table: string;

  beforeAll(async () => {
    kafka = await startThrowawayKafka(`load-${transportKind()}`);
    owner = new pg.Pool({ connectionString: stack().databaseOwnerUrl, max: 2 });
    table = await createTable(owner, 'kafka_restart_rows');
    const env = uniqueEnv('kafka-restart');
    await createTopics(env, 6, 6, kafka.bootstrapServers);
    adapter = await startAdapter(env, {
      name: 'kafka-restart',
      bootstrapServers: kafka.bootstrapServers,
      adapter: { poolMax: 8 },
    });
    client = new DatabaseEventClient(clientOptions(kafka.bootstrapServers, env));
    await client.start();
  }, 120_000);
  afterAll(async () => {
    await client?.stop();
    await adapter?.close();
    await kafka?.destroy();
    await owner?.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
    await owner?.end();
  }, 60_000);

  it('calls end with a coded error within their bound or succeed; service resumes; nothing lost or doubled', async () => {
    const load = startLoad({
      prefix: 'kafka',
      concurrency: 6,
      write: (marker) => client.execute(`INSERT INTO ${table} (marker) VALUES ($1)`, [marker]),
    });
    let calls: readonly CallRecord[] = [];
    let stoppedAt = 0;
    let backAt = 0;
    try {
      await load.waitForSuccesses(200, 60_000);
      stoppedAt = Date.now();
      await kafka.stop();
      // Down until a call has failed for it.
      await until(
        'a call failed by the outage',
        () => load.calls.some((c) => c.endedAt >= stoppedAt && c.outcome !== 'ok'),
        60_000,
      );
      await kafka.start();
      backAt = Date.now();
      await load.waitForSuccesses(200, 120_000, backAt);
    } finally {
      calls = await load.stop();
    }
    // With the broker gone a request cannot be sent (TRANSPORT_ERROR) or its reply cannot come back
    // (REQUEST_TIMEOUT, after the call's own timeout): both coded, both within the bound.
    await verify(calls, {
      pool: owner,
      table,
      allowed: ['TRANSPORT_ERROR', 'REQUEST_TIMEOUT'],
      faultAt: stoppedAt,
      backAt,
      fault: 'Kafka restart',
    });
  }, 300_000);
});

describe('an outage longer than the clients’ timeout', () => {
  const env = uniqueEnv('expired');
  let owner: pg.Pool;
  let first: RunningAdapter | undefined;
  let second: RunningAdapter | undefined;
  let client: DatabaseEventClient;
  let table: string;

  beforeAll(async () => {
    owner = new pg.Pool({ connectionString: stack().databaseOwnerUrl, max: 2 });
    table = await createTable(owner, 'expired_rows');
    // One request partition: the warm-up write leaves a committed offset on it, so the adapter that
    // comes back resumes there (a partition without one starts at its end, skipping what queued).
    await createTopics(env, 6, 1);
    first = await startAdapter(env, { name: 'expired-1' });
    client = new DatabaseEventClient({
      ...clientOptions(stack().bootstrapServers, env),
      maxRetries: 2,
      retry: { ...RETRY, initialRetryTime: 100 },
    });
    await client.start();
  });
  afterAll(async () => {
    await client?.stop();
    await first?.close();
    await second?.close();
    await owner?.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
    await owner?.end();
  });

  const count = async (marker: string) =>
    (await owner.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE marker = $1`, [marker]))
      .rows[0]?.n;

  it('none of the requests whose callers timed out runs when the adapter comes back', async () => {
    const insert = (marker: string, timeoutMs: number) =>
      client.execute(`INSERT INTO ${table} (marker) VALUES ($1)`, [marker], { timeoutMs });
    await insert('before', 5000);
    expect(await count('before')).toBe(1);
    await first?.close(); // the outage: requests queue in Kafka, no adapter reads them
    first = undefined;

    // The control: sent during the outage with a timeout that outlasts it, it runs afterwards.
    const control = insert('control', 60_000);
    const markers = Array.from({ length: 20 }, (_, i) => `expired-${i}`);
    const outcomes = await Promise.all(
      markers.map((m) =>
        insert(m, 1500).then(
          () => 'ok',
          (e) => (e instanceof DbBridgeError ? e.code : String(e)),
        ),
      ),
    );
    // Each call timed out on every attempt (3 attempts, the same idempotency key), and gave up.
    expect(outcomes).toEqual(markers.map(() => 'REQUEST_TIMEOUT'));

    second = await startAdapter(env, { name: 'expired-2' });
    await control;
    expect(await count('control')).toBe(1);
    // The 60 requests (20 calls x 3 attempts) were read and dropped unrun.
    await until('every expired attempt read', () => (second?.adapter.stats.expired ?? 0) >= 60, 60_000);
    expect(second.adapter.stats.expired).toBe(60);
    const { rows } = await owner.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table} WHERE marker LIKE 'expired-%'`,
    );
    expect(rows[0]?.n).toBe(0);
  }, 120_000);
});
