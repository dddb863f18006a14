/**
 * The executor against the real database, below the bus: connection reuse after pipelined failures,
 * statement timeouts after a rolled-back transaction, and a connection lost while checked out.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { Executor } from '../../src/adapter/executor.js';
import { stack } from '../helpers/bridge.js';

const executors: Executor[] = [];
function executor(options: Partial<ConstructorParameters<typeof Executor>[0]> = {}) {
  const e = new Executor({ databaseUrl: stack().databaseUrl, poolMax: 1, ...options });
  executors.push(e);
  return e;
}
afterEach(async () => {
  await Promise.all(executors.splice(0).map((e) => e.close()));
});

const read = { readOnly: true, maxRows: 10, timeoutMs: 5000 };

describe('Executor', () => {
  it('after a pipelined group where one statement fails and one cannot encode its parameter, the connection answers the next statement correctly', async () => {
    // Quick means "seen within 1 s" here, so a busy machine cannot keep the statement from pipelining.
    const e = executor({ pipelineQuickMs: 1000 });
    const sql = 'SELECT 10 / $1::int AS x';
    for (let i = 0; i < 3; i++) await e.run(sql, [1], read); // quick now: the next ones are pipelined
    const unencodable = {
      toPostgres() {
        throw new Error('cannot encode');
      },
    };
    for (let round = 0; round < 5; round++) {
      // Division by zero (PostgreSQL flushes the error at once, its ReadyForQuery comes later), then
      // a statement that fails in pg before it is sent: its promise settles at once, but its Sync
      // is answered only after the first one's.
      const outcomes = await Promise.allSettled([e.run(sql, [0], read), e.run(sql, [unencodable], read)]);
      expect(outcomes[0]).toMatchObject({ status: 'rejected', reason: { code: '22012' } });
      expect(outcomes[1]).toMatchObject({ status: 'rejected', reason: { message: 'cannot encode' } });
      // One connection: the next statement gets its own answer, not one left over from the group.
      const r = await e.run('SELECT $1::int AS n', [round], read);
      expect(r).toMatchObject({ command: 'SELECT', textRows: [[String(round)]] });
    }
    // The same, with the next user already waiting for the connection (as under load): it must
    // get the connection only once everything sent before is answered.
    for (let round = 0; round < 5; round++) {
      const group = Promise.allSettled([e.run(sql, [0], read), e.run(sql, [unencodable], read)]);
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r)); // the group holds the connection
      const next = await e.acquire(true);
      try {
        const { rows, command } = await next.query('SELECT $1::int AS n', [round]);
        expect({ rows, command }).toEqual({ rows: [{ n: round }], command: 'SELECT' });
      } finally {
        next.release();
      }
      await group;
    }
    expect(e.stats.pipelined).toBeGreaterThanOrEqual(2);
  });

  it('a pool whose connections all stay busy answers PoolExhausted (retryable, not run), which is not the database being down', async () => {
    const e = executor({ poolMax: 1, connectionTimeoutMs: 300 });
    const held = await e.acquire(false);
    try {
      const error = await e.acquire(false).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toMatchObject({
        failure: {
          code: 'DATABASE_CONNECTION_FAILED',
          errorType: 'PoolExhausted',
          retryable: true,
          executed: false,
        },
      });
    } finally {
      held.release();
    }
    // A pool that cannot connect at all is still a connection failure of another kind.
    const down = executor({
      databaseUrl: 'postgres://nobody@127.0.0.1:1/none',
      poolMax: 1,
      connectionTimeoutMs: 300,
    });
    const refused = await down.acquire(false).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toMatchObject({ failure: { code: 'DATABASE_CONNECTION_FAILED' } });
    expect((refused as { failure: { errorType?: string } }).failure.errorType).not.toBe('PoolExhausted');
  });

  it('a statement timeout set inside a transaction that rolled back is set again afterwards', async () => {
    const e = executor();
    const write = { readOnly: false, maxRows: 10 };
    await e.run('SELECT 1', [], { ...write, timeoutMs: 60_000 }); // set outside a transaction: 60 s
    const client = await e.acquire(false);
    await client.query('BEGIN');
    await e.runOn(client, 'SELECT 1', [], { ...write, timeoutMs: 150 }); // set inside: 150 ms
    await client.query('ROLLBACK'); // back to 60 s, whatever the executor remembers
    client.release();
    const error = await e.run('SELECT pg_sleep(0.6)', [], { ...write, timeoutMs: 150 }).catch((x) => x);
    expect(error).toMatchObject({ code: '57014' });
  });

  it('a connection lost while checked out fails its statement; the process and the pool carry on', async () => {
    const e = executor({ poolMax: 2 });
    const client = await e.acquire(false);
    const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
    // Killing another session is the owner's business: the adapter's role may not.
    const killer = executor({ poolMax: 1, databaseUrl: stack().databaseOwnerUrl });
    await killer.run('SELECT pg_terminate_backend($1)', [rows[0].pid], {
      readOnly: false,
      maxRows: 1,
      timeoutMs: 5000,
    });
    // Until the backend has gone (its FATAL message sent, its socket closed), not a fixed time.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const gone = await killer.run(
        'SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1',
        [rows[0].pid],
        { readOnly: true, maxRows: 1, timeoutMs: 5000 },
      );
      if (gone.textRows[0]?.[0] === '0') break;
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 20));
    }
    const error = await e
      .runOn(client, 'SELECT 1', [], { readOnly: false, maxRows: 1, timeoutMs: 5000 })
      .catch((x) => x);
    expect(error).toBeInstanceOf(Error);
    client.release(error);
    const r = await e.run('SELECT 7 AS n', [], { readOnly: false, maxRows: 1, timeoutMs: 5000 });
    expect(r.textRows).toEqual([['7']]);
  });

  describe('prepared statements', () => {
    const write = { readOnly: false, maxRows: 10, timeoutMs: 5000 };
    /** The adapter's own prepared statements on the one connection of the write pool (but this one). */
    async function prepared(e: Executor): Promise<string[]> {
      const r = await e.run(
        "SELECT statement FROM pg_prepared_statements WHERE name ~ '^dbbridge_' AND statement !~ 'pg_prepared_statements' ORDER BY statement",
        [],
        { ...write, maxRows: 100 },
      );
      return r.textRows.map((row) => String(row[0]));
    }

    it('a text that repeats is prepared once per connection; one that changed shape runs again, re-prepared', async () => {
      const e = executor();
      const table = `prep_${process.pid}_${Date.now().toString(36)}`;
      const owner = new pg.Pool({ connectionString: stack().databaseOwnerUrl, max: 1 });
      try {
        await owner.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v text)`);
        await owner.query(`GRANT SELECT ON ${table} TO PUBLIC`);
        await owner.query(`INSERT INTO ${table} VALUES (1, 'a')`);
        const sql = `SELECT * FROM ${table} WHERE id = $1`;
        for (let i = 0; i < 3; i++) await e.run(sql, [1], write);
        expect(await prepared(e)).toContain(sql);
        // A column more: the prepared plan's result type no longer fits ("cached plan must not change
        // result type"); the statement runs again under a new name and answers with the new column.
        await owner.query(`ALTER TABLE ${table} ADD COLUMN w text DEFAULT 'new'`);
        const after = await e.run(sql, [1], write);
        expect(after.columns.map((c) => c.name)).toEqual(['id', 'v', 'w']);
        expect(after.textRows).toEqual([['1', 'a', 'new']]);
        // Reset (as after a transaction or batch): the connection's statements are gone, and pg knows.
        const client = await e.acquire(false);
        await e.releaseReset(client);
        expect(await prepared(e)).toEqual([]);
        for (let i = 0; i < 2; i++)
          expect((await e.run(sql, [1], write)).textRows).toEqual([['1', 'a', 'new']]);
      } finally {
        await owner.query(`DROP TABLE IF EXISTS ${table}`);
        await owner.end();
      }
    });

    it('prepareAfter 0 prepares nothing', async () => {
      const e = executor({ prepareAfter: 0 });
      for (let i = 0; i < 3; i++) await e.run('SELECT 1 AS one', [], write);
      expect(await prepared(e)).toEqual([]);
    });
  });
});
