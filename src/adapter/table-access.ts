/**
 * What a statement does to tables, from its parse tree (libpg-query): the statement kinds it
 * contains, the relations it reads and those it writes. Every relation counts, wherever it is named:
 * CTEs, subqueries, LATERAL, joins, MERGE sources, DML nested in a data-modifying WITH. A name that
 * refers to a CTE in scope is not a table (with PostgreSQL's scoping: a CTE of a non-recursive WITH
 * sees only the CTEs before it; one of WITH RECURSIVE sees all of them).
 */

/** Statement kinds a per-service policy lists (`statements`). */
export const STATEMENT_KINDS = ['select', 'insert', 'update', 'delete', 'merge', 'ddl'] as const;
export type StatementKind = (typeof STATEMENT_KINDS)[number];

export interface TableAccess {
  readonly kinds: ReadonlySet<StatementKind>;
  /** Relations read, as written and folded by the parser: `table` or `schema.table`. */
  readonly reads: ReadonlySet<string>;
  /** Relations written (targets of INSERT, UPDATE, DELETE, MERGE; every relation a DDL statement names). */
  readonly writes: ReadonlySet<string>;
}

type ParseNode = Record<string, unknown>;

const DML_KINDS: Readonly<Record<string, StatementKind>> = {
  InsertStmt: 'insert',
  UpdateStmt: 'update',
  DeleteStmt: 'delete',
  MergeStmt: 'merge',
};

/** Top-level statements that neither read nor write table rows as DML does, nor change the schema. */
const NOT_DDL = new Set(['SelectStmt', 'TransactionStmt', ...Object.keys(DML_KINDS)]);

function isRangeVar(node: ParseNode): boolean {
  return typeof node.relname === 'string' && typeof node.relpersistence === 'string';
}

function relationName(node: ParseNode): string {
  const schema = node.schemaname;
  return typeof schema === 'string' && schema !== ''
    ? `${schema}.${String(node.relname)}`
    : String(node.relname);
}

/**
 * The target of a DML statement is also read when the statement finds or returns rows of it (UPDATE,
 * DELETE, MERGE, RETURNING, ON CONFLICT DO UPDATE): as in PostgreSQL, which then wants SELECT too.
 */
function targetIsRead(kind: string, body: ParseNode): boolean {
  if (kind !== 'InsertStmt') return true;
  // PostgreSQL 18's parse tree: `returningClause.exprs` (before: `returningList`).
  const returning = (body.returningClause as ParseNode | undefined)?.exprs ?? body.returningList;
  if (Array.isArray(returning) && returning.length > 0) return true;
  const conflict = body.onConflictClause as ParseNode | undefined;
  return conflict !== undefined && conflict.action === 'ONCONFLICT_UPDATE';
}

function cteNames(withClause: ParseNode): string[] {
  const ctes = Array.isArray(withClause.ctes) ? withClause.ctes : [];
  return ctes.map((c) => String(((c as ParseNode).CommonTableExpr as ParseNode | undefined)?.ctename ?? ''));
}

/**
 * Walks `stmt` (one parsed statement, `{SelectStmt: {...}}`), with an explicit stack (a deeply nested
 * statement cannot overflow it), carrying the CTE names in scope with each node.
 */
export function tableAccess(stmt: ParseNode): TableAccess {
  const top = Object.keys(stmt)[0] ?? '';
  const ddl = !NOT_DDL.has(top);
  const kinds = new Set<StatementKind>();
  if (top === 'SelectStmt') kinds.add('select');
  if (ddl) kinds.add('ddl');
  const reads = new Set<string>();
  const writes = new Set<string>();
  /** DML targets (the bare RangeVar objects) and whether the statement reads them too. */
  const targets = new Map<object, boolean>();
  const empty: ReadonlySet<string> = new Set();
  const stack: [unknown, ReadonlySet<string>][] = [[stmt, empty]];
  while (stack.length > 0) {
    const [value, scope] = stack.pop() as [unknown, ReadonlySet<string>];
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      for (const item of value) stack.push([item, scope]);
      continue;
    }
    const node = value as ParseNode;
    if (isRangeVar(node)) {
      const name = relationName(node);
      const target = targets.get(node);
      if (ddl) {
        writes.add(name);
        reads.add(name);
      } else if (target !== undefined) {
        writes.add(name);
        if (target) reads.add(name);
      } else if (!(node.schemaname === undefined && scope.has(String(node.relname)))) {
        reads.add(name);
      }
    }
    for (const [key, child] of Object.entries(node)) {
      const kind = DML_KINDS[key];
      if (kind !== undefined && child !== null && typeof child === 'object') {
        kinds.add(kind);
        const relation = (child as ParseNode).relation;
        if (relation !== null && typeof relation === 'object')
          targets.set(relation, targetIsRead(key, child as ParseNode));
      }
    }
    const withClause = node.withClause as ParseNode | undefined;
    if (withClause !== undefined && withClause !== null && typeof withClause === 'object') {
      const names = cteNames(withClause);
      const inner = new Set([...scope, ...names]);
      const ctes = Array.isArray(withClause.ctes) ? withClause.ctes : [];
      ctes.forEach((cte, i) => {
        const visible = withClause.recursive === true ? inner : new Set([...scope, ...names.slice(0, i)]);
        stack.push([cte, visible]);
      });
      for (const [key, child] of Object.entries(node)) if (key !== 'withClause') stack.push([child, inner]);
    } else {
      for (const child of Object.values(node)) stack.push([child, scope]);
    }
  }
  return { kinds, reads, writes };
}
