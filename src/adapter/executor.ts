import pg from 'pg';
import Cursor from 'pg-cursor';
import { statementProblem } from '../events/limits.js';
import type { ColumnInfo } from '../events/reply.js';
import { type CappedResult, cappedQuery } from './capped-query.js';
import { isConnectionError, toFailure } from './error-mapping.js';
import { RequestRejected, validationError } from './failures.js';
import { sendPipelined } from './pipeline.js';
import { isPreparedMismatch, PreparedStatements } from './prepared.js';
import { StatementCosts } from './statement-costs.js';

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
  /**
   * A streamed SELECT (rows handed out in batches) whose `maxRows` is at most this many is read in
   * ONE round trip and held whole; only larger limits go through a portal, batch by batch (three
   * round trips at least). Default 1000, the default `max_rows`.
   */
  readonly portalAboveRows?: number;
  /**
   * Quick statements that arrive together (in the same turn of the event loop) go out pipelined,
   * up to this many on one connection in one write, each in its own implicit transaction: fewer
   * writes and backend wake-ups per statement. 1 turns pipelining off. Default 8.
   */
  readonly pipelineDepth?: number;
  /**
   * Only statements whose text has been seen to run within this many ms are pipelined (a slow one
   * would delay those sent behind it); others, and texts never seen, get a connection of their
   * own. Default 2.
   */
  readonly pipelineQuickMs?: number;
  /**
   * Reset each connection's session (`DISCARD ALL`, sent in the same write as the statements) after
   * every statement, before it goes back to the pool: for adapters that allow DDL, whose requests can
   * create functions that change the session in ways no validator sees. Connections of interactive
   * transactions and batches are reset on release whatever this says (`releaseReset`). Default false.
   */
  readonly resetEveryStatement?: boolean;
  /**
   * PostgreSQL role every connection of this executor takes when it connects (`-c role=...` in the
   * startup packet: no extra round trip, and `DISCARD ALL` or `RESET ROLE` return to it, not to the
   * login role); the login role must be a member. Only `SET ROLE` and `set_config('role', ...)` leave
   * it, and the validator refuses both. Must be a plain lower-case name. Default: the login role.
   */
  readonly role?: string;
  /**
   * Quick statements run as named prepared statements from a text's this-many-th use on (parsed and
   * planned once per connection instead of on every run); 0 turns it off (e.g. behind a pooler in
   * transaction mode that cannot keep them). Default 2.
   */
  readonly prepareAfter?: number;
}

/** What the executor sent, for metrics and tests. */
export interface ExecutorStats {
  /** Statements sent through the one-round-trip path (alone or pipelined). */
  statements: number;
  /** Of those, statements that shared a connection and a write with others. */
  pipelined: number;
  /** Writes (groups) those statements went out in. */
  groups: number;
}

interface Pending {
  readonly text: string;
  readonly values: readonly unknown[];
  readonly options: RunOptions;
  readonly resolve: (result: CappedResult) => void;
  readonly reject: (error: unknown) => void;
  /** Sent again after its prepared statement's plan went stale: runs unnamed. */
  readonly unnamed?: boolean;
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
  /** Receive rows in batches of about this many instead of all at once. */
  readonly onBatch?: (rows: (string | null)[][], columns: ColumnInfo[]) => Promise<void>;
  readonly batchRows?: number;
  /**
   * Most bytes of row data a one-round-trip statement may hold (see `cappedQuery`); beyond it the
   * statement fails with ResultTooLarge and its rows are dropped as they arrive. Default: no limit.
   */
  readonly maxBytes?: number;
  /** Epoch ms after which nobody awaits the result: a statement still waiting for a connection then does not run. */
  readonly deadline?: number;
  /** While it runs alone on a connection, `cancel(cancelKey)` cancels it (the request's correlation id). */
  readonly cancelKey?: string;
  /**
   * W3C trace context of the request: sent after the statement as a sqlcommenter comment
   * (`/*traceparent='00-...'*\/`), so `pg_stat_activity` and the server's logs lead back to the caller.
   * Must already be validated (`isTraceparent`).
   */
  readonly traceparent?: string;
  /**
   * The statement may change its connection's session (it calls code the adapter cannot see into):
   * it gets a connection of its own, reset (`DISCARD ALL`, in the same write) before it goes back.
   */
  readonly resetSession?: boolean;
}

/** The text as sent: with the trace context comment on a line of its own (a trailing `--` comment cannot swallow it). */
/** `text` with the request's W3C trace context as a sqlcommenter comment, when it has one. */
export function withTrace(text: string, options: { readonly traceparent?: string }): string {
  return options.traceparent === undefined ? text : `${text}\n/*traceparent='${options.traceparent}'*/`;
}

/** pg's undocumented cancel (`Client#cancel`) and the query a client is running. */
interface CancellableClient {
  readonly activeQuery: unknown;
  readonly connection: { on(event: 'error', listener: (error: Error) => void): unknown };
  cancel(target: CancellableClient, query: unknown): void;
}

/** Every value comes back as PostgreSQL's text; the wire codec decides what it becomes. */
/** Every column as PostgreSQL's text: the reply carries it with the type OID, the client decodes it. */
export const RAW_TEXT: pg.CustomTypesConfig = { getTypeParser: () => (value: string) => value };

/**
 * Runs statements on PostgreSQL through two pools of the same server: SELECT requests on
 * connections that are read-only by default (so even a writing function inside a SELECT is
 * refused), everything else on read-write connections.
 */
export class Executor {
  readonly #readPool: pg.Pool;
  readonly #writePool: pg.Pool;
  /**
   * statement_timeout currently set on each connection, to skip the SET when it is unchanged. A SET
   * inside a transaction block is undone by ROLLBACK, so such a value counts only until the block ends.
   */
  readonly #timeouts = new WeakMap<pg.PoolClient, { readonly ms: number; readonly inBlock: boolean }>();
  readonly #portalAboveRows: number;
  readonly #pipelineDepth: number;
  /** Statements waiting for this turn's pipelined send, per pool. */
  readonly #pending = { read: [] as Pending[], write: [] as Pending[] };
  #flushScheduled = false;
  readonly #costs: StatementCosts;
  readonly #resetEveryStatement: boolean;
  readonly #prepared: PreparedStatements;
  readonly #stats: ExecutorStats = { statements: 0, pipelined: 0, groups: 0 };
  /** Statements running alone on a connection, by cancel key: the backend and the text it runs. */
  readonly #running = new Map<
    string,
    { readonly client: pg.PoolClient; readonly pid: number; readonly text: string }
  >();
  /** Where a cancel request goes: the pools' own server and credentials. */
  readonly #connection: pg.ClientConfig;

  constructor(options: ExecutorOptions) {
    const base: pg.PoolConfig = {
      connectionString: options.databaseUrl,
      max: options.poolMax ?? 20,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 30_000,
      idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
      maxLifetimeSeconds: options.maxLifetimeSeconds ?? 3600,
      application_name: options.applicationName ?? 'dbbridge-adapter',
    };
    this.#connection = { connectionString: options.databaseUrl };
    const role = options.role;
    if (role !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(role))
      throw new TypeError(`invalid role name ${JSON.stringify(role)}`);
    const asRole = role === undefined ? '' : ` -c role=${role}`;
    this.#readPool = new pg.Pool({ ...base, options: `-c default_transaction_read_only=on${asRole}` });
    this.#writePool = new pg.Pool(role === undefined ? base : { ...base, options: asRole.trim() });
    this.#portalAboveRows = options.portalAboveRows ?? 1000;
    this.#pipelineDepth = Math.max(1, Math.floor(options.pipelineDepth ?? 8));
    this.#costs = new StatementCosts({ quickMs: options.pipelineQuickMs ?? 2 });
    this.#resetEveryStatement = options.resetEveryStatement ?? false;
    this.#prepared = new PreparedStatements({ after: options.prepareAfter ?? 2 });
    // An idle connection that the server dropped must not crash the process; the pool discards it.
    this.#readPool.on('error', () => {});
    this.#writePool.on('error', () => {});
    // pg-pool drops its own listener while a client is checked out; without one of ours, a connection
    // lost then (a killed backend under an idle transaction, say) is an unhandled 'error' that ends
    // the process. The client's queries fail instead, and the client is released as broken.
    const keepAlive = (client: pg.PoolClient) => client.on('error', () => {});
    this.#readPool.on('connect', keepAlive);
    this.#writePool.on('connect', keepAlive);
  }

  get stats(): Readonly<ExecutorStats> {
    return { ...this.#stats };
  }

  /**
   * Cancels the statement running under `key`, if it still runs: PostgreSQL's cancel request (the
   * protocol's, with the backend's secret key: the adapter's role may not call pg_cancel_backend),
   * sent only while that backend is active on that very text, so a statement that just ended does
   * not take the next user of its connection down with it. Resolves whether a cancel was sent.
   */
  async cancel(key: string): Promise<boolean> {
    const running = this.#running.get(key);
    if (running === undefined) return false;
    const { rows } = await this.#writePool.query(
      `SELECT 1 FROM pg_stat_activity
       WHERE pid = $1 AND state = 'active' AND query <> '' AND starts_with($2, query)`,
      [running.pid, running.text],
    );
    if (rows.length === 0 || this.#running.get(key) !== running) return false;
    const target = running.client as unknown as CancellableClient;
    if (target.activeQuery == null) return false;
    // pg's own cancel: a new connection that sends CancelRequest(pid, secret key) and is closed by the server.
    const canceller = new pg.Client(this.#connection) as unknown as CancellableClient;
    canceller.connection.on('error', () => {}); // a refused or dropped cancel connection is no one's error
    canceller.cancel(target, target.activeQuery);
    return true;
  }

  /** Runs `work` with the statement registered for `cancel` (when it has a cancel key). */
  async #cancellable<T>(client: pg.PoolClient, text: string, options: RunOptions, work: () => Promise<T>) {
    const key = options.cancelKey;
    if (key === undefined) return work();
    // As sent (with its trace comment): what pg_stat_activity shows.
    this.#running.set(key, {
      client,
      pid: (client as unknown as { processID: number }).processID,
      text: withTrace(text, options),
    });
    try {
      return await work();
    } finally {
      this.#running.delete(key);
    }
  }

  /** The read-write pool, for the catalog and health checks. */
  /** Every connection is reset (`DISCARD ALL`) after each statement (`resetEveryStatement`). */
  get resetsEveryStatement(): boolean {
    return this.#resetEveryStatement;
  }

  get pool(): pg.Pool {
    return this.#writePool;
  }

  /** Connections of each pool: open, idle, and callers waiting for one (for metrics). */
  poolStats(): Record<'read' | 'write', { total: number; idle: number; waiting: number }> {
    const of = (pool: pg.Pool) => ({
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    });
    return { read: of(this.#readPool), write: of(this.#writePool) };
  }

  /**
   * Runs one statement on a pooled connection (read-only pool when `readOnly`): in one round trip,
   * sent with the others of this turn (see `#flush`), unless it must stream through a portal.
   */
  async run(text: string, values: readonly unknown[], options: RunOptions): Promise<StatementResult> {
    checkStatement(text, values);
    if (!this.#needsPortal(options)) {
      const capped = await new Promise<CappedResult>((resolve, reject) =>
        this.#enqueue({ text, values, options, resolve, reject }),
      );
      return finishStatement(capped, options);
    }
    const client = await this.acquire(options.readOnly);
    let broken: Error | undefined;
    try {
      if (expired(options)) throw deadlinePassed();
      return await this.runOn(client, text, values, options);
    } catch (error) {
      if (isConnectionError(error)) broken = error as Error;
      throw error;
    } finally {
      if (this.#resetEveryStatement || options.resetSession) void this.releaseReset(client, broken);
      else client.release(broken);
    }
  }

  /**
   * Returns a connection that ran statements the adapter does not see the end of (an interactive
   * transaction, a batch) to the pool with its session reset: `DISCARD ALL` drops temporary objects,
   * prepared statements, LISTENs, advisory locks and session settings (those of the connection's
   * start stay, so a read-only connection stays read-only). A broken connection, or one the reset
   * fails on, is discarded. Never rejects; the caller need not wait for it.
   */
  async releaseReset(client: pg.PoolClient, broken?: Error): Promise<void> {
    if (broken !== undefined) {
      client.release(broken);
      return;
    }
    try {
      await client.query('DISCARD ALL');
      this.#prepared.forget(client);
      this.#timeouts.delete(client); // back to the server's default
      client.release();
    } catch (error) {
      client.release(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** A connection of the read-only or the read-write pool; a failure is a connect-phase failure. */
  async acquire(readOnly: boolean): Promise<pg.PoolClient> {
    const pool = readOnly ? this.#readPool : this.#writePool;
    try {
      return await pool.connect();
    } catch (error) {
      // Every connection exists and stayed busy for the whole wait: PostgreSQL answers, the adapter
      // is saturated. Not the database being down (it must not open a breaker), and retryable.
      if (
        pool.totalCount >= (pool.options.max ?? 0) &&
        pool.idleCount === 0 &&
        /timeout exceeded when trying to connect/i.test((error as Error)?.message ?? '')
      )
        throw new RequestRejected({
          code: 'DATABASE_CONNECTION_FAILED',
          message: `every connection of the adapter's pool (${pool.totalCount}) stayed busy while the request waited; it did not run`,
          errorType: 'PoolExhausted',
          retryable: true,
          executed: false,
        });
      throw new RequestRejected(toFailure(error, 'connect'));
    }
  }

  /** Runs one statement on the given connection (see `#runOn`), cancellable by its `cancelKey` meanwhile. */
  runOn(
    client: pg.PoolClient,
    text: string,
    values: readonly unknown[],
    options: RunOptions,
  ): Promise<StatementResult> {
    return this.#cancellable(client, text, options, () => this.#runOn(client, text, values, options));
  }

  /**
   * Runs one statement on the given connection. With `onBatch`, rows are handed over in batches as
   * they are read (SELECTs through a portal, so a large result never sits in memory whole) and the
   * returned `textRows` is empty.
   */
  async #runOn(
    client: pg.PoolClient,
    text: string,
    values: readonly unknown[],
    options: RunOptions,
  ): Promise<StatementResult> {
    checkStatement(text, values);
    if (this.#currentTimeout(client) !== options.timeoutMs) {
      await client.query(setStatementTimeout(options.timeoutMs));
      this.#timeouts.set(client, { ms: options.timeoutMs, inBlock: inBlock(client) });
    }
    if (this.#needsPortal(options)) return await this.#readCursor(client, text, values, options);
    const capped = cappedQuery({
      text: withTrace(text, options),
      values,
      types: RAW_TEXT,
      limit: options.maxRows + 1,
      ...byteCap(options),
    });
    void client.query(capped.query);
    return finishStatement(await capped.result, options);
  }

  /** The statement_timeout known to be in force on the connection now (undefined: unknown). */
  #currentTimeout(client: pg.PoolClient): number | undefined {
    const known = this.#timeouts.get(client);
    // Set inside a block that has ended since (it may have been rolled back): unknown.
    if (known === undefined || (known.inBlock && !inBlock(client))) return undefined;
    return known.ms;
  }

  /** A portal only where many rows may be streamed out in batches; otherwise one round trip. */
  /** Queues a statement for the next flush (its pool's), scheduling one. */
  #enqueue(p: Pending): void {
    this.#pending[p.options.readOnly ? 'read' : 'write'].push(p);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #needsPortal(options: RunOptions): boolean {
    return options.readOnly && options.onBatch !== undefined && options.maxRows > this.#portalAboveRows;
  }

  /**
   * Sends what this turn gathered, per pool: quick statements in groups of up to `pipelineDepth`
   * per connection, every other statement on a connection of its own.
   */
  #flush(): void {
    this.#flushScheduled = false;
    for (const readOnly of [true, false]) {
      const key = readOnly ? 'read' : 'write';
      const pending = this.#pending[key];
      if (pending.length === 0) continue;
      this.#pending[key] = [];
      const quick: Pending[] = [];
      for (const p of pending) {
        if (this.#costs.isQuick(p.text) && !p.options.resetSession) quick.push(p);
        else void this.#sendGroup(readOnly, [p]);
      }
      if (quick.length === 0) continue;
      // Spread evenly: 9 statements at depth 8 go out as 5 + 4, not 8 + 1.
      const groups = Math.ceil(quick.length / this.#pipelineDepth);
      const size = Math.ceil(quick.length / groups);
      for (let i = 0; i < quick.length; i += size) void this.#sendGroup(readOnly, quick.slice(i, i + size));
    }
  }

  async #sendGroup(readOnly: boolean, group: readonly Pending[]): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.acquire(readOnly);
    } catch (error) {
      for (const p of group) p.reject(error);
      return;
    }
    // Decided once per statement: what is rejected here is never sent.
    const live: Pending[] = [];
    for (const p of group) {
      if (expired(p.options)) p.reject(deadlinePassed());
      else live.push(p);
    }
    if (live.length === 0) {
      client.release();
      return;
    }
    let broken: Error | undefined;
    const fail = (error: unknown) => {
      if (isConnectionError(error)) broken = error as Error;
    };
    const queries: pg.QueryConfig[] = [];
    const results: Promise<unknown>[] = [];
    // Answers come in order: a statement's own time runs from the answer before it; the first
    // answer's time runs from the send and holds the round trip too (see `StatementCosts.recordFirst`).
    let last = performance.now();
    let answered = false;
    const elapsed = () => {
      const now = performance.now();
      const ms = now - last;
      last = now;
      answered = true;
      return ms;
    };
    const recordCost = (text: string) => {
      const first = !answered;
      const ms = elapsed();
      if (first) this.#costs.recordFirst(text, ms);
      else this.#costs.record(text, ms);
    };
    const before = this.#currentTimeout(client);
    let timeout = before;
    const reset = this.#resetEveryStatement || live.some((p) => p.options.resetSession);
    for (const p of live) {
      if (timeout !== p.options.timeoutMs) {
        timeout = p.options.timeoutMs;
        const set = cappedQuery({
          text: setStatementTimeout(timeout),
          values: [],
          types: RAW_TEXT,
          limit: 0,
        });
        queries.push(set.query);
        results.push(
          set.result.then(elapsed, (error) => {
            elapsed();
            fail(error);
            this.#timeouts.delete(client); // unknown now: the next statement sets it again
          }),
        );
      }
      const main = {
        text: withTrace(p.text, p.options),
        values: p.values,
        types: RAW_TEXT,
        limit: p.options.maxRows + 1,
        ...byteCap(p.options),
      };
      // Not where the session is reset after the group, nor with a trace comment (unique text).
      const name =
        reset || p.unnamed || p.options.traceparent !== undefined
          ? undefined
          : this.#prepared.nameFor(client, p.text);
      const capped = cappedQuery(name === undefined ? main : { ...main, name });
      queries.push(capped.query);
      results.push(
        capped.result.then(
          (result) => {
            recordCost(p.text);
            p.resolve(result);
          },
          (error) => {
            elapsed(); // a failure says nothing of what the statement costs when it runs
            fail(error);
            if (name !== undefined && isPreparedMismatch(error)) {
              // It did not run: the text gets a new name (the old statement is never used again),
              // and this one runs again, unnamed.
              this.#prepared.stale(p.text);
              this.#enqueue({ ...p, unnamed: true });
              return;
            }
            p.reject(error);
          },
        ),
      );
    }
    if (reset) {
      const discard = cappedQuery({ text: 'DISCARD ALL', values: [], types: RAW_TEXT, limit: 0 });
      queries.push(discard.query);
      // A connection whose session could not be reset is not used again.
      results.push(
        discard.result.then(elapsed, (error) => {
          broken = error instanceof Error ? error : new Error('DISCARD ALL failed');
        }),
      );
    }
    this.#stats.statements += live.length;
    this.#stats.groups++;
    if (live.length > 1) this.#stats.pipelined += live.length;
    if (reset) {
      this.#timeouts.delete(client);
      this.#prepared.forget(client);
    } else if (timeout !== before && timeout !== undefined)
      this.#timeouts.set(client, { ms: timeout, inBlock: false });
    let settled = false;
    // Only a statement alone on its connection may be cancelled: a cancel must not hit a neighbour.
    const alone = live.length === 1 ? (live[0] as Pending) : undefined;
    try {
      settled = await (alone
        ? this.#cancellable(client, alone.text, alone.options, () => sendPipelined(client, queries, results))
        : sendPipelined(client, queries, results));
    } finally {
      // Every transaction sent here ends with its Sync; a connection left in a block is not used again.
      if (settled && inBlock(client)) broken ??= new Error('connection left in a transaction block');
      client.release(broken ?? (settled ? undefined : new Error('pipelined connection did not settle')));
    }
  }

  /** Reads at most maxRows + 1 rows through a portal, in batches when asked to. */
  async #readCursor(client: pg.PoolClient, text: string, values: readonly unknown[], options: RunOptions) {
    const { maxRows, onBatch } = options;
    const batchRows = onBatch ? Math.max(1, options.batchRows ?? 500) : maxRows + 1;
    const cursor = client.query(
      new Cursor(withTrace(text, options), [...values], { rowMode: 'array', types: RAW_TEXT }),
    );
    const read = (n: number) =>
      new Promise<{ rows: (string | null)[][]; result: pg.QueryResult }>((resolve, reject) => {
        cursor.read(n, (error, rows, result) =>
          error ? reject(error) : resolve({ rows: rows as (string | null)[][], result }),
        );
      });
    try {
      const collected: (string | null)[][] = [];
      let columns: ColumnInfo[] = [];
      let count = 0;
      let truncated = false;
      for (;;) {
        const { rows, result } = await read(Math.min(batchRows, maxRows + 1 - count));
        columns = toColumns(result.fields);
        if (count + rows.length > maxRows) {
          truncated = true;
          rows.length = maxRows - count;
        }
        count += rows.length;
        if (onBatch) {
          if (rows.length > 0) await onBatch(rows, columns);
        } else {
          for (const row of rows) collected.push(row);
        }
        if (truncated || rows.length < batchRows || count >= maxRows + 1) break;
      }
      return { command: 'SELECT', rowCount: count, columns, textRows: collected, truncated };
    } finally {
      await cursor.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.#readPool.end(), this.#writePool.end()]);
  }
}

/** Inside a transaction block (BEGIN ... COMMIT/ROLLBACK), as PostgreSQL last reported. */
function inBlock(client: pg.PoolClient): boolean {
  const status = (client as unknown as { getTransactionStatus(): string | null }).getTransactionStatus();
  return status === 'T' || status === 'E';
}

/** A statement PostgreSQL's protocol cannot carry (too many parameters, a NUL in the text) is refused, never sent. */
function checkStatement(text: string, values: readonly unknown[]): void {
  const problem = statementProblem(text, values);
  if (problem !== undefined) throw validationError(problem);
}

function byteCap(options: RunOptions) {
  if (options.maxBytes === undefined) return {};
  return {
    maxBytes: options.maxBytes,
    tooLarge: (max: number) =>
      new RequestRejected({
        code: 'DATABASE_OPERATION_FAILED',
        message: `result exceeds ${max} bytes (the most one reply holds${options.onBatch ? ', chunked' : ''}); lower max_rows or narrow the query${options.onBatch ? '' : ', or ask for chunks with row_format pg_text and accept_chunks'}`,
        errorType: 'ResultTooLarge',
        sqlstate: '54000',
        retryable: false,
      }),
  };
}

function expired(options: RunOptions): boolean {
  return options.deadline !== undefined && Date.now() >= options.deadline;
}

/** The caller's deadline passed while the statement waited for a connection: it was not run. */
export function deadlinePassed(): RequestRejected {
  return new RequestRejected({
    code: 'TIMEOUT_ERROR',
    message:
      'the request deadline passed while the statement waited for a database connection; it did not run',
    errorType: 'DeadlineExceeded',
    retryable: false,
    executed: false,
  });
}

function setStatementTimeout(ms: number): string {
  return `SET statement_timeout = ${Math.max(0, Math.floor(ms))}`;
}

/**
 * A one-round-trip result as a StatementResult (rows cut at `maxRows`), its rows handed to `onBatch`
 * when asked. Shared by the executor's sends and the idempotency store's recorded writes.
 */
export async function finishStatement(
  { result, truncated }: CappedResult,
  options: Pick<RunOptions, 'maxRows' | 'onBatch' | 'batchRows'>,
): Promise<StatementResult> {
  let rows = (result.rows ?? []) as (string | null)[][];
  const cut = truncated || rows.length > options.maxRows;
  if (rows.length > options.maxRows) rows = rows.slice(0, options.maxRows);
  const returned = rows.length;
  const columns = toColumns(result.fields ?? []);
  if (options.onBatch) {
    await deliverInBatches(rows, columns, options);
    rows = [];
  }
  return {
    // A suspended portal sends no command tag: only row-returning statements get there.
    command: result.command ?? 'SELECT',
    rowCount: cut ? returned : (result.rowCount ?? returned),
    columns,
    textRows: rows,
    truncated: cut,
  };
}

/** Hands `rows` to `options.onBatch` in batches of `batchRows` (default 500). */
export async function deliverInBatches(
  rows: readonly (string | null)[][],
  columns: ColumnInfo[],
  options: Pick<RunOptions, 'onBatch' | 'batchRows'>,
): Promise<void> {
  if (options.onBatch === undefined) return;
  const size = Math.max(1, options.batchRows ?? 500);
  for (let i = 0; i < rows.length; i += size) await options.onBatch(rows.slice(i, i + size), columns);
}

function toColumns(fields: readonly pg.FieldDef[]): ColumnInfo[] {
  return fields.map((f) => ({ name: f.name, type_oid: f.dataTypeID }));
}
