/**
 * Per-service policies (issue 9 §3) against the real broker and PostgreSQL: identity from the topic a
 * request arrived on, each service's statements checked on the parse tree (tables read and written,
 * wherever named) and run as its own role, its share of transactions its own; an identity without a
 * policy is refused, and a bad policy file stops the adapter before it starts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTER_ROLE, localPolicy, SERVICE_ROLES } from '../../scripts/stack/roles.js';
import { type PolicyFile, parsePolicy } from '../../src/adapter/policy.js';
import { serviceTopicNames } from '../../src/events/topics.js';
import { DatabaseError, DatabaseEventClient, type Transaction } from '../../src/index.js';
import { ensureTopics } from '../../src/transport/kafka-admin.js';
import { spawnAdapter } from '../helpers/adapter-child.js';
import {
  createTopics,
  kafkaAdmin,
  type RunningAdapter,
  stack,
  startAdapter,
  uniqueEnv,
} from '../helpers/bridge.js';

const env = uniqueEnv('policy');
const suffix = `${process.pid.toString(36)}_${Date.now().toString(36)}`;
/** Tables and roles of this run (roles are the cluster's: unique names, dropped afterwards). */
const t = { x: `pol_x_${suffix}`, y: `pol_y_${suffix}`, z: `pol_z_${suffix}` };
const role = { a: `pol_a_${suffix}`, b: `pol_b_${suffix}`, c: `pol_c_${suffix}` };

const policy: PolicyFile = {
  version: 1,
  services: {
    // Reads x and y, writes y only.
    'svc-a': {
      role: role.a,
      operations: ['SELECT', 'QUERY', 'EXECUTE', 'INSERT', 'BEGIN', 'COMMIT', 'ROLLBACK'],
      statements: ['select', 'insert', 'update', 'delete', 'merge'],
      read: [t.x, t.y],
      write: [t.y],
      limits: { transactions: 2, connections: 3 },
    },
    // Reads and writes x.
    'svc-b': {
      role: role.b,
      operations: ['SELECT', 'EXECUTE', 'INSERT', 'BEGIN', 'COMMIT', 'ROLLBACK'],
      statements: ['select', 'insert'],
      read: [t.x],
      write: [t.x],
      limits: { transactions: 2, connections: 3, maxRows: 2 },
    },
    // The policy lets it read z; its role holds no privilege on z.
    'svc-c': {
      role: role.c,
      operations: ['SELECT'],
      statements: ['select'],
      read: [t.z],
      write: [],
      limits: { connections: 2 },
    },
  },
};

let owner: pg.Pool;
let running: RunningAdapter;
const clients: DatabaseEventClient[] = [];

async function client(service: string | undefined): Promise<DatabaseEventClient> {
  const c = new DatabaseEventClient({
    bootstrapServers: stack().bootstrapServers,
    topicEnv: env,
    maxRetries: 0,
    enableCircuitBreaker: false,
    requestTimeoutMs: 20_000,
    ...(service === undefined ? {} : { service, ownTopics: true }),
  });
  clients.push(c);
  await c.start();
  return c;
}

/**
 * The first answer to `sql` while the adapter's group may still be joining (and a client's view of
 * topics created a moment ago may still be catching up): retried until a deadline, the last error
 * thrown after it.
 */
async function firstAnswer(c: DatabaseEventClient, sql: string): Promise<unknown[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await c.query(sql, [], { timeoutMs: 3000 });
    } catch (error) {
      if (error instanceof DatabaseError || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** The rejection of `promise` as a DatabaseError (fails the test if it resolves). */
async function failure(promise: Promise<unknown>): Promise<DatabaseError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DatabaseError);
  return error as DatabaseError;
}

async function rowsOf(table: string): Promise<number> {
  const { rows } = await owner.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(rows[0]?.n);
}

beforeAll(async () => {
  owner = new pg.Pool({ connectionString: stack().databaseOwnerUrl, max: 2 });
  await owner.query(
    [
      ...Object.values(t).map((name) => `CREATE TABLE ${name} (id serial PRIMARY KEY, v text)`),
      ...Object.values(role).map((r) => `CREATE ROLE ${r} NOLOGIN`),
      `GRANT USAGE ON SCHEMA public TO ${Object.values(role).join(', ')}`,
      // The adapter's login role may take them (SET), without their privileges (NOINHERIT).
      `GRANT ${Object.values(role).join(', ')} TO ${ADAPTER_ROLE} WITH INHERIT FALSE, SET TRUE`,
      `GRANT SELECT ON ${t.x}, ${t.y} TO ${role.a}`,
      `GRANT INSERT ON ${t.y} TO ${role.a}`,
      `GRANT USAGE ON SEQUENCE ${t.y}_id_seq TO ${role.a}`,
      `GRANT SELECT, INSERT ON ${t.x} TO ${role.b}`,
      `GRANT USAGE ON SEQUENCE ${t.x}_id_seq TO ${role.b}`,
      // Exactly-once writes record their reply as the service's role (requests never name the table).
      `GRANT SELECT, INSERT, UPDATE ON dbbridge_idempotency TO ${Object.values(role).join(', ')}`,
      // role c: nothing on z.
      `INSERT INTO ${t.x} (v) VALUES ('x1'), ('x2'), ('x3')`,
      `INSERT INTO ${t.z} (v) VALUES ('secret')`,
    ].join(';\n'),
  );
  await createTopics(env, 4, 1);
  const admin = kafkaAdmin();
  await admin.connect();
  try {
    for (const service of ['svc-a', 'svc-b', 'svc-c', 'svc-d'])
      await ensureTopics(admin, serviceTopicNames(env, service), {
        requestPartitions: 1,
        replyPartitions: 4,
      });
  } finally {
    await admin.disconnect();
  }
  // svc-d's topic is consumed (DBBRIDGE_SERVICES) but has no policy; neither have the shared topics.
  running = await startAdapter(env, { name: 'policy', adapter: { policy, services: ['svc-d'], poolMax: 4 } });
  // The group may still be joining: poll one round trip with a deadline.
  expect(await firstAnswer(await client('svc-a'), 'SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.stop().catch(() => {})));
  await running?.close();
  await owner
    ?.query(
      [
        ...Object.values(t).map((name) => `DROP TABLE IF EXISTS ${name}`),
        ...Object.values(role).map((r) => `DROP OWNED BY ${r}; DROP ROLE IF EXISTS ${r}`),
      ].join(';\n'),
    )
    .catch(() => {});
  await owner?.end();
}, 60_000);

describe('per-service policy', () => {
  it("runs each service's statements as its policy's role", async () => {
    const a = await client('svc-a');
    const b = await client('svc-b');
    expect(await a.query('SELECT current_user AS who, session_user AS login')).toEqual([
      { who: role.a, login: ADAPTER_ROLE },
    ]);
    expect(await b.query('SELECT current_user AS who')).toEqual([{ who: role.b }]);
    // A write runs on the read-write pool, as the role too.
    const { rows } = await a.request<{ who: string }>({
      operation_type: 'EXECUTE',
      sql: `WITH w AS (INSERT INTO ${t.y} (v) VALUES ('by a') RETURNING v) SELECT current_user AS who FROM w`,
    });
    const [row] = rows;
    expect(row).toEqual({ who: role.a });
  });

  it('refuses a write to a table the service may only read, also inside a CTE or a subquery', async () => {
    const a = await client('svc-a');
    const before = await rowsOf(t.x);
    for (const sql of [
      `INSERT INTO ${t.x} (v) VALUES ('no')`,
      `WITH w AS (INSERT INTO ${t.x} (v) VALUES ('no') RETURNING id) SELECT id FROM w`,
      `INSERT INTO ${t.y} (v) SELECT v FROM (WITH w AS (UPDATE ${t.x} SET v = 'no' RETURNING v) SELECT v FROM w) s`,
      `DELETE FROM ${t.x} WHERE id IN (SELECT id FROM ${t.y})`,
    ]) {
      const error = await failure(a.request({ operation_type: 'EXECUTE', sql }));
      expect(error.code).toBe('VALIDATION_ERROR');
      expect(error.errorType).toBe('PolicyDenied');
      expect(error.sqlstate).toBe('42501');
      expect(error.message).toContain(`writing table ${t.x}`);
      expect(error.executed).toBe(false);
    }
    // A table operation (the adapter builds the INSERT) is checked the same way.
    const built = await failure(a.insert(t.x, { v: 'no' }));
    expect(built.errorType).toBe('PolicyDenied');
    expect(await rowsOf(t.x)).toBe(before);
    // What it may do still works.
    expect(await a.execute(`INSERT INTO ${t.y} (v) SELECT v FROM ${t.x} WHERE id = 1`)).toBe(1);
  });

  it('refuses a table that is not in its lists, wherever the statement names it', async () => {
    const a = await client('svc-a');
    for (const sql of [
      `SELECT * FROM ${t.z}`,
      `SELECT * FROM ${t.x} WHERE id IN (SELECT id FROM ${t.z})`,
      `WITH s AS (SELECT v FROM ${t.z}) SELECT * FROM s`,
      `SELECT * FROM ${t.x}, LATERAL (SELECT v FROM public.${t.z} WHERE ${t.z}.id = ${t.x}.id) l`,
    ]) {
      const error = await failure(a.query(sql));
      expect(error.errorType).toBe('PolicyDenied');
      expect(error.message).toContain(`reading table`);
      expect(error.message).toContain(t.z);
    }
    // A CTE's own name is not a table; the catalogs stay readable.
    expect(await a.query(`WITH s AS (SELECT v FROM ${t.x} WHERE id = 1) SELECT v FROM s`)).toEqual([
      { v: 'x1' },
    ]);
    const [catalog] = await a.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_catalog.pg_class WHERE relname = $1',
      [t.z],
    );
    expect(catalog).toEqual({ n: 1 });
  });

  it('refuses statement kinds and operations the policy leaves out, and applies its limits', async () => {
    const b = await client('svc-b');
    const kind = await failure(b.request({ operation_type: 'EXECUTE', sql: `UPDATE ${t.x} SET v = v` }));
    expect(kind.errorType).toBe('PolicyDenied');
    expect(kind.message).toContain('UPDATE statements');
    const operation = await failure(b.request({ operation_type: 'DELETE', table: t.x, where: { id: 1 } }));
    expect(operation.errorType).toBe('PolicyDenied');
    expect(operation.message).toContain('operation DELETE');
    // maxRows 2: a request for 100 gets 2 (and says it was cut).
    const result = await b.request({
      operation_type: 'SELECT',
      sql: `SELECT v FROM ${t.x} ORDER BY id`,
      options: { max_rows: 100 },
    });
    expect(result.rows).toHaveLength(2);
    expect(result.metadata.truncated).toBe(true);
  });

  it("fails in the database when the role lacks the privilege the policy grants (the adapter's check passed)", async () => {
    const c = await client('svc-c');
    const error = await failure(c.query(`SELECT v FROM ${t.z}`));
    expect(error.code).toBe('DATABASE_OPERATION_FAILED');
    expect(error.errorType).toBe('PostgresError');
    expect(error.sqlstate).toBe('42501'); // permission denied for table
    expect(error.reason).toContain('permission denied');
  });

  it("one service holding its share of transactions does not block another's BEGIN", async () => {
    const a = await client('svc-a');
    const b = await client('svc-b');
    const held: [DatabaseEventClient, Transaction][] = [];
    try {
      for (let i = 0; i < 2; i++) held.push([a, await a.beginTransaction({ idleTimeoutMs: 60_000 })]);
      const third = await failure(a.beginTransaction());
      expect(third.errorType).toBe('TooManyTransactions');
      expect(third.retryable).toBe(true);
      const tx = await b.beginTransaction();
      held.push([b, tx]);
      // B's transaction runs as B's role, on B's connections.
      const { rows } = await b.request<{ who: string }>(
        { operation_type: 'SELECT', sql: 'SELECT current_user AS who' },
        { transaction: tx },
      );
      const [row] = rows;
      expect(row).toEqual({ who: role.b });
    } finally {
      for (const [c, tx] of held) await c.rollbackTransaction(tx).catch(() => {});
    }
    // Its share is free again; connections reset after a transaction (DISCARD ALL) keep the role.
    for (let i = 0; i < 4; i++) {
      const tx = await a.beginTransaction();
      const { rows } = await a.request<{ who: string }>(
        { operation_type: 'SELECT', sql: 'SELECT current_user AS who' },
        { transaction: tx },
      );
      expect(rows).toEqual([{ who: role.a }]);
      await a.rollbackTransaction(tx);
    }
  });

  it("another service's idempotency key is its own: it never hands over the first one's recorded reply", async () => {
    const a = await client('svc-a');
    const b = await client('svc-b');
    const key = crypto.randomUUID();
    // An EXECUTE is recorded (it may write); both policies allow this one.
    const sql = `SELECT v, current_user AS who FROM ${t.x} WHERE id = 1`;
    const first = await b.request({ operation_type: 'EXECUTE', sql }, { idempotencyKey: key });
    expect(first.rows).toEqual([{ v: 'x1', who: role.b }]);
    const again = await b.request({ operation_type: 'EXECUTE', sql }, { idempotencyKey: key });
    expect(again.metadata.replayed).toBe(true);
    // svc-a sends the same content under the same key (read off the bus, say): keys are kept per
    // identity, so it runs as itself, under a record of its own, and never gets B's reply.
    const mine = await a.request({ operation_type: 'EXECUTE', sql }, { idempotencyKey: key });
    expect(mine.rows).toEqual([{ v: 'x1', who: role.a }]);
    expect(mine.metadata.replayed).not.toBe(true);
    const mineAgain = await a.request({ operation_type: 'EXECUTE', sql }, { idempotencyKey: key });
    expect(mineAgain.metadata.replayed).toBe(true);
    expect(mineAgain.rows).toEqual([{ v: 'x1', who: role.a }]);
  });

  it('refuses an identity that has no policy: a service without one, and the shared topics', async () => {
    for (const c of [await client('svc-d'), await client(undefined)]) {
      const error = await failure(c.query('SELECT 1 AS ok'));
      expect(error.code).toBe('VALIDATION_ERROR');
      expect(error.errorType).toBe('UnknownIdentity');
      expect(error.executed).toBe(false);
    }
  });
});

describe("the local stack's service roles", () => {
  it("carry the grants their policy (the secured stack's policy.json) names", async () => {
    const stackEnv = uniqueEnv('policy-stack');
    await createTopics(stackEnv, 4, 1);
    const admin = kafkaAdmin();
    await admin.connect();
    try {
      for (const service of Object.keys(SERVICE_ROLES))
        await ensureTopics(admin, serviceTopicNames(stackEnv, service), {
          requestPartitions: 1,
          replyPartitions: 4,
        });
    } finally {
      await admin.disconnect();
    }
    const adapter = await startAdapter(stackEnv, {
      name: 'policy-stack',
      adapter: { policy: parsePolicy(localPolicy()), sharedTopics: false, poolMax: 2 },
    });
    const own = (service: string) =>
      new DatabaseEventClient({
        bootstrapServers: stack().bootstrapServers,
        topicEnv: stackEnv,
        maxRetries: 0,
        enableCircuitBreaker: false,
        requestTimeoutMs: 20_000,
        service,
        ownTopics: true,
      });
    const a = own('service-a');
    const b = own('service-b');
    clients.push(a, b);
    try {
      await Promise.all([a.start(), b.start()]);
      expect(await firstAnswer(a, 'SELECT current_user AS who')).toEqual([
        { who: SERVICE_ROLES['service-a'].role },
      ]);
      // service-a writes (an exactly-once write: its role records the reply too), service-b reads only.
      const tag = `policy-stack-${suffix}`;
      const inserted = await a.insert<{ execution_id: string }>('agent_execution_logs', {
        correlation_id: crypto.randomUUID(),
        agent_name: 'agent-policy',
        status: 'in_progress',
        project_name: tag,
      });
      expect(inserted?.execution_id).toBeTypeOf('string');
      expect(
        await b.query(
          'SELECT current_user AS who, count(*)::int AS n FROM agent_execution_logs WHERE project_name = $1 GROUP BY 1',
          [tag],
        ),
      ).toEqual([{ who: SERVICE_ROLES['service-b'].role, n: 1 }]);
      const refused = await failure(
        b.execute('DELETE FROM agent_execution_logs WHERE project_name = $1', [tag]),
      );
      expect(refused.errorType).toBe('PolicyDenied');
      expect(await a.execute('DELETE FROM agent_execution_logs WHERE project_name = $1', [tag])).toBe(1);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await adapter.close();
    }
  }, 120_000);
});

describe('policy file', () => {
  it('an adapter given a bad policy file refuses to start, naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbbridge-policy-'));
    const file = join(dir, 'policy.json');
    writeFileSync(
      file,
      JSON.stringify({ version: 1, services: { 'svc-a': { role: 'Robert; DROP', limits: { maxRows: 0 } } } }),
    );
    const started = spawnAdapter(uniqueEnv('policy-bad'), { DBBRIDGE_POLICY: file });
    const error = await started.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/adapter did not start/);
    expect(error?.message).toContain('services.svc-a.role');
    expect(error?.message).toContain('services.svc-a.limits.maxRows');
    expect(error?.message).toContain(file);
  }, 90_000);
});
