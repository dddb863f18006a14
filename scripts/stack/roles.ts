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

/**
 * Roles of the secured stack's services (issue 9 §3): the adapter's connections for a service take
 * its role when they connect (`DBBRIDGE_POLICY`, `localPolicy()`), so the database checks what the
 * policy allows. `service-a` reads and writes the schema's tables; `service-b` only reads them.
 */
export const SERVICE_ROLES = {
  'service-a': { role: 'dbbridge_service_a', writes: true },
  'service-b': { role: 'dbbridge_service_b', writes: false },
} as const;

/** The secured local stack's policy file (`<stateDir>/policy.json`), matching `SERVICE_ROLES`' grants. */
export function localPolicy() {
  const operations = ['SELECT', 'QUERY', 'BEGIN', 'COMMIT', 'ROLLBACK', 'CANCEL'];
  return {
    version: 1,
    // The shared topics (codegen through the bus, the README's walk-through): reads only, as the
    // login role; writes go through a service's own topics, as its role.
    shared: { operations: ['SELECT', 'QUERY', 'EXECUTE'], statements: ['select'], read: ['*'] },
    services: Object.fromEntries(
      Object.entries(SERVICE_ROLES).map(([service, { role, writes }]) => [
        service,
        writes
          ? { role, read: ['public.*'], write: ['public.*'], limits: { transactions: 4, connections: 8 } }
          : {
              role,
              operations,
              statements: ['select'],
              read: ['public.*'],
              limits: { maxRows: 10_000, transactions: 2, connections: 4 },
            },
      ]),
    ),
  };
}

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
    const attributes = 'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';
    // The adapter's login role does not inherit its services' privileges: it takes a service's role
    // (SET ROLE, at connect) for that service's requests only.
    const roles: [string, string][] = [
      [ADAPTER_ROLE, `LOGIN ${attributes} NOINHERIT`],
      [DDL_ROLE, `LOGIN ${attributes} INHERIT`],
      ...Object.values(SERVICE_ROLES).map(({ role }): [string, string] => [role, `NOLOGIN ${attributes}`]),
    ];
    for (const [role, options] of roles) {
      const found = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      await client.query(`${found.rowCount === 0 ? 'CREATE' : 'ALTER'} ROLE ${role} ${options}`);
    }
    const services = Object.values(SERVICE_ROLES);
    const allServices = services.map((s) => s.role).join(', ');
    const writers = services.filter((s) => s.writes).map((s) => s.role);
    const readers = services.filter((s) => !s.writes).map((s) => s.role);
    const idempotency = await client.query(
      "SELECT to_regclass('public.dbbridge_idempotency') IS NOT NULL AS present",
    );
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
      // The services' roles: USAGE on the schema, the tables their policy names, and the adapter's
      // recorded replies of their exactly-once writes (which requests themselves can never name).
      `GRANT USAGE ON SCHEMA public TO ${allServices}`,
      `GRANT ${allServices} TO ${ADAPTER_ROLE} WITH INHERIT FALSE, SET TRUE`,
      ...writers.flatMap((role) => [
        `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`,
        `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ${role}`,
      ]),
      ...readers.map((role) => `GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`),
      `REVOKE ALL ON TABLE schema_migrations FROM ${allServices}`,
      ...(idempotency.rows[0]?.present
        ? [
            `REVOKE ALL ON TABLE public.dbbridge_idempotency FROM ${allServices}`,
            `GRANT SELECT, INSERT, UPDATE ON TABLE public.dbbridge_idempotency TO ${allServices}`,
          ]
        : []),
      ...['CURRENT_USER', DDL_ROLE].flatMap((creator) => [
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${creator} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${ADAPTER_ROLE}`,
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${creator} IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ${ADAPTER_ROLE}`,
        ...writers.map(
          (role) =>
            `ALTER DEFAULT PRIVILEGES FOR ROLE ${creator} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${role}`,
        ),
        ...readers.map(
          (role) =>
            `ALTER DEFAULT PRIVILEGES FOR ROLE ${creator} IN SCHEMA public GRANT SELECT ON TABLES TO ${role}`,
        ),
      ]),
      ...functions.rows.map(
        ({ signature }) =>
          `REVOKE EXECUTE ON FUNCTION ${signature} FROM PUBLIC, ${ADAPTER_ROLE}, ${DDL_ROLE}, ${allServices}`,
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
