/**
 * Table operations resolve an unqualified name as PostgreSQL does: by the order of the adapter
 * connection's search_path, not alphabetically by schema.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseEventClient } from '../../src/index.js';
import { type Bridge, stack, startBridge } from '../helpers/bridge.js';

const tag = randomUUID().slice(0, 8);
// "archive_..." sorts before "public": alphabetical order would pick it.
const archive = `archive_${tag}`;
const table = `sp_${tag}`;
let bridge: Bridge;
let db: DatabaseEventClient;

beforeAll(async () => {
  const url = new URL(stack().databaseUrl);
  url.searchParams.set('options', `-c search_path=public,${archive}`);
  bridge = await startBridge('search-path', { adapter: { databaseUrl: url.toString() } });
  for (const schema of ['public', archive]) {
    await bridge.pg.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await bridge.pg.query(`CREATE TABLE ${schema}.${table} (id int PRIMARY KEY, note text)`);
  }
  db = await bridge.client();
});

afterAll(async () => {
  await bridge?.pg.query(`DROP TABLE IF EXISTS public.${table}; DROP SCHEMA IF EXISTS ${archive} CASCADE`);
  await bridge?.close();
});

describe('search_path', () => {
  it('with search_path = public, archive, insert/update/delete on an unqualified name hit public', async () => {
    expect(await db.insert(table, { id: 1, note: 'first' })).toEqual({ id: 1 });
    await db.update(table, { note: 'updated' }, { id: 1 });
    const rows = async (schema: string) =>
      (await bridge.pg.query(`SELECT id, note FROM ${schema}.${table}`)).rows;
    expect(await rows('public')).toEqual([{ id: 1, note: 'updated' }]);
    expect(await rows(archive)).toEqual([]);
    expect(await db.delete(table, { id: 1 })).toBe(1);
    expect(await rows('public')).toEqual([]);
  });
});
