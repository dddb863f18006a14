import type { RequestPayload, WhereOperator } from '../events/request.js';
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
      /** Run inside this open transaction. */
      readonly transactionId?: string;
    }
  | { readonly kind: 'begin'; readonly settings: NonNullable<RequestPayload['transaction']> }
  | { readonly kind: 'end'; readonly action: 'commit' | 'rollback'; readonly transactionId: string }
  | { readonly kind: 'batch'; readonly statements: readonly { sql: string; params: readonly unknown[] }[] }
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

export function toOperation(payload: RequestPayload, allowDdl: boolean): Operation {
  const op = payload.operation_type;
  const transactionId = payload.transaction_id;
  switch (op) {
    case 'BEGIN':
      return { kind: 'begin', settings: payload.transaction ?? {} };
    case 'COMMIT':
    case 'ROLLBACK':
      if (transactionId === undefined) throw validationError(`${op} needs payload.transaction_id`);
      return { kind: 'end', action: op === 'COMMIT' ? 'commit' : 'rollback', transactionId };
    case 'BATCH':
      if (payload.statements === undefined) throw validationError('BATCH needs payload.statements');
      if (transactionId !== undefined)
        throw validationError('BATCH runs in a transaction of its own: drop transaction_id');
      return {
        kind: 'batch',
        statements: payload.statements.map((s) => ({ sql: s.sql, params: s.params ?? [] })),
      };
  }
  const sql = payload.sql ?? payload.query;
  const table = payload.table ?? payload.entity_type;
  const where = payload.where ?? payload.filters;
  const params = payload.params ?? [];

  if (sql !== undefined && (op === 'SELECT' || op === 'QUERY' || op === 'EXECUTE' || table === undefined)) {
    if (sql.trim() === '') throw validationError('sql must not be empty');
    const policy: StatementPolicy =
      op === 'SELECT' || op === 'QUERY'
        ? { kind: 'read' }
        : op === 'EXECUTE'
          ? { kind: 'execute', allowDdl }
          : op === 'UPDATE'
            ? { kind: 'exact', node: 'UpdateStmt' }
            : op === 'DELETE'
              ? { kind: 'exact', node: 'DeleteStmt' }
              : { kind: 'exact', node: 'InsertStmt' };
    return { kind: 'sql', sql, params, policy, ...(transactionId === undefined ? {} : { transactionId }) };
  }
  if (transactionId !== undefined) {
    throw validationError(
      'inside a transaction, send SQL (payload.sql); table operations run outside transactions',
    );
  }

  switch (op) {
    case 'SELECT':
    case 'QUERY':
      if (table === undefined)
        throw validationError(`${op} needs payload.sql (or payload.table for a table read)`);
      return {
        kind: 'select',
        table,
        where: where ?? {},
        ...(payload.limit === undefined ? {} : { limit: payload.limit }),
        ...(payload.offset === undefined ? {} : { offset: payload.offset }),
      };
    case 'EXECUTE':
      throw validationError('EXECUTE needs payload.sql');
    case 'INSERT':
    case 'UPSERT': {
      const data = requireData(op, table, payload.data);
      return {
        kind: 'insert',
        table: requireTable(op, table),
        data,
        returning: toReturning(payload.returning),
        ...(op === 'UPSERT' ? { upsert: payload.conflict_columns ?? [] } : {}),
      };
    }
    case 'UPDATE':
      return {
        kind: 'update',
        table: requireTable(op, table),
        data: requireData(op, table, payload.data),
        where: requireWhere(op, where),
        returning: toReturning(payload.returning),
      };
    case 'DELETE':
      return {
        kind: 'delete',
        table: requireTable(op, table),
        where: requireWhere(op, where),
        returning: toReturning(payload.returning),
      };
  }
}

function requireTable(op: string, table: string | undefined): string {
  if (table === undefined || table === '') throw validationError(`${op} needs payload.table`);
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

function toReturning(value: string | readonly string[] | null | undefined): Returning {
  if (value === undefined || value === null) return value;
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
