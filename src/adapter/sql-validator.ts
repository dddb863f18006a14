import { hasSqlDetails, loadModule, parseSync } from 'libpg-query';
import { LRUCache } from 'lru-cache';
import { RequestRejected, validationError } from './failures.js';
import { refusalMessage, refusedFunction } from './function-policy.js';
import { isReservedTable } from './reserved-tables.js';
import { type TableAccess, tableAccess } from './table-access.js';

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

/** A write the idempotency store may wrap: see `SqlValidator.recordable`. */
export interface RecordableWrite {
  readonly command: 'INSERT' | 'UPDATE' | 'DELETE';
  readonly returning: boolean;
  /** The statement without a trailing semicolon. */
  readonly text: string;
}

const WRAPPABLE: Readonly<Record<string, RecordableWrite['command'] | undefined>> = {
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
};

interface Parsed {
  readonly node: string;
  readonly writes: boolean;
  /** A data-modifying WITH (any statement kind). */
  readonly withWrites: boolean;
  /** INSERT ... ON CONFLICT. */
  readonly onConflict: boolean;
  /** An INSERT, UPDATE or DELETE with a RETURNING list. */
  readonly returning: boolean;
  /** The statement's text without a trailing semicolon. */
  readonly text: string;
  /** SELECT ... INTO: creates a table, so it is DDL, not DML. */
  readonly createsTable: boolean;
  /**
   * Every function the statement calls by name, as written (`lower`, `public.f`), none of them
   * refused: what decides whether its connection is reset afterwards, and what a per-service policy
   * may check on top of the refusals that hold for everyone.
   */
  readonly functions: ReadonlySet<string>;
  /** Statement kinds and the tables read and written, for a per-service policy. */
  readonly access: TableAccess;
  /** TransactionStmt's kind, e.g. TRANS_STMT_SAVEPOINT. */
  readonly transactionKind?: string;
}

const SAVEPOINT_KINDS = new Set(['TRANS_STMT_SAVEPOINT', 'TRANS_STMT_RELEASE', 'TRANS_STMT_ROLLBACK_TO']);

type ParseNode = Record<string, unknown>;

/**
 * Checks SQL with PostgreSQL's own parser (libpg-query, WASM) before it reaches the database:
 * exactly one statement, of a kind the operation allows, that calls no function of
 * `function-policy.ts` and creates or uses no temporary object (both live on the pooled connection
 * after the request). Parse results, and the refusals that hold whatever the operation, are cached
 * by SQL text.
 */
export class SqlValidator {
  /**
   * Parse results by SQL text, least recently used out first, bounded in entries and in text held
   * (a few huge one-off statements must not pin memory or push out the statements that run all day).
   */
  readonly #cache: LRUCache<string, Parsed | RequestRejected>;

  private constructor(maxEntries: number) {
    this.#cache = new LRUCache({
      max: maxEntries,
      maxSize: 16 * 1024 * 1024,
      sizeCalculation: (_, sql) => sql.length + 1,
    });
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
        if (parsed.createsTable) {
          if (policy.allowDdl) return 'ddl';
          throw validationError(
            'SELECT ... INTO creates a table: it is DDL, which this adapter refuses (set DBBRIDGE_ALLOW_DDL=true to allow it; INSERT INTO ... SELECT fills an existing table)',
          );
        }
        if (DML.has(node)) return 'write';
        // Refused whatever the policy, as pg_notify is (function-policy.ts); found by fuzzing.
        if (node === 'NotifyStmt')
          throw validationError('NOTIFY is refused: it sends notifications to other sessions (as pg_notify)');
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

  /**
   * How a checked write can be recorded in the statement itself (`IdempotencyStore`): one INSERT,
   * UPDATE or DELETE with no data-modifying WITH of its own (that WITH would no longer be at the top
   * level once wrapped in another), as its text without a trailing semicolon, and whether it returns
   * rows. Undefined for anything else (a MERGE, a SELECT that writes, ...).
   */
  recordable(sql: string): RecordableWrite | undefined {
    const { node, withWrites, returning, text } = this.#parse(sql);
    const command = WRAPPABLE[node];
    if (command === undefined || withWrites) return undefined;
    return { command, returning, text };
  }

  /**
   * The functions a statement calls by name, as written (`lower`, `public.f`), once `check` let it
   * through (cached with the parse).
   */
  functionsOf(sql: string): ReadonlySet<string> {
    return this.#parse(sql).functions;
  }

  /**
   * The statement kinds it contains and the tables it reads and writes, wherever it names them
   * (`table-access.ts`), once `check` let it through (cached with the parse).
   */
  accessOf(sql: string): TableAccess {
    return this.#parse(sql).access;
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
  const { dml, functions } = walk(stmt);
  const createsTable = node === 'SelectStmt' && body.intoClause !== undefined;
  // SELECT ... INTO creates a table; a data-modifying WITH writes.
  const withWrites = body.withClause !== undefined && walk(body.withClause as ParseNode).dml;
  const writes = node === 'SelectStmt' && (createsTable || dml);
  const bytes = Buffer.from(sql, 'utf8');
  const start = parsed.stmt_location ?? 0;
  const end = parsed.stmt_len ? start + parsed.stmt_len : bytes.length;
  const result = {
    node,
    writes,
    withWrites,
    createsTable,
    functions,
    access: tableAccess(stmt),
    onConflict: node === 'InsertStmt' && body.onConflictClause !== undefined,
    returning: hasReturning(body),
    text: bytes.subarray(start, end).toString('utf8'),
  };
  return node === 'TransactionStmt' ? { ...result, transactionKind: String(body.kind) } : result;
}

/** A RETURNING list: `returningClause.exprs` since PostgreSQL 18's parser (RETURNING OLD/NEW), `returningList` before. */
function hasReturning(body: ParseNode): boolean {
  const exprs = (body.returningClause as ParseNode | undefined)?.exprs ?? body.returningList;
  return Array.isArray(exprs) && exprs.length > 0;
}

const DML_NODES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/**
 * One pass over the whole parse tree (CTEs, subqueries, LATERAL, defaults, ... : every node), with a
 * stack rather than recursion so a deeply nested statement cannot overflow it. Throws on the first
 * refused function or temporary object; returns whether a data-modifying statement is nested inside
 * and the functions called.
 */
function walk(root: ParseNode): { dml: boolean; functions: ReadonlySet<string> } {
  let dml = false;
  const functions = new Set<string>();
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
      continue;
    }
    const node = value as ParseNode;
    // A RangeVar: wrapped as {RangeVar: ...} in FROM lists, bare where a statement names its target.
    if (typeof node.relname === 'string' && typeof node.relpersistence === 'string') checkRelation(node);
    // An ObjectWithArgs (bare too): a function named by DDL, e.g. CREATE CAST ... WITH FUNCTION.
    if (Array.isArray(node.objname)) checkFunction(nameList(node.objname));
    for (const [key, child] of Object.entries(node)) {
      if (DML_NODES.has(key)) dml = true;
      if (key === 'FuncCall') {
        const names = nameList((child as ParseNode).funcname);
        checkFunction(names);
        if (names.length > 0) functions.add(names.join('.'));
      } else if (key === 'CreateFunctionStmt') {
        checkTempName(nameList((child as ParseNode).funcname));
      }
      stack.push(child);
    }
  }
  return { dml, functions };
}

/** `[{String: {sval: 'pg_catalog'}}, {String: {sval: 'set_config'}}]` -> `['pg_catalog', 'set_config']`. */
function nameList(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.map((part) => String((part as { String?: { sval?: string } }).String?.sval ?? ''));
}

function checkFunction(names: readonly string[]): void {
  const name = names.at(-1);
  if (name === undefined) return;
  checkTempName(names);
  const entry = refusedFunction(name);
  if (entry !== undefined) throw validationError(refusalMessage(names.join('.'), entry));
}

const TEMPORARY =
  'temporary objects live on the pooled connection after the request, where the next request would see them';

function isTempSchema(name: string | undefined): boolean {
  return name !== undefined && (name === 'pg_temp' || name.startsWith('pg_temp_'));
}

function checkTempName(names: readonly string[]): void {
  if (names.length > 1 && isTempSchema(names.at(-2))) {
    throw validationError(`${names.join('.')} is refused: ${TEMPORARY}`);
  }
}

function checkRelation(rangeVar: ParseNode): void {
  const name = String(rangeVar.relname ?? '');
  if (isReservedTable(name)) {
    throw validationError(`${name} is the adapter's own bookkeeping and is refused to requests`);
  }
  if (rangeVar.relpersistence === 't') {
    throw validationError(`a temporary table or view (${name}) is refused: ${TEMPORARY}`);
  }
  if (isTempSchema(rangeVar.schemaname as string | undefined)) {
    throw validationError(`${String(rangeVar.schemaname)}.${name} is refused: ${TEMPORARY}`);
  }
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
