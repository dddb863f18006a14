import pg from 'pg';
import { REFUSED_FUNCTIONS } from '../../src/adapter/function-policy.js';

/**
 * The adapter's login role: not a superuser, owns nothing, may not create anything (not even
 * temporary tables), and may only read and write the rows of the schema's tables.
 */
export const ADAPTER_ROLE = 'dbbridge_adapter';
/**
 * The adapter role plus CREATE on the schema: for an adapter run with `DBBRIDGE_ALLOW_DDL` (e.g. Kysely's
 * Migrator through the bus). Still no superuser, still no temporary tables.
 */
export const DDL_ROLE = 'dbbridge_ddl';

/** `ownerUrl` with another user (and no password: the local stack trusts loopback connections). */
export function roleUrl(ownerUrl: string, role: string): string {
  const url = new URL(ownerUrl);
  url.username = role;
  url.password = '';
  return url.toString();
}

/** Serialises concurrent `ensureRoles()` calls on one database (an arbitrary constant key). */
const LOCK_KEY = 0x0db_b41e;

/** `pg_ls_` -> `pg\_ls\_%`: a LIKE pattern matching the names that start with the prefix. */
function likePrefix(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Creates (or brings back in line) the two roles and their privileges in the database `ownerUrl`
 * names, connected as its owner (a superuser in the local stack). Idempotent; run on every `stack up`
 * so tables created since get their grants.
 *
 * - `PUBLIC` loses TEMPORARY on the database and CREATE on schema `public`: no role but the owner
 *   (and `dbbridge_ddl`, for CREATE) makes objects.
 * - `dbbridge_adapter`: CONNECT, USAGE on `public`, SELECT/INSERT/UPDATE/DELETE on its tables and
 *   USAGE/SELECT on its sequences, now and (default privileges) for tables the owner or
 *   `dbbridge_ddl` create later; nothing on `schema_migrations`.
 * - EXECUTE on every function of `src/adapter/function-policy.ts` is revoked from PUBLIC, so a call
 *   the validator misses still fails (superusers are not affected).
 */
export async function ensureRoles(ownerUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: ownerUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    const login = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT';
    for (const role of [ADAPTER_ROLE, DDL_ROLE]) {
      const found = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      await client.query(`${found.rowCount === 0 ? 'CREATE' : 'ALTER'} ROLE ${role} ${login}`);
    }
    const db = (await client.query<{ db: string }>('SELECT quote_ident(current_database()) AS db')).rows[0]
      ?.db as string;
    const exact = REFUSED_FUNCTIONS.filter((f) => f.match === 'exact').map((f) => f.name);
    const prefixes = REFUSED_FUNCTIONS.filter((f) => f.match === 'prefix').map((f) => likePrefix(f.name));
    const functions = await client.query<{ signature: string }>(
      'SELECT oid::regprocedure::text AS signature FROM pg_proc WHERE proname = ANY($1) OR proname LIKE ANY($2) ORDER BY 1',
      [exact, prefixes],
    );
    const statements = [
      `REVOKE TEMPORARY, CREATE ON DATABASE ${db} FROM PUBLIC`,
      `GRANT CONNECT ON DATABASE ${db} TO ${ADAPTER_ROLE}, ${DDL_ROLE}`,
      'REVOKE CREATE ON SCHEMA public FROM PUBLIC',
      `GRANT USAGE ON SCHEMA public TO ${ADAPTER_ROLE}`,
      `GRANT USAGE, CREATE ON SCHEMA public TO ${DDL_ROLE}`,
      `GRANT ${ADAPTER_ROLE} TO ${DDL_ROLE}`,
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${ADAPTER_ROLE}`,
      `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ${ADAPTER_ROLE}`,
      `REVOKE ALL ON TABLE schema_migrations FROM ${ADAPTER_ROLE}, ${DDL_ROLE}`,
      ...['CURRENT_USER', DDL_ROLE].flatMap((creator) => [
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${creator} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${ADAPTER_ROLE}`,
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${creator} IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ${ADAPTER_ROLE}`,
      ]),
      ...functions.rows.map(
        ({ signature }) =>
          `REVOKE EXECUTE ON FUNCTION ${signature} FROM PUBLIC, ${ADAPTER_ROLE}, ${DDL_ROLE}`,
      ),
    ];
    await client.query(statements.join(';\n'));
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw new Error(`could not set up the adapter's roles: ${(error as Error).message}`, { cause: error });
  } finally {
    await client.end();
  }
}
