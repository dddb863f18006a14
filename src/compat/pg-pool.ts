import { DatabaseEventClient, type QueryResult, type Transaction } from '../client/database-event-client.js';
import type { DatabaseEventClientOptions } from '../client/options.js';
import { encodeParams } from '../events/values.js';
import { withPgErrors } from './pg-error.js';

const ALL_ROWS = 1_000_000;

/** The result shape of `pg`'s `query()`. */
export interface PgQueryResult<R> {
  rows: R[];
  rowCount: number | null;
  command: string;
  fields: { name: string; dataTypeID: number }[];
}

type QueryConfig = string | { text: string; values?: readonly unknown[] };

function toPg<R>(result: QueryResult<R>): PgQueryResult<R> {
  return {
    rows: result.rows,
    rowCount: result.rowCount,
    command: result.command,
    fields: result.fields.map((f) => ({ name: f.name, dataTypeID: f.type_oid })),
  };
}

const BEGIN = /^\s*(BEGIN|START\s+TRANSACTION)\b/i;
const COMMIT = /^\s*(COMMIT|END)\s*;?\s*$/i;
const ROLLBACK = /^\s*(ROLLBACK|ABORT)\s*;?\s*$/i;

/**
 * A `pg.PoolClient` over the bus. `BEGIN` / `COMMIT` / `ROLLBACK` sent as text drive an interactive
 * transaction held by one adapter, so code written for a checked-out pg client works unchanged.
 * PostgreSQL's errors are thrown as `pg.DatabaseError` (`err.code` is the SQLSTATE; see `toPgError`).
 */
export class BusPoolClient {
  readonly #client: DatabaseEventClient;
  #transaction: Transaction | undefined;

  constructor(client: DatabaseEventClient) {
    this.#client = client;
  }

  query<R = Record<string, unknown>>(
    config: QueryConfig,
    values?: readonly unknown[],
  ): Promise<PgQueryResult<R>> {
    return withPgErrors(() => this.#query<R>(config, values));
  }

  async #query<R>(config: QueryConfig, values?: readonly unknown[]): Promise<PgQueryResult<R>> {
    const text = typeof config === 'string' ? config : config.text;
    const params = (typeof config === 'string' ? values : (config.values ?? values)) ?? [];
    if (BEGIN.test(text)) {
      if (this.#transaction) throw new Error('a transaction is already open on this client');
      const isolation =
        /ISOLATION\s+LEVEL\s+(READ\s+UNCOMMITTED|READ\s+COMMITTED|REPEATABLE\s+READ|SERIALIZABLE)/i.exec(
          text,
        )?.[1];
      const access = /\bREAD\s+(ONLY|WRITE)\b/i.exec(text)?.[1];
      this.#transaction = await this.#client.beginTransaction({
        ...(isolation ? { isolationLevel: isolation.toLowerCase().replace(/\s+/g, ' ') as never } : {}),
        ...(access ? { accessMode: `read ${access.toLowerCase()}` as never } : {}),
      });
      return { rows: [], rowCount: null, command: 'BEGIN', fields: [] };
    }
    if (COMMIT.test(text) || ROLLBACK.test(text)) {
      const transaction = this.#transaction;
      this.#transaction = undefined;
      if (!transaction)
        return { rows: [], rowCount: null, command: COMMIT.test(text) ? 'COMMIT' : 'ROLLBACK', fields: [] };
      const tag = COMMIT.test(text)
        ? await this.#client.commitTransaction(transaction)
        : await this.#client.rollbackTransaction(transaction);
      return { rows: [], rowCount: null, command: tag, fields: [] };
    }
    const result = await this.#client.request<R>(
      { operation_type: 'EXECUTE', sql: text, params: encodeParams(params) },
      { maxRows: ALL_ROWS, ...(this.#transaction ? { transaction: this.#transaction } : {}) },
    );
    return toPg(result);
  }

  /** Returns the client; a transaction left open is rolled back, as a destroyed pg connection would be. */
  release(): void {
    const transaction = this.#transaction;
    this.#transaction = undefined;
    if (transaction) void this.#client.rollbackTransaction(transaction).catch(() => {});
  }
}

/** A `pg.Pool` over the bus: `query(text, values)`, `connect()` / `release()`, `end()`. */
export class BusPool {
  readonly #client: DatabaseEventClient;
  readonly #owned: boolean;
  #started: Promise<void> | undefined;

  constructor(options: DatabaseEventClientOptions | DatabaseEventClient = {}) {
    this.#owned = !(options instanceof DatabaseEventClient);
    this.#client = options instanceof DatabaseEventClient ? options : new DatabaseEventClient(options);
  }

  #ready(): Promise<void> {
    this.#started ??= this.#owned ? this.#client.start() : Promise.resolve();
    return this.#started;
  }

  async query<R = Record<string, unknown>>(
    config: QueryConfig,
    values?: readonly unknown[],
  ): Promise<PgQueryResult<R>> {
    await this.#ready();
    const text = typeof config === 'string' ? config : config.text;
    if (BEGIN.test(text))
      throw new Error('BEGIN on a pool would not pin a connection: use pool.connect() for transactions');
    return new BusPoolClient(this.#client).query<R>(config, values);
  }

  async connect(): Promise<BusPoolClient> {
    await this.#ready();
    return new BusPoolClient(this.#client);
  }

  async end(): Promise<void> {
    if (this.#owned && this.#started) await this.#client.stop();
  }
}
