import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { localPolicy } from '../../scripts/stack/roles.js';
import { RequestRejected } from '../../src/adapter/failures.js';
import {
  loadPolicyFile,
  OPEN_POLICY,
  PolicyEnforcer,
  parsePolicy,
  policyOf,
  tableListed,
} from '../../src/adapter/policy.js';
import { SqlValidator } from '../../src/adapter/sql-validator.js';
import { ConfigurationError } from '../../src/errors.js';

let v: SqlValidator;
beforeAll(async () => {
  v = await SqlValidator.create();
});

const access = (sql: string) => {
  const a = v.accessOf(sql);
  return { kinds: [...a.kinds].sort(), reads: [...a.reads].sort(), writes: [...a.writes].sort() };
};

describe('tables a statement reads and writes (parse tree)', () => {
  it.each([
    ['SELECT * FROM a JOIN b ON true', ['select'], ['a', 'b'], []],
    ['SELECT * FROM a WHERE id IN (SELECT id FROM s.b)', ['select'], ['a', 's.b'], []],
    ['SELECT (SELECT max(x) FROM c) FROM a, LATERAL (SELECT * FROM d) l', ['select'], ['a', 'c', 'd'], []],
    ['INSERT INTO a (v) VALUES (1)', ['insert'], [], ['a']],
    ['INSERT INTO a (v) VALUES (1) RETURNING id', ['insert'], ['a'], ['a']],
    ['INSERT INTO a (v) SELECT v FROM b', ['insert'], ['b'], ['a']],
    ['UPDATE a SET v = 1 FROM b WHERE a.id = b.id', ['update'], ['a', 'b'], ['a']],
    ['DELETE FROM a WHERE id IN (SELECT id FROM b)', ['delete'], ['a', 'b'], ['a']],
    ['MERGE INTO a USING b ON a.id = b.id WHEN MATCHED THEN DELETE', ['merge'], ['a', 'b'], ['a']],
    // CTEs: their names are not tables; what they read and write is.
    ['WITH w AS (SELECT * FROM a) SELECT * FROM w', ['select'], ['a'], []],
    ['WITH w AS (INSERT INTO a VALUES (1) RETURNING id) SELECT * FROM w', ['insert', 'select'], ['a'], ['a']],
    [
      'SELECT * FROM (WITH w AS (DELETE FROM a RETURNING id) SELECT * FROM w) s',
      ['delete', 'select'],
      ['a'],
      ['a'],
    ],
    // A CTE of a non-recursive WITH does not see the CTEs after it: `b` there is the table.
    ['WITH x AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM x, b', ['select'], ['b'], []],
    ['WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT * FROM r', ['select'], [], []],
    // A CTE's name in an inner scope does not hide the table of the same name outside it.
    ['SELECT * FROM secret, (WITH secret AS (SELECT 1) SELECT * FROM secret) s', ['select'], ['secret'], []],
    // A schema-qualified name is never a CTE; an INSERT target is always the table.
    ['WITH a AS (SELECT 1) SELECT * FROM public.a', ['select'], ['public.a'], []],
    ['WITH a AS (SELECT 1) INSERT INTO a VALUES (1)', ['insert'], [], ['a']],
  ])('%s', (sql, kinds, reads, writes) => {
    expect(access(sql)).toEqual({ kinds, reads, writes });
  });
});

describe('table lists', () => {
  it.each([
    [['*'], 's.t', true],
    [['t'], 't', true],
    [['t'], 's.t', true],
    [['s.t'], 't', true],
    [['s.t'], 's.t', true],
    [['s.t'], 'o.t', false],
    [['s.*'], 's.u', true],
    [['s.*'], 'u', true],
    [['s.*'], 'o.u', false],
    [['t'], 'u', false],
    [[], 't', false],
  ])('%j lists %s: %s', (list, name, listed) => {
    expect(tableListed(list, name)).toBe(listed);
  });
});

function refusal(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    if (e instanceof RequestRejected) return e.failure;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('PolicyEnforcer', () => {
  const policy = parsePolicy({
    version: 1,
    services: {
      s: {
        operations: ['SELECT', 'EXECUTE'],
        read: ['a', 'b'],
        write: ['b'],
        statements: ['select', 'insert'],
      },
    },
  }).services.s;
  const enforcer = () => new PolicyEnforcer('s', policy ?? OPEN_POLICY);

  it('allows what the policy lists, refuses the rest with PolicyDenied (42501)', () => {
    const e = enforcer();
    const check = (sql: string) => e.checkStatement(sql, () => v.accessOf(sql));
    check('SELECT * FROM a JOIN b USING (id)');
    check('INSERT INTO b SELECT * FROM a');
    for (const [sql, says] of [
      ['INSERT INTO a VALUES (1)', 'writing table a'],
      ['WITH w AS (INSERT INTO a VALUES (1) RETURNING 1) SELECT * FROM w', 'writing table a'],
      ['SELECT * FROM c', 'reading table c'],
      ['DELETE FROM b', 'DELETE statements'],
      ['INSERT INTO b SELECT * FROM c', 'reading table c'],
    ] as const) {
      const failure = refusal(() => check(sql));
      expect(failure).toMatchObject({
        code: 'VALIDATION_ERROR',
        errorType: 'PolicyDenied',
        sqlstate: '42501',
      });
      expect(failure.message).toContain(says);
    }
    expect(refusal(() => e.checkOperation('DELETE')).message).toContain('operation DELETE');
    e.checkOperation('SELECT');
  });

  it('caches decisions by SQL text: the statement is analysed once', () => {
    const e = enforcer();
    let analysed = 0;
    const sql = 'SELECT * FROM c';
    for (let i = 0; i < 3; i++) {
      refusal(() =>
        e.checkStatement(sql, () => {
          analysed++;
          return v.accessOf(sql);
        }),
      );
    }
    const ok = 'SELECT * FROM a';
    for (let i = 0; i < 3; i++)
      e.checkStatement(ok, () => {
        analysed++;
        return v.accessOf(ok);
      });
    expect(analysed).toBe(2);
  });

  it('the open policy checks nothing (and needs no analysis)', () => {
    const e = new PolicyEnforcer('', OPEN_POLICY);
    e.checkStatement('DELETE FROM anything', () => {
      throw new Error('not analysed');
    });
  });
});

describe('policy file', () => {
  it('names every bad field by its path', () => {
    const error = (() => {
      try {
        parsePolicy({
          version: 1,
          shared: { read: ['Bad Name'] },
          services: { 'svc-a': { role: 'x; DROP', limits: { maxRows: 0, connectons: 3 } }, Upper: {} },
        });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(ConfigurationError);
    for (const field of [
      'shared.read.0',
      'services.svc-a.role',
      'services.svc-a.limits.maxRows',
      'services.svc-a.limits',
      'services.Upper',
    ])
      expect(error?.message).toContain(field);
  });

  it('names the file when it cannot be read or is not JSON', () => {
    expect(() => loadPolicyFile('/nowhere/policy.json')).toThrow(
      /DBBRIDGE_POLICY: cannot read policy file \/nowhere\/policy.json/,
    );
    expect(() => loadPolicyFile('p.json', () => '{ nope')).toThrow(/policy file p.json is not JSON/);
    expect(() => loadPolicyFile('p.json', () => '{"version": 2}')).toThrow(/p.json is invalid: version/);
  });

  it('fills in defaults: all operations, DML kinds, no tables; an identity without a policy has none', () => {
    const file = parsePolicy({ version: 1, services: { s: {} } });
    expect(file.services.s).toMatchObject({ read: [], write: [], limits: {} });
    expect(file.services.s?.statements).not.toContain('ddl');
    expect(policyOf(file, 's')).toBe(file.services.s);
    expect(policyOf(file, 'other')).toBeUndefined();
    expect(policyOf(file, '')).toBeUndefined();
    expect(policyOf(undefined, 'anyone')).toBe(OPEN_POLICY);
  });

  it("the secured local stack's policy is valid", () => {
    const file = parsePolicy(localPolicy());
    expect(Object.keys(file.services)).toEqual(['service-a', 'service-b']);
  });

  it("README's example policy is valid, and its error message is what the adapter says", () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Per-service policies'));
    const json = /```json\n([\s\S]*?)```/.exec(section)?.[1];
    const file = parsePolicy(JSON.parse(json ?? 'null'));
    expect(file.services['agent-logger']?.role).toBe('svc_agent_logger');
    const quoted = /\(`(services\.agent-logger\.limits\.maxRows: [^`]*)`\)/.exec(
      section.replace(/\n/g, ' '),
    )?.[1];
    expect(quoted).toBeDefined();
    const bad = structuredClone(JSON.parse(json ?? 'null'));
    bad.services['agent-logger'].limits.maxRows = 0;
    expect(() => parsePolicy(bad)).toThrow(quoted as string);
  });
});
