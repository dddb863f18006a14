/** Kysely's Migrator runs through the bus against an adapter that allows DDL (transactions + advisory lock + DDL). */
import { randomUUID } from 'node:crypto';
import { Kysely, sql } from 'kysely';
import { type Migration, Migrator } from 'kysely/migration';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaDialect } from '../../src/index.js';
import { type Bridge, stack, startBridge } from '../helpers/bridge.js';

let bridge: Bridge;
// biome-ignore lint/suspicious/noExplicitAny: migrations work on an untyped schema.
let db: Kysely<any>;
const suffix = randomUUID().slice(0, 8);
const table = `dbbridge_migrated_${suffix}`;

beforeAll(async () => {
  // DDL through the bus needs a role that may create: the stack's dbbridge_ddl, still no superuser.
  bridge = await startBridge('migrator', {
    adapter: { allowDdl: true, databaseUrl: stack().databaseDdlUrl },
  });
  db = new Kysely({ dialect: new KafkaDialect({ client: await bridge.client() }) });
});
afterAll(async () => {
  await bridge?.pg.query(
    `DROP TABLE IF EXISTS ${table}, kysely_migration_${suffix}, kysely_migration_lock_${suffix}`,
  );
  await db?.destroy();
  await bridge?.close();
});

describe('Kysely Migrator over the bus', () => {
  it('migrates up and down', async () => {
    const migrations: Record<string, Migration> = {
      '0001_create': {
        up: async (k) => {
          await k.schema
            .createTable(table)
            .addColumn('id', 'serial', (c) => c.primaryKey())
            .addColumn('note', 'text')
            .execute();
          await k.insertInto(table).values({ note: 'seeded' }).execute();
        },
        down: async (k) => {
          await k.schema.dropTable(table).execute();
        },
      },
    };
    const migrator = new Migrator({
      db,
      provider: { getMigrations: async () => migrations },
      migrationTableName: `kysely_migration_${suffix}`,
      migrationLockTableName: `kysely_migration_lock_${suffix}`,
    });
    const up = await migrator.migrateToLatest();
    expect(up.error).toBeUndefined();
    expect(up.results?.map((r) => [r.migrationName, r.status])).toEqual([['0001_create', 'Success']]);
    expect((await sql<{ note: string }>`SELECT note FROM ${sql.table(table)}`.execute(db)).rows).toEqual([
      { note: 'seeded' },
    ]);
    const down = await migrator.migrateDown();
    expect(down.error).toBeUndefined();
    // The lock (a row of the lock table over the bus, not a session-level advisory lock) is free again.
    const lock = await bridge.pg.query(`SELECT is_locked FROM kysely_migration_lock_${suffix}`);
    expect(lock.rows).toEqual([{ is_locked: 0 }]);
    expect((await bridge.pg.query('SELECT to_regclass($1) AS t', [table])).rows).toEqual([{ t: null }]);
  });

  it('without DBBRIDGE_ALLOW_DDL the same DDL is refused with VALIDATION_ERROR', async () => {
    const strict = await startBridge('migrator-strict');
    try {
      const client = await strict.client();
      await expect(client.execute(`CREATE TABLE ${table}_no (id int)`)).rejects.toMatchObject({
        code: 'VALIDATION_ERROR',
      });
    } finally {
      await strict.close();
    }
  });
});
