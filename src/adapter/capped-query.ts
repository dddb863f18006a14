import pg from 'pg';

/**
 * A `pg` query that returns at most `limit` rows in ONE round trip: Parse, Bind, Describe,
 * Execute(limit) and Sync go out in one corked write on the unnamed portal. When PostgreSQL
 * suspends the portal (more rows exist), the Sync closes it, and the result is marked truncated.
 * (`pg-cursor` needs three round trips and eight writes for the same, and `pg`'s own `rows`
 * option keeps fetching until the end.) It overrides two of `pg.Query`'s internal hooks, which
 * `pg` 8 has kept stable; the tests for `max_rows` cover them.
 */
interface QueryInternals {
  portal: string;
  rows: number | undefined;
  _result: { addCommandComplete(msg: unknown): void };
  _checkForMultirow(): void;
}

interface Connection {
  execute(config: { portal: string; rows: number | undefined }): void;
  sync(): void;
}

export interface CappedResult {
  readonly result: pg.QueryResult;
  /** PostgreSQL had more rows than the limit. */
  readonly truncated: boolean;
}

const BaseQuery = pg.Query as unknown as new (
  config: pg.QueryConfig & { rowMode?: 'array'; types?: pg.CustomTypesConfig; rows?: number },
  values: undefined,
  callback: (error: Error | null, result: pg.QueryResult) => void,
) => pg.Query;

class CappedQuery extends BaseQuery {
  suspended = false;

  _getRows(this: CappedQuery & QueryInternals, connection: Connection, rows: number | undefined): void {
    connection.execute({ portal: this.portal, rows });
    connection.sync();
  }

  handlePortalSuspended(): void {
    this.suspended = true;
  }

  handleCommandComplete(this: CappedQuery & QueryInternals, msg: unknown): void {
    this._checkForMultirow();
    this._result.addCommandComplete(msg);
  }
}

export function cappedQuery(
  client: pg.PoolClient,
  config: { text: string; values: unknown[]; types: pg.CustomTypesConfig; limit: number },
): Promise<CappedResult> {
  return new Promise((resolve, reject) => {
    const query: CappedQuery = new CappedQuery(
      { text: config.text, values: config.values, rowMode: 'array', types: config.types, rows: config.limit },
      undefined,
      (error, result) => (error ? reject(error) : resolve({ result, truncated: query.suspended })),
    );
    client.query(query as unknown as pg.QueryConfig);
  });
}
