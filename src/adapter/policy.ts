import { readFileSync } from 'node:fs';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { ConfigurationError } from '../errors.js';
import { REQUEST_LIMITS } from '../events/limits.js';
import { OperationType } from '../events/request.js';
import { RequestRejected } from './failures.js';
import { STATEMENT_KINDS, type TableAccess } from './table-access.js';

/**
 * Per-service policies (issue 9 §3): what each identity (the service of the topic a request arrived
 * on; `shared` for the shared topics) may run, as which PostgreSQL role, on which tables, within which
 * limits. Read from a JSON file (`DBBRIDGE_POLICY`), validated here; the adapter checks every
 * statement against it (parse tree, cached per identity and SQL text) and runs it on connections that
 * took the policy's role when they connected, so the role's privileges back every decision.
 */

/** A PostgreSQL role name the adapter can put in a connection's startup options as it is. */
const RoleName = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a role name of lower-case letters, digits and _ (at most 63)');

/** `table`, `schema.table`, `schema.*` or `*`, as PostgreSQL folds unquoted names (lower case). */
const TableName = z
  .string()
  .regex(
    /^(\*|[a-z_][a-z0-9_$]*(\.(\*|[a-z_][a-z0-9_$]*))?)$/,
    'a table as `table`, `schema.table`, `schema.*` or `*` (lower case)',
  );

const ServiceName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, "a service name of lower-case letters, digits and '-' (at most 64)");

const count = (min: number) => z.number().int().min(min);

export const PolicyLimits = z
  .object({
    maxRows: count(1)
      .max(REQUEST_LIMITS.maxRows)
      .optional()
      .describe('Most rows a statement returns (a larger max_rows is cut to it). Default: the adapter’s.'),
    maxBytes: count(1024)
      .optional()
      .describe('Most bytes of rows a result holds, chunked or not. Default: the adapter’s (256 MiB).'),
    statementTimeoutMs: count(1)
      .optional()
      .describe('Longest a statement runs, ms (a larger timeout_ms is cut to it). Default: the adapter’s.'),
    transactions: count(0)
      .optional()
      .describe(
        'Interactive transactions this identity may hold open at once. Default: half its connections.',
      ),
    connections: count(1)
      .optional()
      .describe(
        'Connections of its own pools (read-only and read-write, each): what its statements and transactions can hold at once. Default: DBBRIDGE_POOL_MAX.',
      ),
  })
  .strict();

export const IdentityPolicy = z
  .object({
    role: RoleName.optional().describe(
      'PostgreSQL role its statements run as (the adapter’s login role must be a member). Default: the login role itself.',
    ),
    operations: z
      .array(OperationType)
      .default([...OperationType.options])
      .describe('Operation types it may send. Default: all.'),
    statements: z
      .array(z.enum(STATEMENT_KINDS))
      .default(['select', 'insert', 'update', 'delete', 'merge'])
      .describe('Statement kinds its SQL may contain, anywhere in the statement. Default: all but ddl.'),
    read: z.array(TableName).default([]).describe('Tables it may read. Default: none.'),
    write: z
      .array(TableName)
      .default([])
      .describe('Tables it may insert into, update, delete from or merge into. Default: none.'),
    limits: PolicyLimits.default({}),
  })
  .strict();
export type IdentityPolicy = z.infer<typeof IdentityPolicy>;

export const PolicyFile = z
  .object({
    version: z.literal(1).describe('Format version: 1.'),
    shared: IdentityPolicy.optional().describe(
      'Requests on the shared topics (open mode). Absent: they are refused.',
    ),
    services: z
      .record(ServiceName, IdentityPolicy)
      .default({})
      .describe('Per service (the service of its own request topic); the adapter consumes each one’s topic.'),
  })
  .strict();
export type PolicyFile = z.infer<typeof PolicyFile>;

/** The identity of requests on the shared topics, as the adapter's routes name it. */
export const SHARED_IDENTITY = '';

/**
 * Open mode, without a policy file: every identity may do what any request could before policies
 * existed. Runs as the adapter's login role, every operation and statement kind (DDL still only with
 * `DBBRIDGE_ALLOW_DDL`), every table, the adapter's own limits.
 */
export const OPEN_POLICY: IdentityPolicy = Object.freeze({
  operations: [...OperationType.options],
  statements: [...STATEMENT_KINDS],
  read: ['*'],
  write: ['*'],
  limits: {},
});

/** The policy file at `path`, validated; a `ConfigurationError` names the file and each bad field. */
export function loadPolicyFile(
  path: string,
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
) {
  let text: string;
  try {
    text = read(path);
  } catch (error) {
    throw new ConfigurationError(
      `DBBRIDGE_POLICY: cannot read policy file ${path}: ${(error as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigurationError(
      `DBBRIDGE_POLICY: policy file ${path} is not JSON: ${(error as Error).message}`,
    );
  }
  return parsePolicy(json, `policy file ${path}`);
}

/** A policy as an object (the file's content), validated; errors name each bad field by its path. */
export function parsePolicy(value: unknown, source = 'policy'): PolicyFile {
  const parsed = PolicyFile.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues
    .slice(0, 10)
    .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
  throw new ConfigurationError(`DBBRIDGE_POLICY: ${source} is invalid: ${problems}`);
}

/** The policy of `identity` (`SHARED_IDENTITY` or a service), or undefined: the identity is refused. */
export function policyOf(file: PolicyFile | undefined, identity: string): IdentityPolicy | undefined {
  if (file === undefined) return OPEN_POLICY;
  return identity === SHARED_IDENTITY ? file.shared : file.services[identity];
}

export function unknownIdentity(identity: string): RequestRejected {
  const who =
    identity === SHARED_IDENTITY ? 'requests on the shared topics' : `service ${JSON.stringify(identity)}`;
  return new RequestRejected({
    code: 'VALIDATION_ERROR',
    message: `${who}: no policy in the adapter's policy file (DBBRIDGE_POLICY), so nothing may run`,
    errorType: 'UnknownIdentity',
    sqlstate: '42501',
    retryable: false,
    executed: false,
  });
}

export function policyDenied(identity: string, message: string): RequestRejected {
  const who = identity === SHARED_IDENTITY ? 'the shared topics' : `service ${JSON.stringify(identity)}`;
  return new RequestRejected({
    code: 'VALIDATION_ERROR',
    message: `the policy of ${who} does not allow ${message}`,
    errorType: 'PolicyDenied',
    sqlstate: '42501',
    retryable: false,
    executed: false,
  });
}

/** Catalog schemas every role may read (as PostgreSQL lets it): introspection works under any policy. */
const SYSTEM_SCHEMAS = new Set(['pg_catalog', 'information_schema']);

function isSystemRelation(name: string): boolean {
  const dot = name.indexOf('.');
  return dot === -1 ? name.startsWith('pg_') : SYSTEM_SCHEMAS.has(name.slice(0, dot));
}

/**
 * Whether `list` names the relation `name` (`table` or `schema.table`, as the parse tree has it): `*`
 * names every table; `schema.*` every table of that schema (and unqualified names, which resolve on
 * the adapter's search path); `schema.table` that table (and `table` unqualified); `table` a table of
 * that name in any schema. The role's privileges decide the rest in the database.
 */
export function tableListed(list: readonly string[], name: string): boolean {
  const dot = name.indexOf('.');
  const schema = dot === -1 ? undefined : name.slice(0, dot);
  const table = dot === -1 ? name : name.slice(dot + 1);
  for (const entry of list) {
    if (entry === '*') return true;
    const at = entry.indexOf('.');
    if (at === -1) {
      if (entry === table) return true;
      continue;
    }
    const entrySchema = entry.slice(0, at);
    const entryTable = entry.slice(at + 1);
    if (schema !== undefined && schema !== entrySchema) continue;
    if (entryTable === '*' || entryTable === table) return true;
  }
  return false;
}

/**
 * One identity's policy, applied: operation types, statement kinds and tables of each statement
 * (decisions cached by SQL text, least recently used out, bounded in entries and in text held).
 */
export class PolicyEnforcer {
  readonly identity: string;
  readonly policy: IdentityPolicy;
  readonly #operations: ReadonlySet<string>;
  readonly #statements: ReadonlySet<string>;
  /** True when no statement can be refused (every kind, every table): nothing to check or cache. */
  readonly #open: boolean;
  readonly #decisions: LRUCache<string, true | RequestRejected>;

  constructor(identity: string, policy: IdentityPolicy, maxEntries = 2000) {
    this.identity = identity;
    this.policy = policy;
    this.#operations = new Set(policy.operations);
    this.#statements = new Set(policy.statements);
    this.#open =
      STATEMENT_KINDS.every((k) => this.#statements.has(k)) &&
      policy.read.includes('*') &&
      policy.write.includes('*');
    this.#decisions = new LRUCache({
      max: maxEntries,
      maxSize: 8 * 1024 * 1024,
      sizeCalculation: (_, sql) => sql.length + 1,
    });
  }

  /** Throws `PolicyDenied` unless the identity may send this operation type. */
  checkOperation(operationType: string): void {
    if (!this.#operations.has(operationType)) throw policyDenied(this.identity, `operation ${operationType}`);
  }

  /**
   * Throws `PolicyDenied` unless every statement kind and table of `sql` is allowed. `access` is asked
   * for only on a cache miss (the validator's parse, itself cached).
   */
  checkStatement(sql: string, access: () => TableAccess): void {
    if (this.#open) return;
    const cached = this.#decisions.get(sql);
    if (cached === true) return;
    if (cached !== undefined) throw cached;
    const decision = this.#decide(access());
    this.#decisions.set(sql, decision ?? true);
    if (decision !== undefined) throw decision;
  }

  #decide(access: TableAccess): RequestRejected | undefined {
    for (const kind of access.kinds) {
      if (!this.#statements.has(kind))
        return policyDenied(this.identity, `${kind === 'ddl' ? 'DDL' : kind.toUpperCase()} statements`);
    }
    for (const name of access.writes) {
      if (!tableListed(this.policy.write, name)) return policyDenied(this.identity, `writing table ${name}`);
    }
    for (const name of access.reads) {
      if (!isSystemRelation(name) && !tableListed(this.policy.read, name))
        return policyDenied(this.identity, `reading table ${name}`);
    }
    return undefined;
  }
}
