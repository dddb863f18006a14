import { hasSqlDetails, loadModule, parseSync } from 'libpg-query';
import { RequestRejected, validationError } from './failures.js';

/** The statement kinds a request may run, by libpg-query node name. */
const READ = new Set(['SelectStmt']);
const DML = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'SelectStmt']);
/** Statements that change the session or the transaction of a pooled connection: never in a single request. */
const SESSION = new Set([
  'VariableSetStmt',
  'DiscardStmt',
  'TransactionStmt',
  'ListenStmt',
  'UnlistenStmt',
  'PrepareStmt',
  'ExecuteStmt',
  'DeallocateStmt',
  'LoadStmt',
  'CopyStmt',
  'AlterSystemStmt',
  'CheckPointStmt',
  'VacuumStmt',
  'CallStmt',
  'ConstraintsSetStmt',
  'LockStmt',
]);

export type StatementClass = 'read' | 'write' | 'ddl';

/** What a request's operation type lets through. */
export type StatementPolicy =
  | { readonly kind: 'read' }
  | { readonly kind: 'execute'; readonly allowDdl: boolean }
  /** Inside an interactive transaction: as `execute`, plus SAVEPOINT, RELEASE and ROLLBACK TO. */
  | { readonly kind: 'transaction'; readonly allowDdl: boolean }
  /** Exactly one INSERT / UPDATE / DELETE (`onConflict`: an INSERT with ON CONFLICT, the older dialect's UPSERT). */
  | {
      readonly kind: 'exact';
      readonly node: 'InsertStmt' | 'UpdateStmt' | 'DeleteStmt';
      readonly onConflict?: boolean;
    };

interface Parsed {
  readonly node: string;
  readonly writes: boolean;
  /** A data-modifying WITH (any statement kind). */
  readonly withWrites: boolean;
  /** INSERT ... ON CONFLICT. */
  readonly onConflict: boolean;
  /** The statement's text without a trailing semicolon. */
  readonly text: string;
  /** TransactionStmt's kind, e.g. TRANS_STMT_SAVEPOINT. */
  readonly transactionKind?: string;
}

const SAVEPOINT_KINDS = new Set(['TRANS_STMT_SAVEPOINT', 'TRANS_STMT_RELEASE', 'TRANS_STMT_ROLLBACK_TO']);

type ParseNode = Record<string, unknown>;

/**
 * Checks SQL with PostgreSQL's own parser (libpg-query, WASM) before it reaches the database:
 * exactly one statement, of a kind the operation allows. Parse results are cached by SQL text.
 */
export class SqlValidator {
  readonly #cache = new Map<string, Parsed | RequestRejected>();
  readonly #maxEntries: number;

  private constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  static async create(maxEntries = 2000): Promise<SqlValidator> {
    await loadModule();
    return new SqlValidator(maxEntries);
  }

  /** Throws `RequestRejected` when the SQL may not run under the policy; returns the statement class. */
  check(sql: string, policy: StatementPolicy): StatementClass {
    const parsed = this.#parse(sql);
    const { node, writes } = parsed;
    switch (policy.kind) {
      case 'read':
        if (!READ.has(node) || writes) {
          throw validationError(
            `a SELECT request must be one read-only SELECT statement, got ${describe(node, writes)}; use EXECUTE for writes`,
          );
        }
        return 'read';
      case 'exact': {
        const expected = policy.onConflict
          ? 'an INSERT ... ON CONFLICT statement'
          : describe(policy.node, false);
        if (node !== policy.node || (policy.onConflict === true && !parsed.onConflict)) {
          throw validationError(`operation expects ${expected}, got ${describe(node, writes)}`);
        }
        if (parsed.withWrites) {
          throw validationError(
            `operation expects ${expected} alone, got one with a data-modifying WITH; use EXECUTE`,
          );
        }
        return 'write';
      }
      case 'transaction':
        if (node === 'TransactionStmt' && SAVEPOINT_KINDS.has(parsed.transactionKind ?? '')) return 'write';
        return this.check(sql, { kind: 'execute', allowDdl: policy.allowDdl });
      case 'execute':
        if (DML.has(node)) return 'write';
        if (SESSION.has(node)) {
          throw validationError(
            `${describe(node, false)} changes the session or transaction state of a pooled connection and is not allowed`,
          );
        }
        if (!policy.allowDdl) {
          throw validationError(
            `${describe(node, false)} is DDL or administration, which this adapter refuses (set DBBRIDGE_ALLOW_DDL=true to allow it)`,
          );
        }
        return 'ddl';
    }
  }

  /**
   * A read with `limit` / `offset` applied: the checked statement as a subquery, so its own LIMIT,
   * ORDER BY and parameters stay as they are. Call after `check` with a read policy.
   */
  paged(sql: string, page: { readonly limit?: number | undefined; readonly offset?: number | undefined }) {
    const { text } = this.#parse(sql);
    const limit = page.limit === undefined ? '' : ` LIMIT ${Math.floor(page.limit)}`;
    const offset = page.offset === undefined ? '' : ` OFFSET ${Math.floor(page.offset)}`;
    // The newline ends a trailing line comment of the statement.
    return `SELECT * FROM (${text}\n) AS dbbridge_page${limit}${offset}`;
  }

  #parse(sql: string): Parsed {
    const cached = this.#cache.get(sql);
    if (cached !== undefined) {
      if (cached instanceof RequestRejected) throw cached;
      return cached;
    }
    let result: Parsed | RequestRejected;
    try {
      result = classify(sql, parseSync(sql) as { stmts?: ParsedStatement[] });
    } catch (error) {
      result = error instanceof RequestRejected ? error : syntaxError(error);
    }
    if (this.#cache.size >= this.#maxEntries) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(sql, result);
    if (result instanceof RequestRejected) throw result;
    return result;
  }
}

interface ParsedStatement {
  readonly stmt: ParseNode;
  /** Byte offsets in the UTF-8 text; a missing length runs to the end. */
  readonly stmt_location?: number;
  readonly stmt_len?: number;
}

function classify(sql: string, tree: { stmts?: ParsedStatement[] }): Parsed {
  const stmts = tree.stmts ?? [];
  if (stmts.length !== 1) {
    throw validationError(`expected exactly one SQL statement, got ${stmts.length}`);
  }
  const parsed = stmts[0] as ParsedStatement;
  const stmt = parsed.stmt;
  const node = Object.keys(stmt)[0] ?? 'unknown';
  const body = stmt[node] as ParseNode;
  const withWrites = containsDml(body.withClause);
  // SELECT ... INTO creates a table; a data-modifying WITH writes.
  const writes = node === 'SelectStmt' && (body.intoClause !== undefined || withWrites);
  const bytes = Buffer.from(sql, 'utf8');
  const start = parsed.stmt_location ?? 0;
  const end = parsed.stmt_len ? start + parsed.stmt_len : bytes.length;
  const result = {
    node,
    writes,
    withWrites,
    onConflict: node === 'InsertStmt' && body.onConflictClause !== undefined,
    text: bytes.subarray(start, end).toString('utf8'),
  };
  return node === 'TransactionStmt' ? { ...result, transactionKind: String(body.kind) } : result;
}

function containsDml(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(containsDml);
  for (const [key, child] of Object.entries(value)) {
    if (key === 'InsertStmt' || key === 'UpdateStmt' || key === 'DeleteStmt' || key === 'MergeStmt')
      return true;
    if (containsDml(child)) return true;
  }
  return false;
}

const NAMES: Record<string, string> = {
  SelectStmt: 'SELECT',
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
  VariableSetStmt: 'SET',
  TransactionStmt: 'a transaction statement',
  CopyStmt: 'COPY',
};

function describe(node: string, writes: boolean): string {
  const name = NAMES[node] ?? node.replace(/Stmt$/, '');
  return writes ? `${name} that writes (data-modifying WITH or SELECT INTO)` : `a ${name} statement`;
}

function syntaxError(error: unknown): RequestRejected {
  const message = error instanceof Error ? error.message : String(error);
  const position = hasSqlDetails(error) ? error.sqlDetails?.cursorPosition : undefined;
  return new RequestRejected({
    code: 'DATABASE_OPERATION_FAILED',
    message,
    errorType: 'PostgresError',
    sqlstate: '42601',
    ...(position === undefined ? {} : { position: String(position + 1) }),
    retryable: false,
    executed: false,
  });
}
