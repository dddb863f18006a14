import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { assertNodeVersion, readEnv } from '../src/env.js';
import { postgresUrl } from './stack/postgres.js';
import { isMain, repoRoot } from './stack/process.js';

const MIGRATIONS_DIR = join(repoRoot, 'scripts', 'migrations');
/** Serialises concurrent `migrate()` calls on one database (an arbitrary constant key). */
const LOCK_KEY = 0x0db_b41d;

/**
 * Applies the pending `scripts/migrations/NNNN_name.sql` files in order, each in its own transaction,
 * and records them in `schema_migrations`. Safe to run again and concurrently. Returns the versions
 * it applied.
 */
export async function migrate(databaseUrl: string): Promise<string[]> {
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((name) => /^\d{4}_[\w-]+\.sql$/.test(name))
    .sort();
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (error) {
    const where = new URL(databaseUrl).host;
    throw new Error(
      `cannot reach PostgreSQL at ${where} (${(error as Error).message}): start the local stack first (\`npm run stack:up\`, or \`npm start\` in another shell), or set DATABASE_URL to your database`,
      { cause: error },
    );
  }
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const done = new Set(
      (await client.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    for (const file of files) {
      const version = file.slice(0, -'.sql'.length);
      if (done.has(version)) continue;
      try {
        await client.query('BEGIN');
        await client.query(readFileSync(join(MIGRATIONS_DIR, file), 'utf8'));
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw new Error(`migration ${file} failed: ${(error as Error).message}`, { cause: error });
      }
      applied.push(version);
    }
  } finally {
    await client.end(); // also releases the advisory lock
  }
  return applied;
}

if (isMain(import.meta.url)) {
  assertNodeVersion();
  const env = readEnv();
  const url =
    process.argv[2] ?? env.DATABASE_OWNER_URL ?? env.DATABASE_URL ?? postgresUrl(env.DBBRIDGE_PG_PORT);
  try {
    const applied = await migrate(url);
    process.stdout.write(
      applied.length === 0 ? 'schema is up to date\n' : `applied: ${applied.join(', ')}\n`,
    );
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
