import { type Kysely, type MigrationLockOptions, PostgresAdapter, sql } from 'kysely';

/** How long `acquireMigrationLock` waits for another migration to finish, ms. */
const LOCK_WAIT_MS = 60_000;
const LOCK_POLL_MS = 200;

/**
 * Kysely's PostgreSQL adapter, with a Migrator lock that works over the bus. Kysely takes a
 * session-level advisory lock (with `set_config`) on one connection and releases it in a later
 * statement: over the bus those are separate requests on whatever pooled connection is free, so the
 * lock would stay behind on a pooled connection, and the adapter refuses both functions anyway. The
 * lock here is the row of the Migrator's own lock table (`is_locked` 0 -> 1 in one UPDATE), as
 * Kysely's dialects without advisory locks do; a Migrator that dies while holding it leaves
 * `is_locked = 1` behind, to be reset by hand.
 */
export class KafkaPostgresAdapter extends PostgresAdapter {
  // biome-ignore lint/suspicious/noExplicitAny: Kysely's DialectAdapter interface takes Kysely<any>.
  override async acquireMigrationLock(db: Kysely<any>, options: MigrationLockOptions): Promise<void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      const result =
        await sql`update ${lockTable(options)} set is_locked = 1 where id = ${options.lockRowId} and is_locked = 0`.execute(
          db,
        );
      if (result.numAffectedRows === 1n) return;
      if (Date.now() >= deadline) {
        throw new Error(
          `migration lock ${options.lockTable} is still held after ${LOCK_WAIT_MS} ms: another migration runs, or one died holding it (then set is_locked = 0)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
    }
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kysely's DialectAdapter interface takes Kysely<any>.
  override async releaseMigrationLock(db: Kysely<any>, options: MigrationLockOptions): Promise<void> {
    await sql`update ${lockTable(options)} set is_locked = 0 where id = ${options.lockRowId}`.execute(db);
  }
}

function lockTable(options: MigrationLockOptions) {
  return sql.table(
    options.lockTableSchema ? `${options.lockTableSchema}.${options.lockTable}` : options.lockTable,
  );
}
