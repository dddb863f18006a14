import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { SessionGuard } from '../../src/adapter/session-guard.js';
import { SqlValidator } from '../../src/adapter/sql-validator.js';

/** A pool whose only query answers with these `pg_catalog` names (or fails). */
function fakePool(names: string[] | Error) {
  let queries = 0;
  const pool = {
    query: async () => {
      queries++;
      if (names instanceof Error) throw names;
      return { rows: names.map((proname) => ({ proname })) };
    },
  };
  return { pool: pool as unknown as pg.Pool, queries: () => queries };
}

async function loaded(names: string[]): Promise<SessionGuard> {
  const guard = new SessionGuard(fakePool(names).pool);
  guard.load();
  await new Promise((r) => setImmediate(r));
  return guard;
}

let v: SqlValidator;
beforeAll(async () => {
  v = await SqlValidator.create();
});

describe('SessionGuard: which statements get their connection reset', () => {
  it('a statement calling no function, or only PostgreSQL-own ones, does not', async () => {
    const guard = await loaded(['lower', 'now', 'count', 'nextval']);
    for (const sql of [
      'SELECT * FROM t WHERE a = $1',
      "SELECT lower(a), now(), count(*) FROM t WHERE b = nextval('s') GROUP BY 1",
      'SELECT pg_catalog.lower(a) FROM t',
    ]) {
      v.check(sql, { kind: 'read' });
      expect(guard.needsReset(v.functionsOf(sql)), sql).toBe(false);
    }
  });

  it('a call to any other function, qualified or not, does', async () => {
    const guard = await loaded(['lower']);
    for (const sql of [
      'SELECT my_function(1)',
      'SELECT public.lower(a) FROM t',
      'SELECT lower(app.f(a)) FROM t',
    ]) {
      v.check(sql, { kind: 'read' });
      expect(guard.needsReset(v.functionsOf(sql)), sql).toBe(true);
    }
  });

  it('until the names are known (or when they cannot be read), every call counts', async () => {
    const failing = fakePool(new Error('database down'));
    const guard = new SessionGuard(failing.pool);
    expect(guard.needsReset(new Set(['lower']))).toBe(true);
    expect(guard.needsReset(new Set())).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(guard.needsReset(new Set(['lower']))).toBe(true);
    expect(failing.queries()).toBe(1); // no second attempt right after a failure
  });
});
