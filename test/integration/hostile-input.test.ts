/**
 * One request fails alone, never the process: a battery of hostile requests, each published raw to
 * Kafka (as any client could) against the adapter running as a real child process. Every case gets
 * a coded failed reply or a correct answer (or, when it names no usable correlation id, goes to
 * the dead-letter topic: `skipped` below), the process stays alive, the next normal request succeeds, and after a restart no
 * hostile request is read again.
 */
import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseError, DatabaseEventClient } from '../../src/index.js';
import { type AdapterChild, spawnAdapter } from '../helpers/adapter-child.js';
import { createTopics, stack, uniqueEnv } from '../helpers/bridge.js';
import { rawKafka } from '../helpers/raw-kafka.js';

const env = uniqueEnv('hostile');
const REPLY_PARTITIONS = 24;
const REQUEST_PARTITIONS = 6;
let topics: Awaited<ReturnType<typeof createTopics>>;
let adapter: AdapterChild;
let db: DatabaseEventClient;
let raw: Awaited<ReturnType<typeof rawKafka>>;
let replies: Awaited<ReturnType<Awaited<ReturnType<typeof rawKafka>>['collect']>>;

beforeAll(async () => {
  topics = await createTopics(env, REPLY_PARTITIONS, REQUEST_PARTITIONS);
  adapter = await spawnAdapter(env);
  db = new DatabaseEventClient({ bootstrapServers: stack().bootstrapServers, topicEnv: env, maxRetries: 0 });
  await db.start();
  raw = await rawKafka(`hostile-${process.pid}`);
  replies = await raw.collect([topics.completed, topics.failed]);
});

afterAll(async () => {
  await db?.stop();
  await raw?.close();
  await adapter?.stop();
});

/** A seed-format request; `change` edits the parsed object (set a field to `undefined` to drop it). */
function request(cid: string, payload: Record<string, unknown>, change: Record<string, unknown> = {}) {
  return JSON.stringify({
    event_id: randomUUID(),
    event_type: 'DATABASE_QUERY_REQUESTED',
    correlation_id: cid,
    timestamp: new Date().toISOString(),
    service: 'hostile-test',
    payload,
    ...change,
  });
}

const select1 = { operation_type: 'SELECT', sql: 'SELECT 1 AS ok' };
const nested = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};
const manyParams = (n: number) => Array.from({ length: n }, (_, i) => i % 10);

type Outcome = 'completed' | 'VALIDATION_ERROR' | 'DATABASE_OPERATION_FAILED' | 'skipped';

/** name, the message (given its correlation id), what must come of it. One case per line. */
// biome-ignore format: a table, one case per line
const CASES: [string, (cid: string) => string | Buffer, Outcome][] = [
  ['max_rows 2**32 on an UPDATE', (c) => request(c, { operation_type: 'EXECUTE', sql: 'UPDATE agent_execution_logs SET agent_name = agent_name WHERE false', options: { max_rows: 2 ** 32 } }), 'completed'],
  ['max_rows 1e15', (c) => request(c, { ...select1, options: { max_rows: 1e15 } }), 'completed'],
  ['max_rows 2**31', (c) => request(c, { ...select1, options: { max_rows: 2 ** 31 } }), 'completed'],
  ['max_rows 2**31 - 1', (c) => request(c, { ...select1, options: { max_rows: 2 ** 31 - 1 } }), 'completed'],
  ['max_rows 1e300', (c) => request(c, { ...select1, options: { max_rows: 1e300 } }), 'VALIDATION_ERROR'],
  ['max_rows -1', (c) => request(c, { ...select1, options: { max_rows: -1 } }), 'VALIDATION_ERROR'],
  ['max_rows 0', (c) => request(c, { ...select1, options: { max_rows: 0 } }), 'VALIDATION_ERROR'],
  ['max_rows 1.5', (c) => request(c, { ...select1, options: { max_rows: 1.5 } }), 'VALIDATION_ERROR'],
  ['max_rows "10"', (c) => request(c, { ...select1, options: { max_rows: '10' } }), 'VALIDATION_ERROR'],
  ['timeout_ms 0', (c) => request(c, { ...select1, options: { timeout_ms: 0 } }), 'VALIDATION_ERROR'],
  ['timeout_ms 1e12', (c) => request(c, { ...select1, options: { timeout_ms: 1e12 } }), 'VALIDATION_ERROR'],
  ['timeout_ms 2.5', (c) => request(c, { ...select1, options: { timeout_ms: 2.5 } }), 'VALIDATION_ERROR'],
  ['reply_partition -1', (c) => request(c, select1, { reply_partition: -1 }), 'VALIDATION_ERROR'],
  ['reply_partition 1.5', (c) => request(c, select1, { reply_partition: 1.5 }), 'VALIDATION_ERROR'],
  ['reply_partition "3"', (c) => request(c, select1, { reply_partition: '3' }), 'VALIDATION_ERROR'],
  ['reply_partition = partition count', (c) => request(c, select1, { reply_partition: REPLY_PARTITIONS }), 'VALIDATION_ERROR'],
  ['reply_partition count + 5 (not modulo)', (c) => request(c, select1, { reply_partition: REPLY_PARTITIONS + 5 }), 'VALIDATION_ERROR'],
  ['reply_partition 2**31', (c) => request(c, select1, { reply_partition: 2 ** 31 }), 'VALIDATION_ERROR'],
  ['65,536 parameters', (c) => request(c, { operation_type: 'SELECT', sql: 'SELECT $1::int AS a', params: manyParams(65_536) }), 'VALIDATION_ERROR'],
  ['65,535 parameters for a one-parameter statement (08P01)', (c) => request(c, { operation_type: 'SELECT', sql: 'SELECT $1::int AS a', params: manyParams(65_535) }), 'DATABASE_OPERATION_FAILED'],
  ['a placeholder with no parameter ($70000)', (c) => request(c, { operation_type: 'SELECT', sql: 'SELECT $70000::int AS a' }), 'DATABASE_OPERATION_FAILED'],
  ['NUL inside the SQL text', (c) => request(c, { operation_type: 'SELECT', sql: 'SELECT 1\u0000; DROP TABLE x' }), 'VALIDATION_ERROR'],
  ['NUL inside a text parameter', (c) => request(c, { operation_type: 'SELECT', sql: 'SELECT $1::text AS t', params: ['a\u0000b'] }), 'DATABASE_OPERATION_FAILED'],
  ['SQL of 1,000,001 characters', (c) => request(c, { operation_type: 'SELECT', sql: `SELECT 1${' '.repeat(999_993)}` }), 'VALIDATION_ERROR'],
  ['SQL of 999,000 characters naming no table (reply cut to fit)', (c) => request(c, { operation_type: 'SELECT', sql: `SELECT 1 FROM ${'a'.repeat(998_986)}` }), 'DATABASE_OPERATION_FAILED'],
  ['a 20 MB result, unchunked, max_rows 1e6 (not held in memory)', (c) => request(c, { operation_type: 'SELECT', sql: "SELECT repeat('x', 1000) AS x FROM generate_series(1, 20000)", options: { max_rows: 1e6 } }), 'DATABASE_OPERATION_FAILED'],
  ['a parameter nested 1,000 deep', (c) => request(c, { operation_type: 'SELECT', sql: 'SELECT $1::text AS t', params: [nested(1000)] }), 'VALIDATION_ERROR'],
  ['INSERT data nested 1,000 deep', (c) => request(c, { operation_type: 'INSERT', table: 'agent_execution_logs', data: { metadata: nested(1000) } }), 'VALIDATION_ERROR'],
  ['INSERT data with 70,000 columns', (c) => request(c, { operation_type: 'INSERT', table: 'agent_execution_logs', data: Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`c${i}`, 1])) }), 'VALIDATION_ERROR'],
  ['$in with 50,000 values (one array parameter)', (c) => request(c, { operation_type: 'QUERY', entity_type: 'agent_execution_logs', filters: { agent_name: { $in: Array.from({ length: 50_000 }, (_, i) => `n${i}`) } } }), 'completed'],
  ['$in with a number', (c) => request(c, { operation_type: 'QUERY', entity_type: 'agent_execution_logs', filters: { agent_name: { $in: 5 } } }), 'VALIDATION_ERROR'],
  ['unknown where operator $regex', (c) => request(c, { operation_type: 'QUERY', entity_type: 'agent_execution_logs', filters: { agent_name: { $regex: '.*' } } }), 'VALIDATION_ERROR'],
  ['SELECT from the recorded replies (dbbridge_idempotency)', (c) => request(c, { operation_type: 'SELECT', sql: 'SELECT reply FROM dbbridge_idempotency' }), 'VALIDATION_ERROR'],
  ['EXECUTE an UPDATE of the recorded replies', (c) => request(c, { operation_type: 'EXECUTE', sql: "UPDATE public.dbbridge_idempotency SET reply = '{}'" }), 'VALIDATION_ERROR'],
  ['QUERY the recorded replies as a table operation', (c) => request(c, { operation_type: 'QUERY', entity_type: 'dbbridge_idempotency', filters: {} }), 'VALIDATION_ERROR'],
  ['DELETE from the recorded replies as a table operation', (c) => request(c, { operation_type: 'DELETE', table: 'public.dbbridge_idempotency', where: { key: 'k' } }), 'VALIDATION_ERROR'],
  ['a table name that is SQL', (c) => request(c, { operation_type: 'DELETE', table: 'x"; DROP TABLE agent_execution_logs; --', where: { a: 1 } }), 'VALIDATION_ERROR'],
  ['UPDATE with an empty where', (c) => request(c, { operation_type: 'UPDATE', table: 'agent_execution_logs', data: { agent_name: 'x' }, where: {} }), 'VALIDATION_ERROR'],
  ['limit 1e15 on a table read', (c) => request(c, { operation_type: 'QUERY', entity_type: 'agent_execution_logs', filters: { agent_name: 'nobody-hostile' }, limit: 1e15 }), 'completed'],
  ['BATCH of 1,001 statements', (c) => request(c, { operation_type: 'BATCH', statements: Array.from({ length: 1001 }, () => ({ sql: 'SELECT 1' })) }), 'VALIDATION_ERROR'],
  ['BATCH statement with 65,536 parameters', (c) => request(c, { operation_type: 'BATCH', statements: [{ sql: 'SELECT 1' }, { sql: 'SELECT $1::int', params: manyParams(65_536) }] }), 'VALIDATION_ERROR'],
  ['COMMIT of an unknown transaction', (c) => request(c, { operation_type: 'COMMIT', transaction_id: 'no-such-transaction' }), 'VALIDATION_ERROR'],
  ['an unknown field nested 100,000 deep (ignored)', (c) => request(c, select1).replace(/}$/, `, "more": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`), 'completed'],
  ['event_id of 10,000 characters', (c) => request(c, select1, { event_id: 'e'.repeat(10_000) }), 'VALIDATION_ERROR'],
  ['client_id of 100,000 characters', (c) => request(c, select1, { client_id: 'x'.repeat(100_000) }), 'VALIDATION_ERROR'],
  ['timestamp of 100,000 characters', (c) => request(c, select1, { timestamp: 't'.repeat(100_000) }), 'VALIDATION_ERROR'],
  ['deadline that is not a date', (c) => request(c, select1, { deadline: 'tomorrow' }), 'VALIDATION_ERROR'],
  ['unknown operation_type', (c) => request(c, { operation_type: 'DROP', sql: 'SELECT 1' }), 'VALIDATION_ERROR'],
  ['payload is a string', (c) => request(c, 'SELECT 1' as unknown as Record<string, unknown>), 'VALIDATION_ERROR'],
  ['payload.params is an object', (c) => request(c, { ...select1, params: { 0: 1 } }), 'VALIDATION_ERROR'],
  ['not JSON, correlation id readable', (c) => `{"correlation_id": "${c}", "payload": `, 'VALIDATION_ERROR'],
  ['invalid UTF-8 bytes', (c) => Buffer.concat([Buffer.from(`{"correlation_id":"${c}",`), Buffer.from([0xff, 0xfe, 0xc0])]), 'VALIDATION_ERROR'],
  ['correlation id of 300 characters', () => request('c'.repeat(300), select1), 'skipped'],
  ['correlation id 42 (a number)', () => request(42 as unknown as string, select1), 'skipped'],
  ['JSON null', () => 'null', 'skipped'],
  ['JSON array', () => '[1,2,3]', 'skipped'],
  ['empty message', () => '', 'skipped'],
];

function skippedCount(): number {
  return adapter.logs().split('message dead-lettered').length - 1;
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Partition of the reply topics a key lands on (murmur2, as both transports and kafkajs choose it). */
function keyPartition(key: string): number {
  const partitionMetadata = Array.from({ length: REPLY_PARTITIONS }, (_, i) => ({
    partitionId: i,
    leader: 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
  }));
  return Partitioners.DefaultPartitioner()({
    topic: topics.failed,
    partitionMetadata,
    message: { key, value: null },
  });
}

const answered: string[] = [];

describe('hostile requests, raw on Kafka', () => {
  it.each(CASES.map(([name, build, outcome], i) => ({ i, name, build, outcome })))(
    '$name -> $outcome',
    async ({ i, build, outcome }) => {
      const cid = `hostile-${i}-${randomUUID()}`;
      const skippedBefore = skippedCount();
      await raw.send(topics.requested, build(cid), { key: cid });
      if (outcome === 'skipped') {
        await until('the skip to be logged', () => skippedCount() > skippedBefore);
      } else {
        const reply = await replies.waitFor((m) => m.value.correlation_id === cid);
        answered.push(cid);
        const payload = reply.value.payload as Record<string, unknown>;
        expect(Buffer.byteLength(JSON.stringify(reply.value))).toBeLessThan(64 * 1024);
        if (outcome === 'completed') {
          expect(reply.value.event_type, JSON.stringify(payload).slice(0, 500)).toBe(
            'DATABASE_QUERY_COMPLETED',
          );
        } else {
          expect(reply.value.event_type).toBe('DATABASE_QUERY_FAILED');
          expect(payload.error_code, String(payload.error_message)).toBe(outcome);
          expect(payload.retryable).toBe(false);
          expect((payload.metadata as Record<string, unknown>).circuit_breaker_state).toBe('CLOSED');
        }
        // A reply that cannot go to the named partition is keyed by correlation id, never taken modulo.
        expect(reply.partition).toBe(keyPartition(cid));
      }
      expect(adapter.alive()).toBe(true);
      expect(await db.query('SELECT 2 AS ok')).toEqual([{ ok: 2 }]);
    },
  );

  it('after a restart, no hostile request is read (or answered) again', async () => {
    const skipped = skippedCount();
    expect(skipped).toBeGreaterThanOrEqual(CASES.filter((c) => c[2] === 'skipped').length);
    expect(await adapter.stop()).toBe(0);
    adapter = await spawnAdapter(env);
    // One probe on every request partition: each partition is read in order, so the hostile
    // requests before a probe come (again) before it, if their offsets were not committed.
    const probes = Array.from({ length: REQUEST_PARTITIONS }, (_, p) => ({
      p,
      cid: `probe-${p}-${randomUUID()}`,
    }));
    for (const { p, cid } of probes) {
      await raw.send(topics.requested, request(cid, select1), { key: cid, partition: p });
    }
    for (const { cid } of probes) await replies.waitFor((m) => m.value.correlation_id === cid);
    for (const cid of answered) {
      expect(replies.received.filter((m) => m.value.correlation_id === cid)).toHaveLength(1);
    }
    expect(skippedCount()).toBe(0); // the new process's log
    expect(adapter.alive()).toBe(true);
  });
});

describe('hostile calls through the public API', () => {
  it('connections lost mid-statement, five in a row, do not open the adapter breaker while fresh ones answer', async () => {
    // Callers cannot end their own backend any more (pg_terminate_backend is refused by the sandbox,
    // see the battery): the loss comes from outside, as a failover or an operator would cause it.
    const owner = new pg.Client({ connectionString: stack().databaseOwnerUrl });
    await owner.connect();
    // No client breaker: the codes are the adapter's own answers.
    const victim = new DatabaseEventClient({
      bootstrapServers: stack().bootstrapServers,
      topicEnv: env,
      maxRetries: 0,
      enableCircuitBreaker: false,
    });
    await victim.start();
    try {
      const codes: string[] = [];
      for (let i = 0; i < 5; i++) {
        const marker = `lost-mid-statement-${env}-${i}`;
        const running = victim.query(`SELECT pg_sleep(30), '${marker}' AS m`).catch((e) => e);
        let terminated = false;
        for (const deadline = Date.now() + 15_000; !terminated && Date.now() < deadline; ) {
          const { rows } = await owner.query(
            `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()`,
            [`%${marker}%`],
          );
          terminated = rows.some((r: { done: boolean }) => r.done);
          if (!terminated) await new Promise((r) => setTimeout(r, 50));
        }
        expect(terminated).toBe(true);
        codes.push(String((await running).code));
      }
      // A fresh connection answered each time: the database is up (3 in a row opened the breaker).
      expect(codes).toEqual(Array(5).fill('DATABASE_CONNECTION_FAILED'));
      expect(await db.query('SELECT 4 AS ok')).toEqual([{ ok: 4 }]);
      expect(adapter.alive()).toBe(true);
    } finally {
      await victim.stop();
      await owner.end();
    }
  });

  it('maxRows 2**32 on an UPDATE answers 0 rows; the process lives', async () => {
    expect(
      await db.execute('UPDATE agent_execution_logs SET agent_name = agent_name WHERE false', [], {
        maxRows: 2 ** 32,
      }),
    ).toBe(0);
    expect(await db.query('SELECT 1 AS ok', [], { maxRows: 1e15 })).toEqual([{ ok: 1 }]);
    expect(adapter.alive()).toBe(true);
  });

  it('65,536 parameters are a VALIDATION_ERROR, not a retryable connection failure', async () => {
    const error = await db.query('SELECT $1::int AS a', manyParams(65_536)).catch((e) => e);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).toMatchObject({ code: 'VALIDATION_ERROR', retryable: false, executed: false });
    expect(adapter.alive()).toBe(true);
  });

  it('500 caller errors never open the adapter breaker; another client keeps getting answers', async () => {
    const other = new DatabaseEventClient({
      bootstrapServers: stack().bootstrapServers,
      topicEnv: env,
      maxRetries: 0,
    });
    await other.start();
    try {
      const codes = new Map<string, number>();
      const bad = (i: number) =>
        i % 50 === 0
          ? db.query('SELECT $1::int AS a', manyParams(65_536)) // refused before PostgreSQL
          : i % 50 === 1
            ? db.query('SELECT $1::int AS a', manyParams(65_535)) // 08P01 from PostgreSQL
            : i % 3 === 0
              ? db.query('SELECT 1 FROM no_such_table_hostile')
              : i % 3 === 1
                ? db.query('SELEC 1')
                : db.query('SELECT 1 / $1::int AS x', [0]);
      for (let start = 0; start < 500; start += 50) {
        const batch = Array.from({ length: 50 }, (_, k) =>
          bad(start + k).then(
            () => 'OK',
            (e) => String(e.code),
          ),
        );
        for (const code of await Promise.all(batch)) codes.set(code, (codes.get(code) ?? 0) + 1);
        expect(await other.query('SELECT 3 AS ok')).toEqual([{ ok: 3 }]);
      }
      expect(codes.get('DATABASE_CONNECTION_FAILED')).toBeUndefined();
      expect(codes.get('CIRCUIT_BREAKER_OPEN')).toBeUndefined();
      expect(codes.get('OK')).toBeUndefined();
      expect([...codes.values()].reduce((a, b) => a + b, 0)).toBe(500);
      expect(codes.get('VALIDATION_ERROR')).toBe(10);
      expect(adapter.alive()).toBe(true);
    } finally {
      await other.stop();
    }
  });
});
