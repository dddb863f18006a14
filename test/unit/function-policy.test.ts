import { beforeAll, describe, expect, it } from 'vitest';
import { REFUSED_FUNCTIONS, refusedFunction } from '../../src/adapter/function-policy.js';
import { SqlValidator, type StatementPolicy } from '../../src/adapter/sql-validator.js';
import { rejection } from '../helpers/rejection.js';

let v: SqlValidator;
beforeAll(async () => {
  v = await SqlValidator.create();
});

const READ: StatementPolicy = { kind: 'read' };
const EXEC: StatementPolicy = { kind: 'execute', allowDdl: false };
const DDL: StatementPolicy = { kind: 'execute', allowDdl: true };
const TX: StatementPolicy = { kind: 'transaction', allowDdl: true };
const INSERT: StatementPolicy = { kind: 'exact', node: 'InsertStmt' };

/** Names each entry must refuse: its examples, and for a family without any, one made-up member. */
function namesOf(entry: (typeof REFUSED_FUNCTIONS)[number]): string[] {
  return entry.examples.length > 0 ? [...entry.examples] : [`${entry.name}_anything`];
}

describe('refused functions: every entry, any operation, qualified or not', () => {
  for (const entry of REFUSED_FUNCTIONS) {
    for (const name of namesOf(entry)) {
      it(`${name} (${entry.match} ${entry.name})`, () => {
        expect(refusedFunction(name)).toBe(entry);
        for (const [sql, policy] of [
          [`SELECT ${name}('x')`, READ],
          [`SELECT pg_catalog.${name}('x')`, READ],
          [`SELECT * FROM ${name}('x')`, EXEC],
          [`UPDATE t SET a = ${name}('x') WHERE b = 1`, EXEC],
          [`INSERT INTO t (a) VALUES ("${name}"('x'))`, INSERT],
          [`SELECT public.${name}(1)`, TX],
        ] as const) {
          const failure = rejection(() => v.check(sql, policy));
          expect(failure.code, sql).toBe('VALIDATION_ERROR');
          expect(failure.message, sql).toMatch(new RegExp(`^function (\\w+\\.)?${name} is refused: it `));
        }
      });
    }
  }

  it('each entry is consistent: exact entries name themselves, family examples belong to the family', () => {
    for (const entry of REFUSED_FUNCTIONS) {
      if (entry.match === 'exact') expect(entry.examples).toEqual([entry.name]);
      else for (const example of entry.examples) expect(example.startsWith(entry.name)).toBe(true);
    }
    expect(new Set(REFUSED_FUNCTIONS.map((f) => f.name)).size).toBe(REFUSED_FUNCTIONS.length);
  });

  it('the refusal names the function as written and why', () => {
    expect(
      rejection(() => v.check("SELECT pg_catalog.set_config('statement_timeout', '0', false)", READ)),
    ).toMatchObject({
      code: 'VALIDATION_ERROR',
      message:
        'function pg_catalog.set_config is refused: it changes the state of the pooled connection for the requests that use it next',
      executed: false,
    });
    expect(rejection(() => v.check("SELECT pg_read_file('/etc/passwd')", READ)).message).toBe(
      'function pg_read_file is refused: it reads or writes files of the database server',
    );
  });
});

describe('function calls are found anywhere in the statement', () => {
  const places: [string, StatementPolicy][] = [
    ["WITH c AS (SELECT set_config('a.b', '1', false) AS x) SELECT * FROM c", READ],
    ["SELECT * FROM (SELECT 1 FROM t WHERE a = (SELECT lo_import('/etc/passwd'))) s", READ],
    ["SELECT * FROM t, LATERAL (SELECT pg_ls_dir('.') AS f) l", READ],
    ['SELECT * FROM t WHERE EXISTS (SELECT 1 WHERE pg_try_advisory_lock(t.a))', READ],
    ['SELECT * FROM t ORDER BY pg_terminate_backend(t.pid)', READ],
    ['SELECT a FROM t GROUP BY a HAVING count(*) > pg_cancel_backend(1)::int', READ],
    ['SELECT CASE WHEN a THEN coalesce(NULL, lower(pg_read_file(b))) END FROM t', READ],
    ['SELECT sum(a) OVER (PARTITION BY pg_advisory_lock(1)) FROM t', READ],
    ['SELECT * FROM t JOIN u ON pg_reload_conf()', READ],
    ['SELECT * FROM t UNION ALL SELECT * FROM dblink($1, $2) AS r(a int)', READ],
    ["VALUES (1), (lo_export(1, '/tmp/x'))", READ],
    ["WITH d AS (DELETE FROM t RETURNING set_config('x.y', a, false)) SELECT * FROM d", EXEC],
    ["INSERT INTO t SELECT query_to_xml('SELECT 1', true, true, '')", EXEC],
    ['UPDATE t SET a = 1 WHERE b = 2 RETURNING pg_rotate_logfile()', EXEC],
    ["DELETE FROM t USING u WHERE t.a = u.a AND pg_notify('c', 'm') IS NULL", EXEC],
    ['MERGE INTO t USING u ON t.a = u.a WHEN MATCHED THEN UPDATE SET b = lo_get(1)', EXEC],
    ["CREATE TABLE t3 (a text DEFAULT pg_read_file('/etc/passwd'))", DDL],
    ['CREATE TABLE t4 (a int CHECK (pg_try_advisory_lock_shared(a)))', DDL],
    ['CREATE CAST (text AS int) WITH FUNCTION pg_catalog.pg_terminate_backend(int)', DDL],
    ["SELECT ts_stat('SELECT 1')", READ],
  ];
  for (const [sql, policy] of places) {
    it(sql, () => {
      const failure = rejection(() => v.check(sql, policy));
      expect(failure.code).toBe('VALIDATION_ERROR');
      expect(failure.message).toMatch(/^function [\w.]+ is refused/);
    });
  }

  it('lets ordinary and transaction-scoped functions through', () => {
    for (const sql of [
      "SELECT current_setting('statement_timeout'), now(), lower('LO_IMPORT'), pg_sleep(0)",
      'SELECT pg_advisory_xact_lock(1), pg_try_advisory_xact_lock(2), pg_advisory_unlock_all()',
      'SELECT count(*), pg_backend_pid(), lo FROM t GROUP BY lo',
      "SELECT 'set_config' AS name, set_configuration FROM t",
    ]) {
      expect(v.check(sql, READ), sql).toBe('read');
    }
    expect(v.check("INSERT INTO t (a) VALUES (nextval('s')) RETURNING a", EXEC)).toBe('write');
  });
});

describe('nothing temporary: it would outlive the request on the pooled connection', () => {
  it.each([
    ['SELECT * INTO TEMP agent_execution_logs FROM agent_execution_logs WHERE false', EXEC],
    ['SELECT * INTO TEMPORARY TABLE x FROM t', DDL],
    ['CREATE TEMP TABLE agent_execution_logs (a int)', DDL],
    ['CREATE TEMP TABLE x AS SELECT 1', DDL],
    ['CREATE TEMP VIEW v AS SELECT 1', DDL],
    ['CREATE TEMP SEQUENCE s', DDL],
    ['CREATE TABLE pg_temp.x (a int)', DDL],
    ["CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1'", DDL],
    ['SELECT * FROM pg_temp.agent_execution_logs', READ],
    ['SELECT pg_temp.f()', READ],
    ['INSERT INTO pg_temp_3.t VALUES (1)', EXEC],
  ] as const)('%s', (sql, policy) => {
    const failure = rejection(() => v.check(sql, policy));
    expect(failure.code).toBe('VALIDATION_ERROR');
    expect(failure.message).toMatch(/temporary|pg_temp/);
  });

  it('SELECT ... INTO a table is DDL: refused unless DDL is allowed', () => {
    const failure = rejection(() => v.check('SELECT 1 INTO t', EXEC));
    expect(failure.code).toBe('VALIDATION_ERROR');
    expect(failure.message).toMatch(/SELECT \.\.\. INTO creates a table.*DBBRIDGE_ALLOW_DDL/);
    expect(v.check('SELECT 1 INTO t', DDL)).toBe('ddl');
    expect(rejection(() => v.check('SELECT 1 INTO t', { kind: 'transaction', allowDdl: false })).code).toBe(
      'VALIDATION_ERROR',
    );
  });
});
