import type { Pool } from 'pg';
import { toFailure } from './error-mapping.js';
import { RequestRejected } from './failures.js';
import { isReservedTable } from './reserved-tables.js';

export interface ColumnMeta {
  readonly name: string;
  /** `format_type` output, e.g. `jsonb`, `text[]`, `numeric(5,4)`. */
  readonly type: string;
  /** JSON columns take objects and arrays as JSON text. */
  readonly isJson: boolean;
}

export interface TableMeta {
  readonly schema: string;
  readonly name: string;
  readonly columns: ReadonlyMap<string, ColumnMeta>;
  readonly primaryKey: readonly string[];
}

const CATALOG_SQL = `
SELECT n.nspname AS schema, c.relname AS table, a.attname AS column,
       format_type(a.atttypid, a.atttypmod) AS type,
       a.atttypid IN (114, 3802) AS is_json,
       COALESCE(a.attnum = ANY(i.indkey), false) AS in_pk
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname = ANY (current_schemas(false))
ORDER BY array_position(current_schemas(false), n.nspname), c.relname, a.attnum`;

interface CatalogRow {
  schema: string;
  table: string;
  column: string;
  type: string;
  is_json: boolean;
  in_pk: boolean;
}

/**
 * The live catalog: tables and columns visible on the search path. Loaded on first use, and again
 * (at most once per `minRefreshMs`) when a request names a table or column it does not know, so a
 * migration is picked up without a restart.
 */
export class Catalog {
  readonly #pool: Pool;
  readonly #minRefreshMs: number;
  #tables = new Map<string, TableMeta>();
  #loadedAt = Number.NEGATIVE_INFINITY;
  #loading: Promise<void> | undefined;

  constructor(pool: Pool, minRefreshMs = 1000) {
    this.#pool = pool;
    this.#minRefreshMs = minRefreshMs;
  }

  /** The table, or undefined when it does not exist even after a refresh. */
  async table(name: string, needColumns: readonly string[] = []): Promise<TableMeta | undefined> {
    if (isReservedTable(name)) return undefined; // the adapter's own bookkeeping: as if absent
    let table = this.#tables.get(name);
    const complete = (t: TableMeta | undefined) =>
      t !== undefined && needColumns.every((c) => t.columns.has(c));
    if (!complete(table) && Date.now() - this.#loadedAt >= this.#minRefreshMs) {
      await this.refresh();
      table = this.#tables.get(name);
    }
    return table;
  }

  refresh(): Promise<void> {
    this.#loading ??= this.#load().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #load(): Promise<void> {
    let rows: CatalogRow[];
    try {
      rows = (await this.#pool.query<CatalogRow>(CATALOG_SQL)).rows;
    } catch (error) {
      // The request's own statement never ran: a failure here is always safe to retry.
      throw new RequestRejected(toFailure(error, 'connect'));
    }
    const tables = new Map<
      string,
      { schema: string; name: string; columns: Map<string, ColumnMeta>; primaryKey: string[] }
    >();
    for (const row of rows) {
      const key = `${row.schema}.${row.table}`;
      let table = tables.get(key);
      if (table === undefined) {
        table = { schema: row.schema, name: row.table, columns: new Map(), primaryKey: [] };
        tables.set(key, table);
        // Rows come in search_path order: the first schema on the path wins the unqualified name.
        if (!tables.has(row.table)) tables.set(row.table, table);
      }
      table.columns.set(row.column, { name: row.column, type: row.type, isJson: row.is_json });
      if (row.in_pk) table.primaryKey.push(row.column);
    }
    this.#tables = tables;
    this.#loadedAt = Date.now();
  }
}
