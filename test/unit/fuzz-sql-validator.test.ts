/**
 * Property-based fuzzing of the SQL validator and its function policy (issue 9 §4): statements
 * that call a refused function, are DDL, hold several statements, or change the session (SET,
 * RESET, ...) are generated with random positions, casings, quotings, schema qualifications,
 * whitespace and comments, and are never accepted, under any policy. Each generated template is
 * first shown to pass with a harmless function in the same place, so a refusal is for the right
 * reason and not a syntax error.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { REFUSED_FUNCTIONS } from '../../src/adapter/function-policy.js';
import { SqlValidator, type StatementPolicy } from '../../src/adapter/sql-validator.js';
import { fuzz, kw, statement } from '../helpers/fuzz.js';
import { rejection } from '../helpers/rejection.js';

let v: SqlValidator;
beforeAll(async () => {
  v = await SqlValidator.create();
});

const READ: StatementPolicy = { kind: 'read' };
const EXEC: StatementPolicy = { kind: 'execute', allowDdl: false };
const DDL: StatementPolicy = { kind: 'execute', allowDdl: true };
const TX: StatementPolicy = { kind: 'transaction', allowDdl: false };
const TX_DDL: StatementPolicy = { kind: 'transaction', allowDdl: true };
const INSERT: StatementPolicy = { kind: 'exact', node: 'InsertStmt' };
const UPSERT: StatementPolicy = { kind: 'exact', node: 'InsertStmt', onConflict: true };
const UPDATE: StatementPolicy = { kind: 'exact', node: 'UpdateStmt' };
const DELETE: StatementPolicy = { kind: 'exact', node: 'DeleteStmt' };
const EVERY_POLICY = [READ, EXEC, DDL, TX, TX_DDL, INSERT, UPSERT, UPDATE, DELETE];
const WITHOUT_DDL = [READ, EXEC, TX, INSERT, UPSERT, UPDATE, DELETE];

/** Every name the policy refuses: the examples of each entry, and made-up members of each family. */
const refusedName: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...REFUSED_FUNCTIONS.flatMap((f) => f.examples)),
  fc
    .tuple(
      fc.constantFrom(...REFUSED_FUNCTIONS.filter((f) => f.match === 'prefix').map((f) => f.name)),
      fc.stringMatching(/^[a-z0-9_]{0,12}$/),
    )
    .map(([prefix, rest]) => prefix + rest),
);

/**
 * A function as a statement may name it: unquoted in any case (PostgreSQL folds it), or quoted
 * exactly, alone or schema-qualified, with space or comments around the dot.
 */
function spelled(name: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const bare = name.chain((n) => fc.oneof(fc.mixedCase(fc.constant(n)), fc.constant(`"${n}"`)));
  const schema = fc.oneof(
    fc.constant(''),
    fc.mixedCase(fc.constant('pg_catalog.')),
    fc.constant('"pg_catalog".'),
    fc.mixedCase(fc.constant('public.')),
    fc.constant('pg_catalog /* x */ . '),
    fc.constant('pg_catalog\n.'),
  );
  return fc.tuple(schema, bare).map(([s, n]) => s + n);
}

const args = fc.constantFrom(
  '',
  "'x'",
  '1',
  "'a.b', '1', false",
  '$1',
  "'/etc/passwd', 0, 100",
  'NULL::text',
);
const call = (name: fc.Arbitrary<string>) =>
  fc.tuple(spelled(name), args, fc.constantFrom('', ' ', '/**/')).map(([n, a, s]) => `${n}${s}(${a})`);

/** Statements with a hole for an expression, and the policy under which the statement is allowed. */
type Template = readonly [(hole: string) => fc.Arbitrary<string>, StatementPolicy];
const TEMPLATES: readonly Template[] = [
  [(h) => statement(kw('SELECT'), h), READ],
  [(h) => statement(kw('SELECT'), '1', kw('WHERE'), h, kw('IS NOT NULL')), READ],
  [(h) => statement(kw('SELECT * FROM'), '(', kw('SELECT'), h, kw('AS'), 'v', ')', kw('AS'), 's'), READ],
  [
    (h) =>
      statement(kw('WITH'), 'c', kw('AS'), '(', kw('SELECT'), h, kw('AS'), 'v)', kw('SELECT * FROM'), 'c'),
    READ,
  ],
  [
    (h) =>
      statement(
        kw('SELECT * FROM'),
        'agent_execution_logs a,',
        kw('LATERAL'),
        '(',
        kw('SELECT'),
        h,
        'AS v) l',
      ),
    READ,
  ],
  [(h) => statement(kw('SELECT CASE WHEN'), 'true', kw('THEN'), h, kw('END')), READ],
  [(h) => statement(kw('SELECT'), 'coalesce(', h, ', 1)'), READ],
  [(h) => statement(kw('SELECT'), '1', kw('ORDER BY'), h), READ],
  [(h) => statement(kw('SELECT EXISTS'), '(', kw('SELECT'), h, ')'), READ],
  [(h) => statement(kw('SELECT'), '(', kw('SELECT'), h, ')'), READ],
  [(h) => statement(kw('SELECT'), '1', kw('WHERE'), '1', kw('IN'), '(', kw('SELECT'), h, ')'), READ],
  [(h) => statement(kw('SELECT * FROM'), h, kw('AS'), 'f'), READ],
  [(h) => statement(kw('SELECT'), 'array[', h, ']'), READ],
  [(h) => statement(kw('SELECT'), '(', h, ')::text'), READ],
  [(h) => statement(kw('VALUES'), '(', h, ')'), READ],
  [
    (h) =>
      statement(
        kw('SELECT'),
        'count(*)',
        kw('FROM'),
        't',
        kw('GROUP BY'),
        'a',
        kw('HAVING'),
        h,
        kw('IS NULL'),
      ),
    READ,
  ],
  [(h) => statement(kw('INSERT INTO'), 't (a)', kw('VALUES'), '(', h, ')'), INSERT],
  [(h) => statement(kw('INSERT INTO'), 't (a)', kw('SELECT'), h), INSERT],
  [
    (h) =>
      statement(
        kw('INSERT INTO'),
        't (a)',
        kw('VALUES'),
        '(1)',
        kw('ON CONFLICT'),
        '(a)',
        kw('DO UPDATE SET'),
        'a =',
        h,
      ),
    UPSERT,
  ],
  [(h) => statement(kw('UPDATE'), 't', kw('SET'), 'a =', h, kw('WHERE'), 'id = 1'), UPDATE],
  [
    (h) => statement(kw('UPDATE'), 't', kw('SET'), 'a = 1', kw('FROM'), '(', kw('SELECT'), h, 'AS v) s'),
    UPDATE,
  ],
  [(h) => statement(kw('DELETE FROM'), 't', kw('WHERE'), 'a =', h), DELETE],
  [(h) => statement(kw('DELETE FROM'), 't', kw('WHERE'), 'id = 1', kw('RETURNING'), h), DELETE],
  [(h) => statement(kw('DELETE FROM'), 't', kw('USING'), h, kw('AS'), 'f', kw('WHERE'), 't.id = 1'), DELETE],
  [
    (h) =>
      statement(
        kw('WITH'),
        'w',
        kw('AS'),
        '(',
        kw('INSERT INTO'),
        't (a)',
        kw('VALUES'),
        '(',
        h,
        ')',
        kw('RETURNING'),
        'a)',
        kw('SELECT * FROM'),
        'w',
      ),
    EXEC,
  ],
  [
    (h) =>
      statement(
        kw('MERGE INTO'),
        't',
        kw('USING'),
        '(',
        kw('SELECT'),
        h,
        'AS v) s',
        kw('ON'),
        'true',
        kw('WHEN MATCHED THEN DELETE'),
      ),
    EXEC,
  ],
];

const template = fc.constantFrom(...TEMPLATES);

describe('fuzzing the SQL validator (fast-check, fixed seed)', () => {
  it('never accepts a statement that calls a refused function, wherever and however it is written', () => {
    fc.assert(
      fc.property(
        template.chain(([fill, policy]) =>
          fc.tuple(
            fc.constant(policy),
            // The same template with a harmless call and with a refused one in the hole.
            fc
              .constantFrom('lower', 'LOWER', '"lower"', 'pg_catalog.lower')
              .chain((ok) => fill(`${ok}('x')`)),
            call(refusedName).chain((refused) => fill(refused)),
          ),
        ),
        ([policy, harmless, refused]) => {
          expect(() => v.check(harmless, policy), harmless).not.toThrow();
          for (const p of EVERY_POLICY) {
            const failure = rejection(() => v.check(refused, p));
            expect(failure.code, refused).toBe('VALIDATION_ERROR');
            expect(failure.message, refused).toMatch(/^function .+ is refused: it /);
          }
        },
      ),
      fuzz(400),
    );
  });

  const ddl = fc.oneof(
    statement(kw('CREATE TABLE'), 'x', '(a int)'),
    statement(kw('CREATE UNLOGGED TABLE'), '"x"', '(a int)'),
    statement(kw('DROP TABLE'), 'agent_execution_logs'),
    statement(kw('DROP TABLE IF EXISTS'), 'a, b', kw('CASCADE')),
    statement(kw('ALTER TABLE'), 't', kw('ADD COLUMN'), 'b int'),
    statement(kw('TRUNCATE'), 't'),
    statement(kw('GRANT ALL ON'), 't', kw('TO'), kw('PUBLIC')),
    statement(kw('REVOKE SELECT ON'), 't', kw('FROM'), 'dbbridge_adapter'),
    statement(
      kw('CREATE FUNCTION'),
      'f()',
      kw('RETURNS'),
      'int',
      kw('AS'),
      "'select 1'",
      kw('LANGUAGE'),
      'sql',
    ),
    statement(
      kw('CREATE OR REPLACE FUNCTION'),
      'public.f()',
      kw('RETURNS'),
      'int',
      kw('LANGUAGE'),
      'sql',
      kw('AS'),
      '$$ select 1 $$',
    ),
    statement(kw('CREATE INDEX'), 'i', kw('ON'), 't', '(a)'),
    statement(kw('COMMENT ON TABLE'), 't', kw('IS'), "'x'"),
    statement(kw('CREATE ROLE'), 'r', kw('SUPERUSER')),
    statement(kw('ALTER ROLE'), 'dbbridge_adapter', kw('SUPERUSER')),
    statement(kw('CREATE EXTENSION'), 'dblink'),
    statement(kw('DROP SCHEMA'), 'public', kw('CASCADE')),
    statement(kw('CREATE VIEW'), 'v', kw('AS SELECT'), '1'),
    statement(kw('SELECT'), '1', kw('INTO'), 'newtab'),
    statement(kw('SELECT * INTO'), 'copy', kw('FROM'), 't'),
    statement(kw('CREATE TEMP TABLE'), 'x', '(a int)'),
    statement(kw('CREATE TABLE'), 'x', kw('AS SELECT'), '1'),
    statement(kw('DO'), "'begin perform 1; end'"),
    statement(kw('REINDEX TABLE'), 't'),
    statement(kw('CLUSTER'), 't'),
    statement(kw('SECURITY LABEL ON TABLE'), 't', kw('IS'), "'x'"),
    statement(kw('ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO'), 'public'),
    statement(
      kw('CREATE TRIGGER'),
      'tr',
      kw('AFTER INSERT ON'),
      't',
      kw('FOR EACH ROW EXECUTE FUNCTION'),
      'f()',
    ),
    statement(kw('CREATE RULE'), 'r', kw('AS ON INSERT TO'), 't', kw('DO INSTEAD NOTHING')),
  );

  it('never accepts DDL or administration without DBBRIDGE_ALLOW_DDL, in any casing or spacing', () => {
    fc.assert(
      fc.property(ddl, (sql) => {
        for (const p of WITHOUT_DDL) {
          const failure = rejection(() => v.check(sql, p));
          expect(failure.code, `${sql} under ${JSON.stringify(p)}`).toBe('VALIDATION_ERROR');
        }
      }),
      fuzz(300),
    );
  });

  const session = fc.oneof(
    statement(kw('SET ROLE'), 'postgres'),
    statement(kw('SET SESSION ROLE'), '"postgres"'),
    statement(kw('SET SESSION AUTHORIZATION'), 'postgres'),
    statement(kw('RESET SESSION AUTHORIZATION')),
    statement(kw('RESET ROLE')),
    statement(kw('RESET ALL')),
    statement(kw('RESET'), 'statement_timeout'),
    statement(kw('SET'), 'search_path', kw('TO'), 'evil, public'),
    statement(kw('SET'), 'statement_timeout', '=', '0'),
    statement(kw('SET LOCAL'), 'statement_timeout', kw('TO DEFAULT')),
    statement(kw('SET SESSION'), 'default_transaction_read_only', '=', kw('off')),
    statement(kw('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE')),
    statement(kw('SET TIME ZONE'), "'UTC'"),
    statement(kw('DISCARD ALL')),
    statement(kw('DISCARD TEMP')),
    statement(kw('LISTEN'), 'chan'),
    statement(kw('UNLISTEN'), '*'),
    statement(kw('NOTIFY'), 'chan'),
    statement(kw('NOTIFY'), 'chan,', "'payload'"),
    statement(kw('PREPARE'), 'p', kw('AS SELECT'), '1'),
    statement(kw('EXECUTE'), 'p'),
    statement(kw('DEALLOCATE ALL')),
    statement(kw('LOAD'), "'plpgsql'"),
    statement(kw('COPY'), 't', kw('TO PROGRAM'), "'id'"),
    statement(kw('COPY'), '(', kw('SELECT'), '1)', kw('TO STDOUT')),
    statement(kw('COPY'), 't', kw('FROM'), "'/etc/passwd'"),
    statement(kw('ALTER SYSTEM SET'), 'fsync', '=', kw('off')),
    statement(kw('CHECKPOINT')),
    statement(kw('VACUUM FULL')),
    statement(kw('CALL'), 'p()'),
    statement(kw('SET CONSTRAINTS ALL DEFERRED')),
    statement(kw('LOCK TABLE'), 't', kw('IN ACCESS EXCLUSIVE MODE')),
    statement(kw('BEGIN')),
    statement(kw('START TRANSACTION READ WRITE')),
    statement(kw('COMMIT')),
    statement(kw('ROLLBACK')),
    statement(kw('ABORT')),
    statement(kw('PREPARE TRANSACTION'), "'x'"),
  );

  it('never accepts SET, RESET, NOTIFY or another session or transaction statement, DDL allowed or not', () => {
    fc.assert(
      fc.property(session, (sql) => {
        for (const p of EVERY_POLICY) {
          const failure = rejection(() => v.check(sql, p));
          expect(failure.code, `${sql} under ${JSON.stringify(p)}`).toBe('VALIDATION_ERROR');
        }
      }),
      fuzz(300),
    );
  });

  const single = fc.oneof(
    statement(kw('SELECT'), '1'),
    statement(kw('SELECT * FROM'), 't', kw('WHERE'), 'a = $1'),
    statement(kw('INSERT INTO'), 't (a)', kw('VALUES'), '(1)'),
    statement(kw('UPDATE'), 't', kw('SET'), 'a = 2', kw('WHERE'), 'id = 1'),
    statement(kw('DELETE FROM'), 't', kw('WHERE'), 'id = 1'),
    statement(kw('SET ROLE'), 'postgres'),
    statement(kw('DROP TABLE'), 't'),
    statement(kw('VALUES'), '(1)'),
  );
  const semicolon = fc.constantFrom(';', ' ;', ';\n', '; /* c */', ';-- c\n', ';;');

  it('never accepts more than one statement, however they are joined', () => {
    fc.assert(
      fc.property(
        fc.array(single, { minLength: 2, maxLength: 4 }),
        fc.array(semicolon, { minLength: 4, maxLength: 4 }),
        fc.boolean(),
        (statements, joins, trailing) => {
          const sql =
            statements.map((s, i) => (i === 0 ? s : `${joins[i] ?? ';'}${s}`)).join('') +
            (trailing ? ';' : '');
          for (const p of EVERY_POLICY) {
            const failure = rejection(() => v.check(sql, p));
            expect(failure.code, sql).toBe('VALIDATION_ERROR');
            expect(failure.message, sql).toMatch(/^expected exactly one SQL statement, got [2-9]/);
          }
        },
      ),
      fuzz(300),
    );
  });

  const write = fc.oneof(
    statement(kw('INSERT INTO'), 't (a)', kw('VALUES'), '(1)', kw('RETURNING'), 'a'),
    statement(kw('UPDATE'), 't', kw('SET'), 'a = 1', kw('RETURNING'), 'a'),
    statement(kw('DELETE FROM'), 't', kw('RETURNING'), 'a'),
  );

  it('never lets a write through as a SELECT or as a plain INSERT / UPDATE / DELETE (data-modifying WITH)', () => {
    fc.assert(
      fc.property(
        write.chain((w) =>
          fc.oneof(
            statement(kw('WITH'), 'w', kw('AS'), '(', w, ')', kw('SELECT * FROM'), 'w'),
            statement(
              kw('WITH'),
              'r',
              kw('AS'),
              '(',
              kw('SELECT'),
              '1),',
              'w',
              kw('AS'),
              '(',
              w,
              ')',
              kw('SELECT'),
              '1',
            ),
            statement(
              kw('WITH'),
              'w',
              kw('AS MATERIALIZED'),
              '(',
              w,
              ')',
              kw('SELECT'),
              'count(*)',
              kw('FROM'),
              'w',
            ),
          ),
        ),
        (sql) => {
          expect(v.check(sql, EXEC), sql).toBe('write');
          for (const p of [READ, INSERT, UPDATE, DELETE]) {
            expect(rejection(() => v.check(sql, p)).code, sql).toBe('VALIDATION_ERROR');
          }
        },
      ),
      fuzz(200),
    );
  });
});
