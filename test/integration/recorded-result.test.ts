/**
 * Writes recorded by the statement itself (one round trip): the write runs as a data-modifying WITH
 * that also stores its result in the key's record, and a replay builds the reply from that record.
 * The replay must equal the first reply, whatever the values and types; statements PostgreSQL will
 * not run wrapped, and columns that changed since they were learned, still replay exactly.
 * Against the real broker and database.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDEMPOTENCY_TABLE } from '../../src/adapter/idempotency.js';
import type { DatabaseEventClient, QueryResult } from '../../src/index.js';
import { type Bridge, startBridge } from '../helpers/bridge.js';

const TABLE = `recres_${process.pid}_${Date.now().toString(36)}`;
let bridge: Bridge;
let db: DatabaseEventClient;

beforeAll(async () => {
  bridge = await startBridge('recres');
  await bridge.pg.query(`CREATE TABLE ${TABLE} (
    id bigserial PRIMARY KEY, marker text NOT NULL, t text, b boolean, c char(5), num numeric(12,3),
    ts timestamptz, j jsonb, arr text[], by bytea, u uuid, ip inet, iv interval, f float8, n int)`);
  db = await bridge.client();
}, 90_000);

afterAll(async () => {
  await bridge?.pg.query(`DROP TABLE IF EXISTS ${TABLE}`).catch(() => {});
  await bridge?.close();
});

/** The same EXECUTE twice with one key: the first runs, the second replays. */
async function twice(sql: string, params: unknown[], maxRows?: number) {
  const idempotencyKey = `k-${randomUUID()}`;
  const options = { idempotencyKey, ...(maxRows === undefined ? {} : { maxRows }) };
  const first = await db.request({ operation_type: 'EXECUTE', sql, params }, options);
  const again = await db.request({ operation_type: 'EXECUTE', sql, params }, options);
  const record = await bridge.pg.query<{ reply: boolean; result: boolean }>(
    `SELECT reply IS NOT NULL AS reply, result IS NOT NULL AS result FROM ${IDEMPOTENCY_TABLE} WHERE key LIKE $1`,
    [`% ${idempotencyKey}`],
  );
  return { first, again, record: record.rows[0] };
}

function comparable(r: QueryResult) {
  return { rows: r.rows, rowCount: r.rowCount, command: r.command, fields: r.fields, truncated: r.truncated };
}

const INSERT = `INSERT INTO ${TABLE} (marker, t, b, c, num, ts, j, arr, by, u, ip, iv, f, n)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING *`;

describe('a write recorded by the statement itself', () => {
  it('replays every value exactly as the first reply carried it, whatever its text form', async () => {
    const hard = [
      'a "quoted" \\ back\\slash (paren), comma',
      '',
      ' leading and trailing ',
      'line\nbreak\ttab',
      'ünïcødé ✓',
      '()',
      '""',
      'NULL',
    ];
    const row = (t: string | null) => [
      randomUUID(),
      t,
      true,
      'ab',
      '-12345.678',
      '2026-12-05 03:50:13.123456+00',
      JSON.stringify({ k: 'v "x"', a: [1, null] }),
      '{"a b","c,d","e\\"f",NULL,""}',
      '\\x00ff28',
      randomUUID(),
      '10.1.2.3/8',
      '1 day 02:03:04.5',
      '-1.5e-7',
      null,
    ];
    // The first write of the text teaches the adapter its RETURNING columns (two round trips).
    await twice(INSERT, row('warm-up'));
    for (const t of [...hard, null]) {
      const { first, again, record } = await twice(INSERT, row(t));
      expect(record).toEqual({ reply: false, result: true });
      expect(first.metadata.replayed).toBeUndefined();
      expect(again.metadata.replayed).toBe(true);
      expect(comparable(again)).toEqual(comparable(first));
      expect(first.command).toBe('INSERT');
    }
  });

  it('without RETURNING: the row count; and rows cut at max_rows replay cut the same way', async () => {
    const marker = randomUUID();
    for (let i = 0; i < 5; i++)
      await bridge.pg.query(`INSERT INTO ${TABLE} (marker, n) VALUES ($1, $2)`, [marker, i]);
    const plain = await twice(`UPDATE ${TABLE} SET n = n + 10 WHERE marker = $1`, [marker]);
    expect(plain.record).toEqual({ reply: false, result: true });
    expect(plain.first.rowCount).toBe(5);
    expect(comparable(plain.again)).toEqual(comparable(plain.first));
    const sql = `UPDATE ${TABLE} SET n = n + 1 WHERE marker = $1 RETURNING n, marker`;
    await twice(sql, [randomUUID()]); // learns the columns
    const cut = await twice(sql, [marker], 2);
    expect(cut.record).toEqual({ reply: false, result: true });
    expect(cut.first.truncated).toBe(true);
    expect(cut.first.rows).toHaveLength(2);
    expect(comparable(cut.again)).toEqual(comparable(cut.first));
    // It ran once: 10 + 1, not 10 + 2.
    const after = await bridge.pg.query(`SELECT n FROM ${TABLE} WHERE marker = $1 ORDER BY n`, [marker]);
    expect(after.rows.map((r) => r.n)).toEqual([11, 12, 13, 14, 15]);
  });

  it('a repeat whose write fails on what the first run did (its unique key) gets the first reply, also when sent at once', async () => {
    const unique = `${TABLE}_unique`;
    await bridge.pg.query(`CREATE TABLE ${unique} (marker text PRIMARY KEY, n int)`);
    try {
      const sql = `INSERT INTO ${unique} (marker, n) VALUES ($1, $2) RETURNING marker, n`;
      await twice(sql, [randomUUID(), 0]); // learns the columns
      const later = await twice(sql, [randomUUID(), 1]);
      expect(later.record).toEqual({ reply: false, result: true });
      expect(later.again.metadata.replayed).toBe(true);
      expect(comparable(later.again)).toEqual(comparable(later.first));
      // Eight copies at once: one inserts; the others wait on its row, fail on it, and replay.
      const marker = randomUUID();
      const idempotencyKey = `k-${randomUUID()}`;
      const copies = await Promise.all(
        Array.from({ length: 8 }, () =>
          db.request({ operation_type: 'EXECUTE', sql, params: [marker, 2] }, { idempotencyKey }),
        ),
      );
      expect(copies.filter((r) => r.metadata.replayed !== true)).toHaveLength(1);
      for (const copy of copies) expect(copy.rows).toEqual([{ marker, n: 2 }]);
    } finally {
      await bridge.pg.query(`DROP TABLE IF EXISTS ${unique}`);
    }
  });

  it('on a table with a rule, which PostgreSQL will not run wrapped, is recorded in two round trips', async () => {
    const ruled = `${TABLE}_ruled`;
    await bridge.pg.query(`CREATE TABLE ${ruled} (id bigserial PRIMARY KEY, marker text)`);
    await bridge.pg.query(`CREATE TABLE ${ruled}_audit (marker text)`);
    await bridge.pg.query(
      `CREATE RULE audit AS ON INSERT TO ${ruled} DO ALSO INSERT INTO ${ruled}_audit VALUES (NEW.marker)`,
    );
    try {
      const sql = `INSERT INTO ${ruled} (marker) VALUES ($1) RETURNING id`;
      await twice(sql, [randomUUID()]);
      const marker = randomUUID();
      const { first, again, record } = await twice(sql, [marker]);
      expect(record).toEqual({ reply: true, result: false });
      expect(again.metadata.replayed).toBe(true);
      expect(comparable(again)).toEqual(comparable(first));
      const n = await bridge.pg.query(`SELECT count(*)::int AS n FROM ${ruled} WHERE marker = $1`, [marker]);
      expect(n.rows[0]?.n).toBe(1);
    } finally {
      await bridge.pg.query(`DROP TABLE IF EXISTS ${ruled}, ${ruled}_audit`);
    }
  });

  it('whose columns changed since the adapter learned them replays with the columns it returned', async () => {
    const sql = `INSERT INTO ${TABLE} (marker) VALUES ($1) RETURNING *`;
    await twice(sql, [randomUUID()]);
    await bridge.pg.query(`ALTER TABLE ${TABLE} ADD COLUMN added text DEFAULT 'new'`);
    const { first, again } = await twice(sql, [randomUUID()]);
    expect(first.fields.map((f) => f.name)).toContain('added');
    expect(comparable(again)).toEqual(comparable(first));
  });
});
