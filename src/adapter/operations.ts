import type { OperationType, RequestPayload, WhereOperator } from '../events/request.js';
import { WHERE_OPERATORS } from '../events/request.js';
import { validationError } from './failures.js';
import type { StatementPolicy } from './sql-validator.js';

/**
 * A request payload, in either dialect, turned into one operation the adapter knows how to run.
 * The older dialect's names (QUERY, UPSERT, query, entity_type, filters) map onto the seed's.
 */
export type Operation =
  | {
      readonly kind: 'sql';
      readonly sql: string;
      readonly params: readonly unknown[];
      readonly policy: StatementPolicy;
      /** Older dialect: `limit` / `offset` applied to the rows of a read. */
      readonly page?: { readonly limit: number | undefined; readonly offset: number | undefined };
      /** Run inside this open transaction. */
      readonly transactionId?: string;
    }
  | { readonly kind: 'begin'; readonly settings: NonNullable<RequestPayload['transaction']> }
  | { readonly kind: 'end'; readonly action: 'commit' | 'rollback'; readonly transactionId: string }
  | { readonly kind: 'batch'; readonly statements: readonly { sql: string; params: readonly unknown[] }[] }
  /** Cancel the running statement of the request with this correlation id. */
  | { readonly kind: 'cancel'; readonly correlationId: string }
  | {
      readonly kind: 'insert';
      readonly table: string;
      readonly data: Readonly<Record<string, unknown>>;
      readonly returning: Returning;
      /** UPSERT: conflict target (empty = the primary key). */
      readonly upsert?: readonly string[];
    }
  | {
      readonly kind: 'update';
      readonly table: string;
      readonly data: Readonly<Record<string, unknown>>;
      readonly where: Readonly<Record<string, unknown>>;
      readonly returning: Returning;
    }
  | {
      readonly kind: 'delete';
      readonly table: string;
      readonly where: Readonly<Record<string, unknown>>;
      readonly returning: Returning;
    }
  | {
      readonly kind: 'select';
      readonly table: string;
      readonly where: Readonly<Record<string, unknown>>;
      readonly limit?: number;
      readonly offset?: number;
    };

/** `undefined`: the operation's default; `null`: none; `'*'`: all columns; else the listed columns. */
export type Returning = undefined | null | '*' | readonly string[];

/** The request fields an operation is built from, with the older dialect's names folded into the seed's. */
interface Fields {
  readonly op: OperationType;
  readonly payload: RequestPayload;
  readonly table: string | undefined;
  readonly where: Record<string, unknown> | undefined;
}

/**
 * One row per operation type, both dialects: which statement kind its SQL must be (`sql`; absent:
 * the operation takes no SQL), how its statement is built from table, data and where when it
 * carries no SQL (`fromTable`; absent: it needs SQL), or, for the transaction operations, what it
 * becomes (`control`). SQL always wins: `table` / `entity_type` only name the target of a built
 * statement. `limit` / `offset` page reads only.
 */
interface OperationRule {
  /** A read: `limit` and `offset` page its rows. */
  readonly reads?: true;
  readonly sql?: (allowDdl: boolean) => StatementPolicy;
  readonly fromTable?: (fields: Fields) => Operation;
  readonly control?: (payload: RequestPayload) => Operation;
}

const readRule: OperationRule = {
  reads: true,
  sql: () => ({ kind: 'read' }),
  fromTable: ({ op, payload, table, where }) => ({
    kind: 'select',
    table: requireTable(op, table, `${op} needs payload.sql (or payload.table for a table read)`),
    where: where ?? {},
    ...(payload.limit === undefined ? {} : { limit: payload.limit }),
    ...(payload.offset === undefined ? {} : { offset: payload.offset }),
  }),
};

const insertRule = (upsert: boolean): OperationRule => ({
  sql: () => ({ kind: 'exact', node: 'InsertStmt', ...(upsert ? { onConflict: true } : {}) }),
  fromTable: ({ op, payload, table }) => ({
    kind: 'insert',
    table: requireTable(op, table),
    data: requireData(op, table, payload.data),
    returning: toReturning(payload.returning),
    ...(upsert ? { upsert: payload.conflict_columns ?? [] } : {}),
  }),
});

const endRule = (action: 'commit' | 'rollback'): OperationRule => ({
  control: (payload) => {
    if (payload.transaction_id === undefined)
      throw validationError(`${payload.operation_type} needs payload.transaction_id`);
    return { kind: 'end', action, transactionId: payload.transaction_id };
  },
});

export const OPERATION_RULES: Readonly<Record<OperationType, OperationRule>> = {
  SELECT: readRule,
  QUERY: readRule,
  EXECUTE: { sql: (allowDdl) => ({ kind: 'execute', allowDdl }) },
  INSERT: insertRule(false),
  /** UPSERT: an INSERT with ON CONFLICT. */
  UPSERT: insertRule(true),
  UPDATE: {
    sql: () => ({ kind: 'exact', node: 'UpdateStmt' }),
    fromTable: ({ op, payload, table, where }) => ({
      kind: 'update',
      table: requireTable(op, table),
      data: requireData(op, table, payload.data),
      where: requireWhere(op, where),
      returning: toReturning(payload.returning),
    }),
  },
  DELETE: {
    sql: () => ({ kind: 'exact', node: 'DeleteStmt' }),
    fromTable: ({ op, payload, table, where }) => ({
      kind: 'delete',
      table: requireTable(op, table),
      where: requireWhere(op, where),
      returning: toReturning(payload.returning),
    }),
  },
  BEGIN: { control: (payload) => ({ kind: 'begin', settings: payload.transaction ?? {} }) },
  COMMIT: endRule('commit'),
  ROLLBACK: endRule('rollback'),
  CANCEL: {
    control: (payload) => {
      if (payload.cancel_correlation_id === undefined)
        throw validationError('CANCEL needs payload.cancel_correlation_id');
      return { kind: 'cancel', correlationId: payload.cancel_correlation_id };
    },
  },
  BATCH: {
    control: (payload) => {
      if (payload.statements === undefined) throw validationError('BATCH needs payload.statements');
      if (payload.transaction_id !== undefined)
        throw validationError('BATCH runs in a transaction of its own: drop transaction_id');
      return {
        kind: 'batch',
        statements: payload.statements.map((s) => ({ sql: s.sql, params: s.params ?? [] })),
      };
    },
  },
};

export function toOperation(payload: RequestPayload, allowDdl: boolean): Operation {
  const op = payload.operation_type;
  const rule = OPERATION_RULES[op];
  if (rule.control !== undefined) return rule.control(payload);
  const sql = payload.sql ?? payload.query;
  const transactionId = payload.transaction_id;

  if (sql !== undefined && rule.sql !== undefined) {
    if (sql.trim() === '') throw validationError('sql must not be empty');
    if (payload.data !== undefined) throw validationError(`${op} takes either SQL or payload.data, not both`);
    const page = { limit: payload.limit, offset: payload.offset };
    const paged = page.limit !== undefined || page.offset !== undefined;
    if (paged && rule.reads === undefined) throw notPaged(op);
    return {
      kind: 'sql',
      sql,
      params: payload.params ?? [],
      policy: rule.sql(allowDdl),
      ...(paged ? { page } : {}),
      ...(transactionId === undefined ? {} : { transactionId }),
    };
  }
  if (rule.fromTable === undefined) throw validationError(`${op} needs payload.sql`);
  if (transactionId !== undefined) {
    throw validationError(
      'inside a transaction, send SQL (payload.sql); table operations run outside transactions',
    );
  }
  if (rule.reads === undefined && (payload.limit !== undefined || payload.offset !== undefined))
    throw notPaged(op);
  return rule.fromTable({
    op,
    payload,
    table: payload.table ?? payload.entity_type,
    where: payload.where ?? payload.filters,
  });
}

function notPaged(op: string) {
  return validationError(`limit and offset page a read (SELECT or QUERY), not ${op}`);
}

function requireTable(op: string, table: string | undefined, message = `${op} needs payload.table`): string {
  if (table === undefined || table === '') throw validationError(message);
  return table;
}

function requireData(op: string, table: string | undefined, data: Record<string, unknown> | undefined) {
  if (data === undefined || Object.keys(data).length === 0) {
    throw validationError(`${op} on ${table ?? '(no table)'} needs a non-empty payload.data`);
  }
  return data;
}

function requireWhere(op: string, where: Record<string, unknown> | undefined) {
  if (where === undefined || Object.keys(where).length === 0) {
    throw validationError(`${op} with an empty where is refused: it would touch every row`);
  }
  return where;
}

/** `null` is absent (the default); an empty list asks for no RETURNING. */
function toReturning(value: string | readonly string[] | null | undefined): Returning {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value) && value.length === 0) return null;
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value;
  if (list.length === 1 && list[0] === '*') return '*';
  if (list.length === 0 || list.some((c) => c === '' || c === '*')) {
    throw validationError('returning takes a column, a list of columns, or "*"');
  }
  return list;
}

const OPERATORS = new Set<string>(WHERE_OPERATORS);

export function isOperatorObject(value: unknown): value is Partial<Record<WhereOperator, unknown>> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  if (keys.length === 0 || !keys.some((k) => k.startsWith('$'))) return false;
  for (const key of keys) {
    if (!OPERATORS.has(key)) {
      throw validationError(
        `unknown where operator ${JSON.stringify(key)}: use one of ${WHERE_OPERATORS.join(' ')}`,
      );
    }
  }
  return true;
}

/** The operations the adapter builds SQL for from table, data, where and returning. */
export type TableOperation = Extract<Operation, { readonly table: string }>;
