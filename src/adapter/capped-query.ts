import { createRequire } from 'node:module';
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

/** How one statement of a chain ended: its value, or its error. */
export type Settled<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: unknown };

/** A statement of a chain other than its main one (its rows, if any, are not kept). */
export interface ChainStep {
  readonly text: string;
  readonly values: readonly unknown[];
}

/** What became of each statement of a chain, and of the transaction they formed. */
export interface ChainOutcome {
  readonly before: readonly Settled<void>[];
  readonly statement: Settled<CappedResult>;
  readonly after: readonly Settled<void>[];
  /** `COMMIT`; `ROLLBACK` when a statement failed; an error when the commit itself failed or is unknown. */
  readonly commit: Settled<string>;
}

/** pg's own encoding of a parameter value (string, Buffer or null), as its Bind would do it. */
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as {
  prepareValue(value: unknown): unknown;
};

/** The answer a statement gets when one before it in its transaction failed: it did not run. */
function notRun(): Error {
  return Object.assign(new Error('not run: a statement before it in its transaction failed'), {
    code: '25P02',
  });
}

/**
 * Several statements in ONE implicit transaction and one round trip: Parse, Bind, Describe and
 * Execute for each, then a single Sync. PostgreSQL runs everything up to a Sync in one transaction:
 * a failing statement skips the rest and rolls all back; the Sync commits otherwise. The same as
 * `BEGIN; ...; COMMIT` without the two extra statements. Only the main statement's rows are kept
 * (at most `limit`, as `cappedQuery`). Values are encoded before anything is sent, so a value that
 * cannot be encoded fails the chain with nothing sent (a Bind that failed half-way would leave the
 * statements before it to be committed by the Sync pg sends after it).
 */
class ChainQuery extends BaseQuery {
  suspended = false;
  readonly #steps: readonly ChainStep[];
  readonly #main: number;
  readonly #limit: number;
  readonly #settle: (outcome: ChainOutcome) => void;
  /** The statement whose answers arrive now; `#steps.length`: all done, the commit's turn. */
  #current = 0;
  #encoded: unknown[][] = [];
  /** Handed to the connection: until then, a failure means nothing ran. */
  #sent = false;

  constructor(
    before: readonly ChainStep[],
    main: CappedQueryConfig,
    after: readonly ChainStep[],
    settle: (outcome: ChainOutcome) => void,
  ) {
    super(
      {
        text: main.text,
        values: [...main.values],
        rowMode: 'array',
        types: main.types,
        queryMode: 'extended',
      },
      undefined,
      () => {},
    );
    this.#steps = [...before, { text: main.text, values: main.values }, ...after];
    this.#main = before.length;
    this.#limit = Math.min(Math.max(0, Math.floor(main.limit)), 2_147_483_647);
    this.#settle = settle;
  }

  /** Encodes every value first; pg's own `submit` then corks the stream and calls `prepare`. */
  override submit = (connection: unknown): Error | null => {
    try {
      this.#encoded = this.#steps.map((step) => step.values.map((v) => prepareValue(v)));
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
    return (BaseQuery.prototype as unknown as { submit(c: unknown): Error | null }).submit.call(
      this,
      connection,
    );
  };

  prepare(connection: ChainConnection): void {
    this.#sent = true;
    this.#steps.forEach((step, i) => {
      connection.parse({ text: step.text, types: (this as unknown as { types: unknown }).types });
      connection.bind({ portal: '', statement: '', values: this.#encoded[i] ?? [], binary: false });
      connection.describe({ type: 'P', name: '' });
      connection.execute({ portal: '', rows: i === this.#main ? this.#limit : 0 });
    });
    connection.sync();
  }

  handleRowDescription(message: unknown): void {
    if (this.#current !== this.#main) return;
    (BaseQuery.prototype as unknown as { handleRowDescription(m: unknown): void }).handleRowDescription.call(
      this,
      message,
    );
  }

  handleDataRow(message: unknown): void {
    if (this.#current !== this.#main) return;
    (BaseQuery.prototype as unknown as { handleDataRow(m: unknown): void }).handleDataRow.call(this, message);
  }

  handleCommandComplete(message: unknown, connection: unknown): void {
    if (this.#current === this.#main) {
      (
        BaseQuery.prototype as unknown as { handleCommandComplete(m: unknown, c: unknown): void }
      ).handleCommandComplete.call(this, message, connection);
    }
    this.#current++;
  }

  handlePortalSuspended(): void {
    this.suspended = true;
    this.#current++;
  }

  handleEmptyQuery(): void {
    this.#current++;
  }

  handleError(error: unknown): void {
    if (!this.#sent) {
      this.#finish(() => ({ ok: false, error }), { ok: true, value: 'ROLLBACK' });
      return;
    }
    const failed = this.#current;
    const n = this.#steps.length;
    // A lost connection: nothing after the failing statement is known, the commit least of all.
    const lost = !(error as { severity?: unknown }).severity;
    const at = (i: number): Settled<CappedResult> =>
      i < failed
        ? { ok: true, value: this.#mainResult() }
        : { ok: false, error: i === failed ? error : lost ? error : notRun() };
    this.#finish(at, failed >= n || lost ? { ok: false, error } : { ok: true, value: 'ROLLBACK' });
  }

  handleReadyForQuery(): void {
    const self = this as unknown as { _canceledDueToError?: unknown };
    const canceled = self._canceledDueToError;
    // Rows pg could not parse: committed all the same; the statement's result is what failed.
    this.#finish(
      (i) =>
        i === this.#main && canceled
          ? { ok: false, error: canceled }
          : { ok: true, value: this.#mainResult() },
      { ok: true, value: 'COMMIT' },
    );
  }

  #mainResult(): CappedResult {
    return { result: (this as unknown as { _result: pg.QueryResult })._result, truncated: this.suspended };
  }

  #finish(at: (i: number) => Settled<CappedResult>, commit: Settled<string>): void {
    const bare = (s: Settled<CappedResult>): Settled<void> => (s.ok ? { ok: true, value: undefined } : s);
    const all = this.#steps.map((_, i) => at(i));
    this.#settle({
      before: all.slice(0, this.#main).map(bare),
      statement: all[this.#main] as Settled<CappedResult>,
      after: all.slice(this.#main + 1).map(bare),
      commit,
    });
  }
}

interface ChainConnection {
  parse(config: { text: string; types: unknown }): void;
  bind(config: { portal: string; statement: string; values: unknown[]; binary: boolean }): void;
  describe(config: { type: 'P'; name: string }): void;
  execute(config: { portal: string; rows: number }): void;
  sync(): void;
}

/**
 * `before`, the main statement and `after` in one implicit transaction, one round trip (see
 * `ChainQuery`), not yet handed to a connection, and the promise of what became of each.
 */
export function chainQuery(
  before: readonly ChainStep[],
  main: CappedQueryConfig,
  after: readonly ChainStep[],
): { readonly query: pg.QueryConfig; readonly result: Promise<ChainOutcome> } {
  let query!: ChainQuery;
  const result = new Promise<ChainOutcome>((resolve) => {
    query = new ChainQuery(before, main, after, resolve);
  });
  return { query: query as unknown as pg.QueryConfig, result };
}
