/** The adapter as a process: started from the environment, and on SIGTERM it answers what is in flight, then exits 0. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseEventClient } from '../../src/index.js';
import { DatabaseEventClient as Client } from '../../src/index.js';
import { createTopics, stack, uniqueEnv } from '../helpers/bridge.js';

const root = join(import.meta.dirname, '..', '..');
let child: ChildProcess;
let logs = '';
let client: DatabaseEventClient;
let direct: pg.Pool;
const env = uniqueEnv('proc');

beforeAll(async () => {
  await createTopics(env);
  direct = new pg.Pool({ connectionString: stack().databaseUrl, max: 2 });
  child = spawn(join(root, 'node_modules/.bin/node'), ['--import', 'tsx', 'src/adapter/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      KAFKA_BOOTSTRAP_SERVERS: stack().bootstrapServers,
      DATABASE_URL: stack().databaseUrl,
      DBBRIDGE_ENV: env,
      DBBRIDGE_ADAPTER_GROUP: `adapter-${env}`,
      DBBRIDGE_LOG_LEVEL: 'debug',
      DBBRIDGE_HTTP_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr?.on('data', (d) => {
    logs += d;
  });
  const deadline = Date.now() + 60_000;
  while (!logs.includes('adapter ready')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`adapter did not start:\n${logs}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  client = new Client({ bootstrapServers: stack().bootstrapServers, topicEnv: env, maxRetries: 0 });
  await client.start();
});

afterAll(async () => {
  await client?.stop();
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await direct?.end();
});

/** The adapter's log lines (JSON), parsed. */
function logLines(): Record<string, unknown>[] {
  return logs
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The operations endpoint's base URL, from the adapter's log. */
function operationsUrl(): string {
  const url = logLines().find((l) => l.msg === 'operations endpoints')?.url;
  if (typeof url !== 'string') throw new Error(`no operations endpoint logged:\n${logs}`);
  return url;
}

describe('adapter process', () => {
  it('serves /healthz, /readyz (once it holds partitions and the database answers) and Prometheus /metrics', async () => {
    const base = operationsUrl();
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    let ready: { status: number; body: { ready: boolean; reasons: string[] } } | undefined;
    const deadline = Date.now() + 30_000;
    do {
      const response = await fetch(`${base}/readyz`);
      ready = {
        status: response.status,
        body: (await response.json()) as { ready: boolean; reasons: string[] },
      };
      if (ready?.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < deadline);
    expect(ready).toEqual({ status: 200, body: { ready: true, reasons: [] } });

    const secret = `param-value-${env}`;
    await client.query('SELECT $1::text AS v', [secret]);
    await client.query('SELECT $1::text AS v', [secret]);
    await expect(client.query('SELECT * FROM no_such_table')).rejects.toMatchObject({
      code: 'DATABASE_OPERATION_FAILED',
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const completed = /dbbridge_requests_total\{operation="SELECT",outcome="completed",code=""\} (\d+)/.exec(
      metrics,
    );
    expect(Number(completed?.[1])).toBeGreaterThanOrEqual(2);
    expect(metrics).toMatch(
      /dbbridge_requests_total\{operation="SELECT",outcome="failed",code="DATABASE_OPERATION_FAILED"\} 1\b/,
    );
    expect(metrics).toMatch(
      /dbbridge_request_duration_seconds_count\{phase="total",operation="SELECT"\} \d+/,
    );
    expect(metrics).toMatch(/dbbridge_pool_connections\{pool="read",state="total"\} [1-9]/);
    expect(metrics).toMatch(/dbbridge_circuit_breaker_state 0\b/);
    expect(metrics).toMatch(/dbbridge_consumer_partitions [1-9]/);
    // Everything sent was answered: nothing waits behind the adapter (end offsets read from the broker).
    expect(metrics).toMatch(/^dbbridge_consumer_lag 0$/m);
    // One debug line per request, with its correlation id, and never the parameter values.
    expect(logLines().filter((l) => l.msg === 'request')).toContainEqual(
      expect.objectContaining({
        level: 'debug',
        correlationId: expect.any(String),
        operation: 'SELECT',
        outcome: 'failed',
        code: 'DATABASE_OPERATION_FAILED',
        durationMs: expect.any(Number),
      }),
    );
    expect(logs).not.toContain(secret);
  });

  it('answers, and on SIGTERM finishes and answers the requests in flight before exiting 0', async () => {
    expect(await client.query('SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
    const marker = `inflight-${env}`;
    const pending = Array.from({ length: 5 }, (_, i) =>
      client.query<{ i: number }>(`SELECT pg_sleep(1.5), $1::int AS i, '${marker}' AS m`, [i], {
        timeoutMs: 20_000,
      }),
    );
    // Wait until all five are running on PostgreSQL, then ask the adapter to stop.
    for (let n = 0; n < 5; ) {
      const { rows } = await direct.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()`,
        [`%${marker}%`],
      );
      n = rows[0].n;
      await new Promise((r) => setTimeout(r, 20));
    }
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    // While it drains, probes are told it is going away; metrics still answer.
    const base = operationsUrl();
    let health = 200;
    for (const deadline = Date.now() + 5000; health === 200 && Date.now() < deadline; ) {
      health = (await fetch(`${base}/healthz`)).status;
    }
    expect(health).toBe(503);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
    const results = await Promise.all(pending);
    expect(results.map((r) => r[0]?.i)).toEqual([0, 1, 2, 3, 4]);
    expect(await exited).toBe(0);
    expect(logs).toContain('"msg":"adapter stopped"');
    // No adapter is left: a new request is not answered.
    await expect(client.query('SELECT 1', [], 1000)).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });
  });
});
