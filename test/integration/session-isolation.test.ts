/**
 * Issue 9, the sandbox: what a request tries on a pooled connection does not reach the next request.
 * Through the bus (adapter + real PostgreSQL, one connection per pool, so every request runs on the
 * same backend): each trick, then a request on the same backend pid that shows nothing of it. And the
 * database on its own: as the adapter's role, with no validator in front, the same calls fail.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseEventClient } from '../../src/client/index.js';
import { type Bridge, stack, startBridge } from '../helpers/bridge.js';

/**
 * What a connection's session holds, read by a request on it. The adapter's own prepared statements
 * (`dbbridge_<generation>_<digest>`, `src/adapter/prepared.ts`) are its cache, not a request's leftovers.
 */
const STATE_SQL = `SELECT pg_backend_pid() AS pid,
  current_setting('search_path') AS search_path,
  current_setting('default_transaction_read_only') AS read_only,
  (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory')::int AS advisory_locks,
  (SELECT count(*) FROM pg_prepared_statements WHERE name !~ '^dbbridge_[0-9]+_[0-9a-f]{32}$')::int AS prepared,
  (SELECT count(*) FROM pg_listening_channels())::int AS listening,
  (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema())::int AS temp_objects,
  to_regclass('agent_execution_logs') = 'public.agent_execution_logs'::regclass AS real_table,
  (SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM pg_settings
    WHERE source = 'session' AND name <> 'statement_timeout') AS session_settings`;

interface SessionState {
  pid: number;
  search_path: string;
  read_only: string;
  advisory_locks: number;
  prepared: number;
  listening: number;
  temp_objects: number;
  real_table: boolean;
  session_settings: string[];
}

/** A fresh session as the pool opened it (`statement_timeout` is the adapter's own, per request). */
function clean(pid: number, readOnly: boolean): SessionState {
  return {
    pid,
    search_path: '"$user", public',
    read_only: readOnly ? 'on' : 'off',
    advisory_locks: 0,
    prepared: 0,
    listening: 0,
    temp_objects: 0,
    real_table: true,
    session_settings: [],
  };
}

/** The session state of the read pool's connection (SELECT) and of the write pool's (EXECUTE). */
async function states(client: DatabaseEventClient) {
  const read = await client.request<SessionState>({ operation_type: 'SELECT', sql: STATE_SQL });
  const write = await client.request<SessionState>({ operation_type: 'EXECUTE', sql: STATE_SQL });
  expect([read.rows.length, write.rows.length]).toEqual([1, 1]);
  return { read: read.rows[0] as SessionState, write: write.rows[0] as SessionState };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'answered',
    (error: { code?: string }) => error.code ?? 'no code',
  );
}

describe('nothing a request tries stays on the pooled connection (default adapter)', () => {
  let bridge: Bridge;
  let client: DatabaseEventClient;
  beforeAll(async () => {
    bridge = await startBridge('sandbox', { adapter: { poolMax: 1 } });
    client = await bridge.client();
  });
  afterAll(async () => {
    await bridge?.close();
  });

  const tricks: [string, 'SELECT' | 'EXECUTE', string][] = [
    [
      'temporary table shadowing a real one',
      'EXECUTE',
      'SELECT * INTO TEMP agent_execution_logs FROM agent_execution_logs WHERE false',
    ],
    ['CREATE TEMP TABLE', 'EXECUTE', 'CREATE TEMP TABLE agent_execution_logs (x int)'],
    ['SELECT INTO a table', 'EXECUTE', `SELECT 1 AS a INTO dbbridge_into_${randomUUID().slice(0, 8)}`],
    ['set_config statement_timeout', 'SELECT', "SELECT set_config('statement_timeout', '0', false)"],
    [
      'set_config read-only off',
      'SELECT',
      "SELECT set_config('default_transaction_read_only', 'off', false)",
    ],
    ['set_config search_path', 'EXECUTE', "SELECT pg_catalog.set_config('search_path', 'pg_catalog', false)"],
    ['SET', 'EXECUTE', 'SET search_path = pg_catalog'],
    ['PREPARE', 'EXECUTE', 'PREPARE dbbridge_trick AS SELECT 1'],
    ['LISTEN', 'EXECUTE', 'LISTEN dbbridge_trick'],
    ['advisory lock', 'SELECT', 'SELECT pg_advisory_lock(4242)'],
    [
      'advisory lock in a CTE',
      'EXECUTE',
      'WITH l AS (SELECT pg_try_advisory_lock(4243) AS ok) SELECT ok FROM l',
    ],
    ['pg_read_file', 'SELECT', "SELECT pg_read_file('/etc/passwd')"],
    ['lo_import', 'EXECUTE', "SELECT lo_import('/etc/passwd')"],
    ['lo_export', 'EXECUTE', "SELECT lo_export(1, '/tmp/dbbridge-lo-export')"],
    ['pg_terminate_backend', 'EXECUTE', 'SELECT pg_terminate_backend(pg_backend_pid())'],
  ];

  it('every trick is refused with VALIDATION_ERROR, and both connections (same pids) show nothing of them', async () => {
    const before = await states(client);
    expect(before.read).toEqual(clean(before.read.pid, true));
    expect(before.write).toEqual(clean(before.write.pid, false));
    for (const [name, operation_type, sql] of tricks) {
      // Several times, as the report did, so that any pooled connection would have got one.
      for (let i = 0; i < 3; i++) {
        expect(await codeOf(client.request({ operation_type, sql })), name).toBe('VALIDATION_ERROR');
      }
    }
    const after = await states(client);
    expect(after.read).toEqual(clean(before.read.pid, true));
    expect(after.write).toEqual(clean(before.write.pid, false));
  });

  it("another client's INSERT is stored in the real table after the shadowing attempt", async () => {
    const marker = `sandbox-${randomUUID()}`;
    const other = await bridge.client();
    for (let i = 0; i < 5; i++) {
      await other.insert('agent_execution_logs', { agent_name: marker, status: 'success' });
    }
    const { rows } = await bridge.pg.query(
      'SELECT count(*)::int AS n FROM public.agent_execution_logs WHERE agent_name = $1',
      [marker],
    );
    expect(rows).toEqual([{ n: 5 }]);
    await bridge.pg.query('DELETE FROM agent_execution_logs WHERE agent_name = $1', [marker]);
  });

  it('a function the schema owner installed that SETs, LISTENs and PREPAREs leaves nothing behind', async () => {
    // The validator cannot see into its body: the connection of every call is reset (SELECT and
    // EXECUTE: DISCARD ALL in the same write; transactions and batches: when they end).
    const fn = `dbbridge_owner_trick_${randomUUID().slice(0, 8)}`;
    await bridge.pg.query(`CREATE FUNCTION ${fn}() RETURNS int LANGUAGE plpgsql AS $$
      BEGIN
        EXECUTE 'SET search_path = pg_catalog';
        EXECUTE 'LISTEN dbbridge_trick';
        EXECUTE 'PREPARE dbbridge_trick AS SELECT 1';
        RETURN 1;
      END $$`);
    try {
      const before = await states(client);
      expect(await client.query(`SELECT ${fn}() AS n`)).toEqual([{ n: 1 }]);
      expect(await client.execute(`SELECT public.${fn}()`)).toBe(1);
      await client.transaction(async (tx) => {
        await tx.query(`SELECT ${fn}()`);
      });
      await client.batch([{ sql: `SELECT ${fn}()` }]);
      const after = await states(client);
      expect(after.read).toEqual(clean(before.read.pid, true));
      expect(after.write).toEqual(clean(before.write.pid, false));
    } finally {
      await bridge.pg.query(`DROP FUNCTION IF EXISTS ${fn}()`);
    }
  });

  it('the adapter runs as a role that is not a superuser', async () => {
    const rows = await client.query<{ user: string; superuser: boolean }>(
      'SELECT current_user AS user, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user',
    );
    expect(rows).toEqual([{ user: 'dbbridge_adapter', superuser: false }]);
  });
});

describe('an adapter that allows DDL resets each connection after every statement', () => {
  let bridge: Bridge;
  let client: DatabaseEventClient;
  const fn = `dbbridge_trick_${randomUUID().slice(0, 8)}`;
  beforeAll(async () => {
    bridge = await startBridge('sandbox-ddl', {
      adapter: { poolMax: 1, allowDdl: true, databaseUrl: stack().databaseDdlUrl },
    });
    client = await bridge.client();
  });
  afterAll(async () => {
    await bridge?.pg.query(`DROP FUNCTION IF EXISTS ${fn}()`);
    await bridge?.close();
  });

  it('a function created through the bus that SETs, LISTENs and PREPAREs leaves nothing behind', async () => {
    // No validator can see into a function body: here the reset is what protects the next request.
    await client.execute(`CREATE FUNCTION ${fn}() RETURNS int LANGUAGE plpgsql AS $$
      BEGIN
        EXECUTE 'SET search_path = pg_catalog';
        EXECUTE 'LISTEN dbbridge_trick';
        EXECUTE 'PREPARE dbbridge_trick AS SELECT 1';
        RETURN 1;
      END $$`);
    const before = await states(client);
    expect(await client.query(`SELECT public.${fn}() AS n`)).toEqual([{ n: 1 }]);
    expect(await client.execute(`SELECT public.${fn}()`)).toBe(1);
    await client.transaction(async (tx) => {
      await tx.query(`SELECT public.${fn}()`);
    });
    const after = await states(client);
    expect(after.read).toEqual(clean(before.read.pid, true));
    expect(after.write).toEqual(clean(before.write.pid, false));
  });
});

describe('the database refuses the same on its own, to the adapter role', () => {
  let direct: pg.Client;
  beforeAll(async () => {
    direct = new pg.Client({ connectionString: stack().databaseUrl });
    await direct.connect();
  });
  afterAll(async () => {
    await direct?.end();
  });

  it.each([
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT set_config('statement_timeout', '0', false)",
    "SELECT lo_import('/etc/passwd')",
    "SELECT lo_export(1, '/tmp/dbbridge-lo-export')",
    'SELECT pg_terminate_backend(pg_backend_pid())',
    'SELECT pg_advisory_lock(4244)',
    'SELECT * INTO TEMP agent_execution_logs FROM agent_execution_logs WHERE false',
    'CREATE TABLE dbbridge_not_allowed (a int)',
    'SELECT * FROM schema_migrations',
  ])('%s: permission denied (42501)', async (sql) => {
    const error = await direct.query(sql).then(
      () => undefined,
      (e: { code?: string }) => e,
    );
    expect(error?.code).toBe('42501');
  });

  it('the role reads and writes the tables, and is no superuser', async () => {
    const { rows } = await direct.query(
      "SELECT rolsuper, rolcreatedb, rolcreaterole, has_table_privilege('agent_execution_logs', 'INSERT') AS can_insert FROM pg_roles WHERE rolname = current_user",
    );
    expect(rows).toEqual([{ rolsuper: false, rolcreatedb: false, rolcreaterole: false, can_insert: true }]);
  });
});
