import { quoteIdent } from '../events/sql.js';
import type { ColumnMeta, TableMeta } from './catalog.js';
import { validationError } from './failures.js';
import { isOperatorObject, type Returning, type TableOperation } from './operations.js';

/** Where table metadata comes from (the live `Catalog`, or a fixed map in unit tests). */
export interface TableLookup {
  table(name: string, needColumns?: readonly string[]): Promise<TableMeta | undefined>;
}

export interface Statement {
  readonly text: string;
  readonly values: unknown[];
  /** Runs on the read-only pool. */
  readonly readOnly: boolean;
}

const SQL_OPERATORS = {
  $eq: '=',
  $ne: '<>',
  $lt: '<',
  $lte: '<=',
  $gt: '>',
  $gte: '>=',
  $like: 'LIKE',
  $ilike: 'ILIKE',
} as const;

/**
 * Builds INSERT / UPDATE / DELETE / table reads from table, data, where and returning. Every
 * identifier is checked against the live catalog and quoted; values only ever travel as parameters.
 */
export async function buildStatement(op: TableOperation, catalog: TableLookup): Promise<Statement> {
  const named = [
    ...('data' in op ? Object.keys(op.data) : []),
    ...('where' in op ? Object.keys(op.where) : []),
    ...('returning' in op && Array.isArray(op.returning) ? op.returning : []),
    ...('upsert' in op && op.upsert ? op.upsert : []),
  ];
  const table = await catalog.table(op.table, named);
  if (table === undefined) throw validationError(`unknown table ${JSON.stringify(op.table)}`);
  const target = `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
  const values: unknown[] = [];
  const param = (column: ColumnMeta, value: unknown) => {
    values.push(column.isJson && value !== null && typeof value === 'object' ? JSON.stringify(value) : value);
    return `$${values.length}`;
  };

  switch (op.kind) {
    case 'insert': {
      const columns = Object.entries(op.data).map(([name, value]) => [columnOf(table, name), value] as const);
      let text = `INSERT INTO ${target} (${columns.map(([c]) => quoteIdent(c.name)).join(', ')}) VALUES (${columns
        .map(([c, v]) => param(c, v))
        .join(', ')})`;
      if (op.upsert !== undefined) {
        const conflict =
          op.upsert.length > 0 ? op.upsert.map((c) => columnOf(table, c).name) : table.primaryKey;
        if (conflict.length === 0)
          throw validationError(`UPSERT on ${table.name} needs conflict_columns (it has no primary key)`);
        const updates = columns.filter(([c]) => !conflict.includes(c.name));
        text +=
          ` ON CONFLICT (${conflict.map(quoteIdent).join(', ')}) ` +
          (updates.length === 0
            ? 'DO NOTHING'
            : `DO UPDATE SET ${updates.map(([c]) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`).join(', ')}`);
      }
      // An INSERT returns the primary key unless told otherwise (the seed's `returning="id"`, for any key).
      return {
        text: text + returningClause(table, op.returning === undefined ? table.primaryKey : op.returning),
        values,
        readOnly: false,
      };
    }
    case 'update': {
      const sets = Object.entries(op.data).map(([name, value]) => {
        const column = columnOf(table, name);
        return `${quoteIdent(column.name)} = ${param(column, value)}`;
      });
      const where = whereClause(table, op.where, param);
      return {
        text: `UPDATE ${target} SET ${sets.join(', ')}${where}${returningClause(table, op.returning)}`,
        values,
        readOnly: false,
      };
    }
    case 'delete': {
      const where = whereClause(table, op.where, param);
      return {
        text: `DELETE FROM ${target}${where}${returningClause(table, op.returning)}`,
        values,
        readOnly: false,
      };
    }
    case 'select': {
      let text = `SELECT * FROM ${target}${whereClause(table, op.where, param)}`;
      if (op.limit !== undefined) text += ` LIMIT ${op.limit}`;
      if (op.offset !== undefined) text += ` OFFSET ${op.offset}`;
      return { text, values, readOnly: true };
    }
  }
}

function columnOf(table: TableMeta, name: string): ColumnMeta {
  const column = table.columns.get(name);
  if (column === undefined)
    throw validationError(`unknown column ${JSON.stringify(name)} in table ${table.name}`);
  return column;
}

function returningClause(table: TableMeta, returning: Returning | readonly string[]): string {
  if (returning === undefined || returning === null) return '';
  if (returning === '*') return ' RETURNING *';
  if (returning.length === 0) return '';
  return ` RETURNING ${returning.map((c) => quoteIdent(columnOf(table, c).name)).join(', ')}`;
}

function whereClause(
  table: TableMeta,
  where: Readonly<Record<string, unknown>>,
  param: (column: ColumnMeta, value: unknown) => string,
): string {
  const parts: string[] = [];
  for (const [name, condition] of Object.entries(where)) {
    const column = columnOf(table, name);
    const ident = quoteIdent(column.name);
    if (condition === null) {
      parts.push(`${ident} IS NULL`);
      continue;
    }
    if (!isOperatorObject(condition)) {
      parts.push(`${ident} = ${param(column, condition)}`);
      continue;
    }
    for (const [operator, value] of Object.entries(condition)) {
      if (operator === '$in' || operator === '$nin') {
        if (!Array.isArray(value)) throw validationError(`${operator} on ${name} takes an array`);
        // One array parameter: `= ANY($n)` / `<> ALL($n)`; PostgreSQL infers the array type from the column.
        const list = column.isJson
          ? value.map((v) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : v))
          : value;
        const placeholder = param({ ...column, isJson: false }, list);
        parts.push(operator === '$in' ? `${ident} = ANY(${placeholder})` : `${ident} <> ALL(${placeholder})`);
        continue;
      }
      if (value === null && (operator === '$eq' || operator === '$ne')) {
        parts.push(`${ident} IS ${operator === '$eq' ? '' : 'NOT '}NULL`);
        continue;
      }
      if (value === null) throw validationError(`${operator} on ${name} does not take null`);
      parts.push(`${ident} ${SQL_OPERATORS[operator as keyof typeof SQL_OPERATORS]} ${param(column, value)}`);
    }
  }
  return parts.length === 0 ? '' : ` WHERE ${parts.join(' AND ')}`;
}
