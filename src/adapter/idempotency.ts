import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type pg from 'pg';
import type { ColumnInfo, CompletedPayload } from '../events/reply.js';
import type { RequestPayload } from '../events/request.js';
import type { Logger } from '../logger.js';
import { cappedQuery } from './capped-query.js';
import { ConnectionLost, isConnectionError } from './error-mapping.js';
import {
  deadlinePassed,
  deliverInBatches,
  type Executor,
  finishStatement,
  RAW_TEXT,
  type StatementResult,
  withTrace,
} from './executor.js';
import { RequestRejected, validationError } from './failures.js';
import { sendPipelined } from './pipeline.js';
import { parseRecordText } from './record-text.js';
import type { RecordableWrite } from './sql-validator.js';

/** The table of migration 0002: key, digest, reply, created_at. */
export const IDEMPOTENCY_TABLE = 'dbbridge_idempotency';

export interface IdempotencyOptions {
  /** Records older than this are pruned, ms. Default 24 h. */
  readonly retentionMs?: number;
  /** How often the pruner runs, ms. Default: a tenth of the retention, at most 60 s, at least 1 s. */
  readonly pruneIntervalMs?: number;
  /** Rows deleted per statement (and at most ten statements per run). Default 1000. */
  readonly pruneBatch?: number;
}

/** What a recorded write came to: the reply to send, and whether it is an earlier run's. */
export interface RecordedReply {
  readonly payload: CompletedPayload;
  readonly replayed: boolean;
}

/**
 * sha256 (hex) of a request's content: its payload in canonical JSON (keys sorted), without
 * `options` (timeouts, row format and chunking change how the reply travels, not what runs).
 */
export function requestDigest(payload: RequestPayload): string {
  const { options: _, ...content } = payload;
  return createHash('sha256').update(canonicalJson(content)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

function keyReused(key: string): RequestRejected {
  return validationError(
    `idempotency key ${JSON.stringify(callerKey(key))} was already used for a request with other content; use a new key per logical call`,
    { errorType: 'IdempotencyKeyReused' },
  );
}

/**
 * The key as recorded: scoped by who sent it, so one caller's key never finds another's record. On a
 * per-service topic the scope is the topic's service (its identity, which the broker vouches for); on
 * the shared topic it is the `service` the request names, marked `@` (self-declared: it keeps honest
 * callers apart, nothing more). A key has no spaces, so the last space ends the scope.
 */
export function recordKey(identity: string, service: string, key: string): string {
  return identity !== '' ? `${identity} ${key}` : `@${service} ${key}`;
}

/** The caller's own key of a recorded one. */
function callerKey(key: string): string {
  return key.slice(key.lastIndexOf(' ') + 1);
}

/**
 * The key is committed but its reply was never recorded (the adapter stopped between the COMMIT and
 * recording it): the write ran exactly once, and this request does not run it again.
 */
function replyNotRecorded(key: string): RequestRejected {
  return new RequestRejected({
    code: 'DATABASE_OPERATION_FAILED',
    message: `the write with idempotency key ${JSON.stringify(callerKey(key))} ran exactly once and committed, but its reply was not recorded (the adapter stopped between COMMIT and recording it); it was not run again: read its effect from the database instead of sending it with a new key`,
    errorType: 'ReplyNotRecorded',
    retryable: false,
    executed: true,
  });
}

/** A failure after the write committed (its reply could not be built): it says the write ran, once. */
function committedWithoutReply(key: string, error: unknown): RequestRejected {
  if (!(error instanceof RequestRejected)) return replyNotRecorded(key);
  return new RequestRejected({
    ...error.failure,
    message: `${error.failure.message}; the write itself committed (idempotency key ${JSON.stringify(callerKey(key))}) and will not run again`,
    retryable: false,
    executed: true,
  });
}

const READ_ATTEMPTS = 6;
const READ_RETRY_MS = 100;

/** The recorded reply, marked as replayed. */
function replayOf(reply: unknown): CompletedPayload {
  const payload = reply as CompletedPayload;
  return { ...payload, metadata: { ...payload.metadata, replayed: true } };
}

const UNIQUE_VIOLATION = '23505';

/**
 * The statements on the table, schema-qualified: a statement of the write itself may change the
 * transaction's `search_path` (a function that SETs it) before the reply is recorded.
 */
function statements(table: string, withResult: boolean) {
  return {
    table,
    /** The table has `result` (migration 0004): a write can be recorded by the statement itself. */
    withResult,
    claim: `INSERT INTO ${table} (key, digest) VALUES ($1, $2)`,
    claimWithReply: `INSERT INTO ${table} (key, digest, reply) VALUES ($1, $2, $3)`,
    record: `UPDATE ${table} SET reply = $2 WHERE key = $1`,
    read: `SELECT digest, reply, ${withResult ? 'result' : 'NULL AS result'} FROM ${table} WHERE key = $1`,
    prune: `DELETE FROM ${table} WHERE key IN (SELECT key FROM ${table} WHERE created_at < now() - $1 * interval '1 millisecond' LIMIT $2)`,
  };
}

function simple(text: string, values: readonly unknown[] = []) {
  return cappedQuery({ text, values, types: RAW_TEXT, limit: 0 });
}

function sqlstate(error: unknown): string | undefined {
  return (error as { code?: unknown } | undefined)?.code as string | undefined;
}

const FEATURE_NOT_SUPPORTED = '0A000';

/** What a write recorded by itself stored (`inStatementText`): enough to build its reply again. */
export interface RecordedResult {
  readonly command: RecordableWrite['command'];
  /** Rows written. */
  readonly count: number;
  /** The RETURNING columns (none without RETURNING). */
  readonly columns: readonly ColumnInfo[];
  /** At most max_rows + 1 of the RETURNING rows, each in PostgreSQL's text form of a row. */
  readonly rows?: readonly string[];
}

/**
 * A recorded write as one statement: the write as a data-modifying WITH, a second one that inserts
 * the key's record with the write's result (`RecordedResult`), and a SELECT of what the write returned
 * (its count, without RETURNING). Parameters: the write's own, then the key, the digest, the columns
 * (JSON) and, with RETURNING, the most rows to record (`inStatementValues`). The newline after the
 * write ends a trailing line comment of it.
 */
export function inStatementText(table: string, write: RecordableWrite, params: number): string {
  const [key, digest, columns, limit] = [params + 1, params + 2, params + 3, params + 4];
  const rows = write.returning
    ? `, 'rows', (SELECT coalesce(jsonb_agg(l.r), '[]'::jsonb) FROM (SELECT ROW(dbbridge_row.*)::text AS r FROM dbbridge_write AS dbbridge_row LIMIT $${limit}) AS l)`
    : '';
  return `WITH dbbridge_write AS (
${write.text}
${write.returning ? '' : 'RETURNING 1\n'}), dbbridge_record AS (
INSERT INTO ${table} (key, digest, result) VALUES ($${key}, $${digest}, jsonb_build_object('command', '${write.command}', 'count', (SELECT count(*) FROM dbbridge_write), 'columns', $${columns}::jsonb${rows}))
)
SELECT ${write.returning ? '*' : 'count(*)'} FROM dbbridge_write`;
}

/** The values of `inStatementText`'s statement. */
function inStatementValues(
  write: RecordableWrite,
  run: StatementRun,
  key: string,
  digest: string,
  columns: readonly ColumnInfo[],
): unknown[] {
  const values = [...run.values, key, digest, JSON.stringify(columns)];
  if (write.returning) values.push(run.maxRows + 1);
  return values;
}

/** The result a recorded write's reply is built from, as `finishStatement` gives it, for `maxRows`. */
export function resultOf(recorded: RecordedResult, maxRows: number): StatementResult {
  const columns = [...recorded.columns];
  const rows = (recorded.rows ?? []).map((text) => {
    const fields = parseRecordText(text);
    if (fields.length !== columns.length)
      throw new Error(`a recorded row has ${fields.length} fields, its columns ${columns.length}`);
    return fields;
  });
  const cut = rows.length > maxRows;
  const textRows = cut ? rows.slice(0, maxRows) : rows;
  return {
    command: recorded.command,
    rowCount: cut ? textRows.length : recorded.count,
    columns,
    textRows,
    truncated: cut,
  };
}

/** An error PostgreSQL sent (it has a severity), not one of the connection or of the adapter. */
function isServerError(error: unknown): boolean {
  return (
    typeof (error as { severity?: unknown } | undefined)?.severity === 'string' && !isConnectionError(error)
  );
}

/** Builds a replay's reply from a recorded result, its rows in batches when the request takes them so. */
function rebuildWith(finish: (result: StatementResult) => CompletedPayload, run: StatementRun) {
  return async (recorded: RecordedResult): Promise<CompletedPayload> => {
    const result = resultOf(recorded, run.maxRows);
    if (run.onBatch === undefined) return finish(result);
    await deliverInBatches(result.textRows, result.columns, run);
    return finish({ ...result, textRows: [] });
  };
}

function sameColumns(a: readonly ColumnInfo[], b: readonly ColumnInfo[]): boolean {
  return a.length === b.length && a.every((c, i) => c.name === b[i]?.name && c.type_oid === b[i]?.type_oid);
}

export interface StatementRun {
  readonly text: string;
  readonly values: readonly unknown[];
  readonly maxRows: number;
  /** Statement timeout, ms: the statement, the claim (which may wait for a duplicate) and the COMMIT. */
  readonly timeoutMs: number;
  readonly traceparent?: string;
  /** Rows in batches (chunked replies), as `Executor.run` hands them. */
  readonly onBatch?: (rows: (string | null)[][], columns: StatementResult['columns']) => Promise<void>;
  readonly batchRows?: number;
  /** Epoch ms after which nobody awaits the reply: a write still waiting for a connection then does not run. */
  readonly deadline?: number;
  /** It calls code the adapter cannot see into: its connection is reset (`DISCARD ALL`) before it goes back. */
  readonly resetSession?: boolean;
  /** While it runs alone on a connection, `Executor.cancel(cancelKey)` cancels it. */
  readonly cancelKey?: string;
  /** What the validator found the statement to be, when it can be recorded by itself (`SqlValidator.recordable`). */
  readonly recordable?: RecordableWrite | undefined;
}

/**
 * Exactly-once writes: a write that carries an idempotency key commits a row of `dbbridge_idempotency`
 * (its key, scoped by caller: `recordKey`) in its own transaction, with what its reply is built from.
 * A single statement (`runStatement`) records its result in the same statement when it can (one
 * round trip), else claims first and records its reply before COMMIT; a BATCH claims first and
 * records before its COMMIT (`claim`, `record`); an interactive COMMIT claims and records in one
 * statement before its COMMIT (`recordBeforeCommit`). A duplicate's claim waits on the unique key for
 * the first to end: committed, it answers with the recorded reply; rolled back, it runs.
 */
export class IdempotencyStore {
  readonly #executor: Executor;
  readonly #logger: Logger;
  readonly #retentionMs: number;
  readonly #pruneIntervalMs: number;
  readonly #pruneBatch: number;
  #sql = statements(`public.${IDEMPOTENCY_TABLE}`, false);
  /**
   * The columns of each recorded statement's RETURNING, by statement text, as they came last time:
   * recorded with its rows, so that a replay builds its reply without asking the server. A statement
   * not seen yet runs once in two round trips (`#runWithReply`), which learns them.
   */
  readonly #shapes = new LRUCache<string, readonly ColumnInfo[]>({ max: 2000 });
  /** Statements PostgreSQL would not run wrapped (a table with rules): recorded in two round trips. */
  readonly #unwrappable = new LRUCache<string, true>({ max: 2000 });
  #timer: NodeJS.Timeout | undefined;
  #pruning: Promise<number> | undefined;

  constructor(executor: Executor, logger: Logger, options: IdempotencyOptions = {}) {
    this.#executor = executor;
    this.#logger = logger;
    this.#retentionMs = options.retentionMs ?? 24 * 3600_000;
    this.#pruneIntervalMs =
      options.pruneIntervalMs ?? Math.max(1000, Math.min(60_000, Math.floor(this.#retentionMs / 10)));
    this.#pruneBatch = options.pruneBatch ?? 1000;
  }

  /**
   * True when the table exists (migration 0002 applied; found on the adapter's `search_path`, then
   * always named with its schema); false: keys are not recorded.
   */
  async available(): Promise<boolean> {
    const result = await this.#executor.pool.query<{ name: string; with_result: boolean }>(
      `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
              EXISTS (SELECT FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attname = 'result' AND NOT a.attisdropped) AS with_result
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = to_regclass($1)`,
      [IDEMPOTENCY_TABLE],
    );
    const row = result.rows[0];
    if (row === undefined) return false;
    this.#sql = statements(row.name, row.with_result);
    return true;
  }

  /** Starts the background pruner (unref'd: it never keeps the process alive). */
  startPruning(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.prune(), this.#pruneIntervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#pruning?.catch(() => {});
  }

  /**
   * Deletes records older than the retention, `pruneBatch` rows per statement, at most ten
   * statements per call (what is left waits for the next run). Resolves to the rows deleted.
   */
  prune(): Promise<number> {
    this.#pruning ??= (async () => {
      let deleted = 0;
      try {
        for (let i = 0; i < 10; i++) {
          const result = await this.#executor.pool.query(this.#sql.prune, [
            this.#retentionMs,
            this.#pruneBatch,
          ]);
          deleted += result.rowCount ?? 0;
          if ((result.rowCount ?? 0) < this.#pruneBatch) break;
        }
      } catch (error) {
        this.#logger.warn('idempotency records could not be pruned', { error });
      }
      if (deleted > 0) this.#logger.debug('idempotency records pruned', { deleted });
      return deleted;
    })().finally(() => {
      this.#pruning = undefined;
    });
    return this.#pruning;
  }

  /**
   * One write statement, recorded: by the statement itself (`#runInStatement`, one round trip shared
   * with other quick statements) when it is an INSERT, UPDATE or DELETE that can be wrapped and whose
   * RETURNING columns are known; otherwise in two round trips (`#runWithReply`), which also learns
   * those columns for the text's next run. Either way the key and what its reply is built from commit
   * with the write.
   */
  async runStatement(
    key: string,
    digest: string,
    run: StatementRun,
    finish: (result: StatementResult) => CompletedPayload,
  ): Promise<RecordedReply> {
    const write = run.recordable;
    const columns = write?.returning ? this.#shapes.get(run.text) : [];
    if (
      write !== undefined &&
      columns !== undefined &&
      this.#sql.withResult &&
      !this.#unwrappable.has(run.text)
    )
      return this.#runInStatement(key, digest, run, finish, write, columns);
    return this.#runWithReply(key, digest, run, finish);
  }

  /**
   * Two round trips: `BEGIN; SET LOCAL statement_timeout; claim; statement` pipelined on a connection of
   * its own, then, once the reply is known, `record; COMMIT`: the key and its reply commit together
   * with the write, so whatever dies when, a retry finds either nothing (and runs) or the reply.
   */
  async #runWithReply(
    key: string,
    digest: string,
    run: StatementRun,
    finish: (result: StatementResult) => CompletedPayload,
  ): Promise<RecordedReply> {
    const client = await this.#executor.acquire(false);
    let broken: Error | undefined;
    let inTransaction = false;
    try {
      if (run.deadline !== undefined && Date.now() >= run.deadline) throw deadlinePassed();
      const begin = simple('BEGIN');
      const timeout = simple(`SET LOCAL statement_timeout = ${Math.max(0, Math.floor(run.timeoutMs))}`);
      const claim = simple(this.#sql.claim, [key, digest]);
      const statement = cappedQuery({
        text: withTrace(run.text, run),
        values: run.values,
        types: RAW_TEXT,
        limit: run.maxRows + 1,
      });
      const outcomes = [begin, timeout, claim, statement].map((q) =>
        q.result.then(
          (value) => ({ ok: true as const, value }),
          (error: unknown) => ({ ok: false as const, error }),
        ),
      );
      inTransaction = true;
      const settled = await sendPipelined(
        client,
        [begin.query, timeout.query, claim.query, statement.query],
        outcomes,
      );
      const [began, timed, claimed, ran] = await Promise.all(outcomes);
      if (!settled) {
        // The connection was lost mid-request (e.g. PostgreSQL restarted): a connection failure,
        // which the breaker counts and the client retries with the same key; nothing was committed.
        const lost = [began, timed, claimed, ran].find(
          (o) => o !== undefined && !o.ok && isConnectionError(o.error),
        );
        broken =
          lost !== undefined && !lost.ok && lost.error instanceof Error
            ? lost.error
            : new ConnectionLost('the connection did not settle after the statement');
        throw broken;
      }
      for (const step of [began, timed]) if (step && !step.ok) throw step.error;
      if (claimed && !claimed.ok) {
        if (sqlstate(claimed.error) !== UNIQUE_VIOLATION) throw claimed.error;
        await client.query('ROLLBACK');
        inTransaction = false;
        const recorded = await this.#read(key, digest, client, rebuildWith(finish, run));
        if (recorded !== undefined) return recorded;
        // Recorded and pruned in between: run as a new request (on a fresh connection: this one
        // goes back to the pool first).
      } else {
        if (ran === undefined || !ran.ok) throw ran?.error ?? new Error('statement not answered');
        const result = await finishStatement(ran.value, run);
        if (run.recordable?.returning) this.#shapes.set(run.text, result.columns);
        const payload = finish(result);
        if (!(await this.#recordAndCommit(client, key, payload))) broken = new Error('COMMIT did not settle');
        inTransaction = false;
        return { payload, replayed: false };
      }
    } catch (error) {
      if (isConnectionError(error)) broken = error as Error;
      else if (inTransaction && broken === undefined) {
        await client.query('ROLLBACK').catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e));
        });
      }
      throw error;
    } finally {
      if (this.#executor.resetsEveryStatement || run.resetSession)
        void this.#executor.releaseReset(client, broken);
      else client.release(broken);
    }
    return this.#runWithReply(key, digest, run, finish);
  }

  /**
   * `with-commit` as ONE statement, pipelined with other quick statements like any write: the write
   * wrapped in a data-modifying WITH that also inserts the key's record with its result
   * (`inStatementText`). One statement is one transaction: the write and its record commit together
   * or not at all. A duplicate's insert waits on the key for the first to end, then fails (its write
   * rolled back with it) and the recorded result answers; a replay builds its reply from it
   * (`resultOf`). Should PostgreSQL refuse to run the write wrapped (rules on its table), it runs in
   * two round trips.
   */
  async #runInStatement(
    key: string,
    digest: string,
    run: StatementRun,
    finish: (result: StatementResult) => CompletedPayload,
    write: RecordableWrite,
    columns: readonly ColumnInfo[],
  ): Promise<RecordedReply> {
    const { deadline, traceparent, resetSession, cancelKey, onBatch, batchRows } = run;
    let result: StatementResult;
    try {
      const ran = await this.#executor.run(
        inStatementText(this.#sql.table, write, run.values.length),
        inStatementValues(write, run, key, digest, columns),
        {
          readOnly: false,
          // Without RETURNING its one row is the count: never handed out in batches.
          maxRows: write.returning ? run.maxRows : 1,
          timeoutMs: run.timeoutMs,
          ...(deadline === undefined ? {} : { deadline }),
          ...(traceparent === undefined ? {} : { traceparent }),
          ...(resetSession === undefined ? {} : { resetSession }),
          ...(cancelKey === undefined ? {} : { cancelKey }),
          ...(write.returning && onBatch !== undefined ? { onBatch } : {}),
          ...(write.returning && batchRows !== undefined ? { batchRows } : {}),
        },
      );
      result = write.returning
        ? { ...ran, command: write.command }
        : {
            command: write.command,
            rowCount: Number(ran.textRows[0]?.[0] ?? 0),
            columns: [],
            textRows: [],
            truncated: false,
          };
    } catch (error) {
      if (
        sqlstate(error) === UNIQUE_VIOLATION &&
        (error as { table?: unknown }).table === IDEMPOTENCY_TABLE
      ) {
        // Recorded before, or by a duplicate that committed first: this one's write rolled back.
        const recorded = await this.#read(key, digest, undefined, rebuildWith(finish, run));
        if (recorded !== undefined) return recorded;
        return await this.runStatement(key, digest, run, finish);
      }
      if (sqlstate(error) === FEATURE_NOT_SUPPORTED) {
        this.#unwrappable.set(run.text, true);
        return this.#runWithReply(key, digest, run, finish);
      }
      // The write runs before its key is inserted, so a repeat of a write that committed can fail on
      // what that first run did (its row's unique key, a check it broke) before it reaches the key.
      // A failure PostgreSQL reported is answered with that run's reply when there is one, waiting
      // for a first run still in flight (`lookup`); otherwise with itself.
      if (!isServerError(error)) throw error;
      const recorded = await this.lookup(key, digest, rebuildWith(finish, run)).catch(() => undefined);
      if (recorded !== undefined) return recorded;
      throw error;
    }
    let payload: CompletedPayload;
    try {
      payload = finish(result);
    } catch (error) {
      throw committedWithoutReply(key, error);
    }
    if (write.returning && !sameColumns(result.columns, columns)) {
      // Its columns changed since they were learned (DDL in between): the record names the old
      // ones. The reply itself is recorded over it before it goes out.
      this.#shapes.set(run.text, result.columns);
      await this.#executor
        .run(this.#sql.record, [key, JSON.stringify(payload)], {
          readOnly: false,
          maxRows: 0,
          timeoutMs: run.timeoutMs,
        })
        .catch((error: unknown) =>
          this.#logger.warn('the reply of a write whose columns changed could not be recorded', {
            key: callerKey(key),
            error,
          }),
        );
    }
    return { payload, replayed: false };
  }

  /** Records and commits in one round trip; false when the connection did not settle (discard it). */
  async #recordAndCommit(client: pg.PoolClient, key: string, payload: CompletedPayload): Promise<boolean> {
    const record = simple(this.#sql.record, [key, JSON.stringify(payload)]);
    const commit = simple('COMMIT');
    const outcomes = [record.result, commit.result].map((p) =>
      p.then(
        () => undefined,
        (error: unknown) => error,
      ),
    );
    const settled = await sendPipelined(client, [record.query, commit.query], outcomes);
    const [recordError, commitError] = await Promise.all(outcomes);
    if (recordError !== undefined) throw recordError;
    if (commitError !== undefined) throw commitError;
    return settled;
  }

  /**
   * Claims the key inside the open transaction on `client` (a BATCH, before its statements).
   * Resolves undefined when claimed (run, then `record` before COMMIT), or to the recorded reply:
   * the transaction was rolled back and nothing must run.
   */
  async claim(client: pg.PoolClient, key: string, digest: string): Promise<RecordedReply | undefined> {
    try {
      await client.query(this.#sql.claim, [key, digest]);
      return undefined;
    } catch (error) {
      if (sqlstate(error) !== UNIQUE_VIOLATION) throw error;
      await client.query('ROLLBACK');
      const recorded = await this.#read(key, digest, client);
      if (recorded === undefined) {
        // Pruned in between: claim it afresh.
        await client.query('BEGIN');
        return this.claim(client, key, digest);
      }
      return recorded;
    }
  }

  /** Records the reply of a claimed key, inside the same transaction, before its COMMIT. */
  async record(client: pg.PoolClient, key: string, payload: CompletedPayload): Promise<void> {
    await client.query(this.#sql.record, [key, JSON.stringify(payload)]);
  }

  /**
   * An interactive transaction's COMMIT: claims the key and records the reply in one statement just
   * before COMMIT. A key already recorded aborts the transaction: rolled back, and refused.
   */
  async recordBeforeCommit(
    client: pg.PoolClient,
    key: string,
    digest: string,
    payload: CompletedPayload,
  ): Promise<void> {
    try {
      await client.query(this.#sql.claimWithReply, [key, digest, JSON.stringify(payload)]);
    } catch (error) {
      // An aborted transaction commits as ROLLBACK; nothing to record then.
      if (sqlstate(error) === '25P02') return;
      if (sqlstate(error) === UNIQUE_VIOLATION) {
        await client.query('ROLLBACK');
        throw keyReused(key);
      }
      throw error;
    }
  }

  /**
   * The recorded reply of `key`, waiting for a transaction that is recording it right now to end
   * (its claim blocks ours): undefined when no record exists. A record with other content is refused.
   */
  async lookup(
    key: string,
    digest: string,
    rebuild?: (recorded: RecordedResult) => Promise<CompletedPayload>,
  ): Promise<RecordedReply | undefined> {
    const client = await this.#executor.acquire(false);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      try {
        await client.query(this.#sql.claim, [key, digest]);
        await client.query('ROLLBACK');
        return undefined;
      } catch (error) {
        await client.query('ROLLBACK');
        if (sqlstate(error) !== UNIQUE_VIOLATION) throw error;
      }
    } catch (error) {
      if (isConnectionError(error)) broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
    return this.#read(key, digest, undefined, rebuild);
  }

  /**
   * The recorded reply of a committed key; undefined when no record exists (pruned). A record with
   * other content is refused. A key committed without a reply or result (written by an adapter of an
   * older version, which recorded some replies after the commit) is being recorded by it (read
   * again, briefly) or never will be: `ReplyNotRecorded`.
   */
  async #read(
    key: string,
    digest: string,
    on?: pg.PoolClient,
    rebuild?: (recorded: RecordedResult) => Promise<CompletedPayload>,
  ): Promise<RecordedReply | undefined> {
    // On the connection the caller holds, when it holds one: taking a second from the pool while
    // holding the first deadlocks once every connection is held by a duplicate that reads.
    const db = on ?? this.#executor.pool;
    for (let attempt = 1; ; attempt++) {
      const found = await db.query<{ digest: string; reply: unknown; result: RecordedResult | null }>(
        this.#sql.read,
        [key],
      );
      const row = found.rows[0];
      if (row === undefined) return undefined;
      if (row.digest !== digest) throw keyReused(key);
      if (row.reply !== null) return { payload: replayOf(row.reply), replayed: true };
      if (row.result !== null && rebuild !== undefined) {
        try {
          return { payload: replayOf(await rebuild(row.result)), replayed: true };
        } catch (error) {
          throw committedWithoutReply(key, error);
        }
      }
      if (attempt >= READ_ATTEMPTS) throw replyNotRecorded(key);
      await new Promise((resolve) => setTimeout(resolve, READ_RETRY_MS));
    }
  }
}
