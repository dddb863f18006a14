import pg from 'pg';
import Cursor from 'pg-cursor';
import type { ColumnInfo } from '../events/reply.js';
import { isConnectionError, toFailure } from './error-mapping.js';
import { RequestRejected } from './failures.js';

export interface ExecutorOptions {
  /** PostgreSQL connection string. */
  readonly databaseUrl: string;
  /** Maximum connections of each pool (read-only and read-write). Default 20. */
  readonly poolMax?: number;
  /** Wait for a free connection, ms (the seed's pool timeout). Default 30000. */
  readonly connectionTimeoutMs?: number;
  /** Idle connections close after this many ms. Default 30000. */
  readonly idleTimeoutMs?: number;
  /** Connections are replaced after this many seconds (the seed's connection lifetime). Default 3600. */
  readonly maxLifetimeSeconds?: number;
  /** Application name shown in pg_stat_activity. Default `dbbridge-adapter`. */
  readonly applicationName?: string;
}

export interface StatementResult {
  /** PostgreSQL's command tag word: SELECT, INSERT, UPDATE, DELETE, MERGE, ... */
  readonly command: string;
  /** Rows affected (DML) or rows read (SELECT), before `maxRows`. */
  readonly rowCount: number;
  readonly columns: ColumnInfo[];
  readonly textRows: (string | null)[][];
  readonly truncated: boolean;
}

export interface RunOptions {
  readonly readOnly: boolean;
  readonly maxRows: number;
  /** Statement timeout, ms (0 = none). */
  readonly timeoutMs: number;
}

/** Every value comes back as PostgreSQL's text; the wire codec decides what it becomes. */
const RAW_TEXT: pg.CustomTypesConfig = { getTypeParser: () => (value: string) => value };

/**
 * Runs statements on PostgreSQL through two pools of the same server: SELECT requests on
 * connections that are read-only by default (so even a writing function inside a SELECT is
 * refused), everything else on read-write connections.
 */
export class Executor {
  readonly #readPool: pg.Pool;
  readonly #writePool: pg.Pool;
  /** statement_timeout currently set on each connection, to skip the SET when it is unchanged. */
  readonly #timeouts = new WeakMap<pg.PoolClient, number>();

  constructor(options: ExecutorOptions) {
    const base: pg.PoolConfig = {
      connectionString: options.databaseUrl,
      max: options.poolMax ?? 20,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 30_000,
      idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
      maxLifetimeSeconds: options.maxLifetimeSeconds ?? 3600,
      application_name: options.applicationName ?? 'dbbridge-adapter',
    };
    this.#readPool = new pg.Pool({ ...base, options: '-c default_transaction_read_only=on' });
    this.#writePool = new pg.Pool(base);
    // An idle connection that the server dropped must not crash the process; the pool discards it.
    this.#readPool.on('error', () => {});
    this.#writePool.on('error', () => {});
  }

  /** The read-write pool, for the catalog and health checks. */
  get pool(): pg.Pool {
    return this.#writePool;
  }

  async run(text: string, values: readonly unknown[], options: RunOptions): Promise<StatementResult> {
    const pool = options.readOnly ? this.#readPool : this.#writePool;
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw new RequestRejected(toFailure(error, 'connect'));
    }
    let broken: Error | undefined;
    try {
      if (this.#timeouts.get(client) !== options.timeoutMs) {
        await client.query(`SET statement_timeout = ${Math.max(0, Math.floor(options.timeoutMs))}`);
        this.#timeouts.set(client, options.timeoutMs);
      }
      return options.readOnly
        ? await this.#readCursor(client, text, values, options.maxRows)
        : await this.#query(client, text, values, options.maxRows);
    } catch (error) {
      if (isConnectionError(error)) broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /** Reads at most maxRows + 1 rows through a portal, so a huge result is never fully fetched. */
  async #readCursor(client: pg.PoolClient, text: string, values: readonly unknown[], maxRows: number) {
    const cursor = client.query(new Cursor(text, [...values], { rowMode: 'array', types: RAW_TEXT }));
    try {
      const { rows, result } = await new Promise<{ rows: unknown[]; result: pg.QueryResult }>(
        (resolve, reject) => {
          cursor.read(maxRows + 1, (error, rows, result) =>
            error ? reject(error) : resolve({ rows, result }),
          );
        },
      );
      const truncated = rows.length > maxRows;
      const textRows = (truncated ? rows.slice(0, maxRows) : rows) as (string | null)[][];
      return {
        command: 'SELECT',
        rowCount: textRows.length,
        columns: toColumns(result.fields),
        textRows,
        truncated,
      };
    } finally {
      await cursor.close().catch(() => {});
    }
  }

  async #query(client: pg.PoolClient, text: string, values: readonly unknown[], maxRows: number) {
    const result = await client.query({ text, values: [...values], rowMode: 'array', types: RAW_TEXT });
    const rows = result.rows as (string | null)[][];
    const truncated = rows.length > maxRows;
    return {
      command: result.command ?? '',
      rowCount: result.rowCount ?? rows.length,
      columns: toColumns(result.fields ?? []),
      textRows: truncated ? rows.slice(0, maxRows) : rows,
      truncated,
    };
  }

  async close(): Promise<void> {
    await Promise.all([this.#readPool.end(), this.#writePool.end()]);
  }
}

function toColumns(fields: readonly pg.FieldDef[]): ColumnInfo[] {
  return fields.map((f) => ({ name: f.name, type_oid: f.dataTypeID }));
}
