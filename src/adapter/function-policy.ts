/**
 * Functions no request may call, whatever its operation (and, later, whatever its service's policy):
 * they reach outside the database (files, other servers, other sessions), or change the state of the
 * pooled connection for whoever uses it next, or run SQL text the validator cannot see. The validator
 * refuses a statement that names one anywhere in its parse tree; the local stack revokes EXECUTE on
 * the same list from PUBLIC (`scripts/stack/roles.ts`), so a name this list misses in a way the
 * parse tree hides still fails in the database.
 *
 * Names match whatever the schema (`set_config`, `pg_catalog.set_config`, `public.dblink`): a
 * function of the same name elsewhere is refused too. `prefix` entries cover families.
 */
export interface RefusedFunction {
  /** Function name as PostgreSQL folds it (lower case), or the start of the names of a family. */
  readonly name: string;
  readonly match: 'exact' | 'prefix';
  /** Why, as the end of "function X is refused: it ...". */
  readonly reason: string;
  /**
   * Names of PostgreSQL's own functions (in `pg_catalog`) the entry covers, for the REVOKE and the
   * tests; for an exact entry, its name. Functions of extensions (dblink, adminpack) need not exist.
   */
  readonly examples: readonly string[];
}

const FILES = 'reads or writes files of the database server';
const LARGE_OBJECTS = 'reads or writes large objects (and, server side, files of the database server)';
const SIGNALS = 'signals or administers the database server or its other sessions';
const SESSION = 'changes the state of the pooled connection for the requests that use it next';
const LOCKS = 'takes a session-level advisory lock that outlives the request (use pg_advisory_xact_lock)';
const REMOTE = 'opens connections from the database server to other servers';
const HIDDEN_SQL = 'runs SQL text that the adapter cannot check';
const NOTIFY = 'sends notifications to other sessions';

const exact = (name: string, reason: string): RefusedFunction => ({
  name,
  match: 'exact',
  reason,
  examples: [name],
});
const prefix = (name: string, reason: string, examples: readonly string[]): RefusedFunction => ({
  name,
  match: 'prefix',
  reason,
  examples,
});

/** The one list. Keep each entry covered by `test/unit/function-policy.test.ts`. */
export const REFUSED_FUNCTIONS: readonly RefusedFunction[] = Object.freeze([
  // Server files.
  exact('pg_read_file', FILES),
  exact('pg_read_binary_file', FILES),
  exact('pg_stat_file', FILES),
  exact('pg_current_logfile', FILES),
  prefix('pg_ls_', FILES, ['pg_ls_dir', 'pg_ls_logdir', 'pg_ls_waldir', 'pg_ls_tmpdir']),
  prefix('pg_file_', FILES, []), // adminpack: pg_file_write, pg_file_rename, pg_file_unlink, ...
  // Large objects, server-side import/export included.
  prefix('lo_', LARGE_OBJECTS, [
    'lo_import',
    'lo_export',
    'lo_get',
    'lo_put',
    'lo_create',
    'lo_creat',
    'lo_open',
    'lo_unlink',
    'lo_from_bytea',
    'lo_truncate',
  ]),
  exact('loread', LARGE_OBJECTS),
  exact('lowrite', LARGE_OBJECTS),
  // Other sessions and the server.
  exact('pg_terminate_backend', SIGNALS),
  exact('pg_cancel_backend', SIGNALS),
  exact('pg_reload_conf', SIGNALS),
  exact('pg_rotate_logfile', SIGNALS),
  exact('pg_promote', SIGNALS),
  exact('pg_switch_wal', SIGNALS),
  exact('pg_create_restore_point', SIGNALS),
  exact('pg_log_backend_memory_contexts', SIGNALS),
  // Session state.
  exact('set_config', SESSION),
  exact('setseed', SESSION),
  exact('pg_advisory_lock', LOCKS),
  exact('pg_advisory_lock_shared', LOCKS),
  exact('pg_try_advisory_lock', LOCKS),
  exact('pg_try_advisory_lock_shared', LOCKS),
  // Other servers.
  prefix('dblink', REMOTE, []), // extension: dblink, dblink_exec, dblink_connect, ...
  // SQL inside a string.
  exact('query_to_xml', HIDDEN_SQL),
  exact('query_to_xmlschema', HIDDEN_SQL),
  exact('query_to_xml_and_xmlschema', HIDDEN_SQL),
  exact('ts_stat', HIDDEN_SQL),
  exact('pg_notify', NOTIFY),
]);

const EXACT = new Map(REFUSED_FUNCTIONS.filter((f) => f.match === 'exact').map((f) => [f.name, f]));
const PREFIXES = REFUSED_FUNCTIONS.filter((f) => f.match === 'prefix');

/** The entry that refuses a function of this (unqualified, folded) name, if any. */
export function refusedFunction(name: string): RefusedFunction | undefined {
  return EXACT.get(name) ?? PREFIXES.find((f) => name.startsWith(f.name));
}

/** The message of a refusal, naming the function as the statement wrote it. */
export function refusalMessage(written: string, entry: RefusedFunction): string {
  return `function ${written} is refused: it ${entry.reason}`;
}
