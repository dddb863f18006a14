import pg from 'pg';

/**
 * A `pg` query that returns at most `limit` rows in ONE round trip: Parse, Bind, Describe,
 * Execute(limit) and Sync go out in one corked write on the unnamed portal. When PostgreSQL
 * suspends the portal (more rows exist), the Sync closes it, and the result is marked truncated.
 * (`pg-cursor` needs three round trips and eight writes for the same, and `pg`'s own `rows`
 * option keeps fetching until the end.) Because it keeps no portal open past its Sync, it may
 * share a connection in `pg`'s pipeline mode (see `pipeline.ts`). It overrides one of `pg.Query`'s
 * internal hooks (`_getRows`), which `pg` 8 has kept stable; the tests for `max_rows` cover it.
 */
interface Connection {
  execute(config: { portal: string; rows: number | undefined }): void;
  sync(): void;
}

export interface CappedResult {
  readonly result: pg.QueryResult;
  /** PostgreSQL had more rows than the limit. */
  readonly truncated: boolean;
}

export interface CappedQueryConfig {
  readonly text: string;
  readonly values: readonly unknown[];
  readonly types: pg.CustomTypesConfig;
  /** Most rows to read; more make the result `truncated`. */
  readonly limit: number;
  /**
   * Most bytes of row data to hold (each value's length + 3, a NULL 4: no more than its JSON takes).
   * Beyond it the rows read are dropped and the query fails with `tooLarge()` once PostgreSQL is
   * done, so a huge result never sits in memory. Default: no limit.
   */
  readonly maxBytes?: number;
  /** The error a result beyond `maxBytes` fails with. */
  readonly tooLarge?: (maxBytes: number) => Error;
  /** A prepared statement's name (`PreparedStatements`): parsed once per connection. Default: unnamed. */
  readonly name?: string;
}

const BaseQuery = pg.Query as unknown as new (
  config: pg.QueryConfig & { rowMode?: 'array'; types?: pg.CustomTypesConfig; queryMode?: 'extended' },
  values: undefined,
  callback: (error: Error | null, result: pg.QueryResult) => void,
) => pg.Query & { portal: string };

class CappedQuery extends BaseQuery {
  suspended = false;
  readonly #limit: number;
  readonly #maxBytes: number;
  readonly #tooLarge: (maxBytes: number) => Error;
  #bytes = 0;

  constructor(config: CappedQueryConfig, callback: (error: Error | null, result: pg.QueryResult) => void) {
    // `rows` stays unset (pg would keep the portal open and refuse pipeline mode); the limit goes to Execute.
    super(
      {
        text: config.text,
        ...(config.name === undefined ? {} : { name: config.name }),
        values: [...config.values],
        rowMode: 'array',
        types: config.types,
        queryMode: 'extended',
      },
      undefined,
      callback,
    );
    // Execute carries a signed 32-bit row count; a larger number would throw inside pg's writer.
    this.#limit = Math.min(Math.max(0, Math.floor(config.limit)), 2_147_483_647);
    this.#maxBytes = config.maxBytes ?? Number.POSITIVE_INFINITY;
    this.#tooLarge =
      config.tooLarge ??
      ((max) => new Error(`result exceeds ${max} bytes; narrow the query or lower max_rows`));
  }

  handleDataRow(message: { fields: (string | null)[] }): void {
    const self = this as unknown as { _canceledDueToError?: unknown; _result: { rows: unknown[] } };
    if (self._canceledDueToError) return;
    for (const value of message.fields) this.#bytes += value === null ? 4 : value.length + 3;
    if (this.#bytes > this.#maxBytes) {
      // pg drops further rows and hands this error to the callback once the statement is done.
      self._canceledDueToError = this.#tooLarge(this.#maxBytes);
      self._result.rows = [];
      return;
    }
    (BaseQuery.prototype as unknown as { handleDataRow(m: unknown): void }).handleDataRow.call(this, message);
  }

  _getRows(connection: Connection): void {
    connection.execute({ portal: this.portal, rows: this.#limit });
    connection.sync();
  }

  handlePortalSuspended(): void {
    this.suspended = true;
  }
}

/** A capped query not yet handed to a connection, and the promise of its result. */
export function cappedQuery(config: CappedQueryConfig): {
  readonly query: pg.QueryConfig;
  readonly result: Promise<CappedResult>;
} {
  let query!: CappedQuery;
  const result = new Promise<CappedResult>((resolve, reject) => {
    query = new CappedQuery(config, (error, r) =>
      error ? reject(error) : resolve({ result: r, truncated: query.suspended }),
    );
  });
  return { query: query as unknown as pg.QueryConfig, result };
}
