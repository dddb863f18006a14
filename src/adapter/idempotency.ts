import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { CompletedPayload } from '../events/reply.js';
import type { RequestPayload } from '../events/request.js';
import type { Logger } from '../logger.js';
import { cappedQuery } from './capped-query.js';
import { ConnectionLost, isConnectionError } from './error-mapping.js';
import { type Executor, finishStatement, type StatementResult } from './executor.js';
import { RequestRejected, validationError } from './failures.js';
import { sendPipelined } from './pipeline.js';

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
    `idempotency key ${JSON.stringify(key)} was already used for a request with other content; use a new key per logical call`,
    { errorType: 'IdempotencyKeyReused' },
  );
}

/** The recorded reply, marked as replayed. */
function replayOf(reply: unknown): CompletedPayload {
  const payload = reply as CompletedPayload;
  return { ...payload, metadata: { ...payload.metadata, replayed: true } };
}

const RAW_TEXT: pg.CustomTypesConfig = { getTypeParser: () => (value: string) => value };
const UNIQUE_VIOLATION = '23505';

/**
 * The statements on the table, schema-qualified: a statement of the write itself may change the
 * transaction's `search_path` (a function that SETs it) before the reply is recorded.
 */
function statements(table: string) {
  return {
    claim: `INSERT INTO ${table} (key, digest) VALUES ($1, $2)`,
    claimWithReply: `INSERT INTO ${table} (key, digest, reply) VALUES ($1, $2, $3)`,
    record: `UPDATE ${table} SET reply = $2 WHERE key = $1`,
    read: `SELECT digest, reply FROM ${table} WHERE key = $1`,
    prune: `DELETE FROM ${table} WHERE key IN (SELECT key FROM ${table} WHERE created_at < now() - $1 * interval '1 millisecond' LIMIT $2)`,
  };
}

/** The caller's deadline passed while the write waited for a connection: it did not run. */
function deadlinePassed(): RequestRejected {
  return new RequestRejected({
    code: 'TIMEOUT_ERROR',
    message:
      'the request deadline passed while the statement waited for a database connection; it did not run',
    errorType: 'DeadlineExceeded',
    retryable: false,
    executed: false,
  });
}

function sqlstate(error: unknown): string | undefined {
  return (error as { code?: unknown } | undefined)?.code as string | undefined;
}

function simple(text: string, values: readonly unknown[] = []) {
  return cappedQuery({ text, values, types: RAW_TEXT, limit: 0 });
}

export interface StatementRun {
  readonly text: string;
  readonly values: readonly unknown[];
  readonly maxRows: number;
  /** Statement timeout, ms (SET LOCAL: the connection's own setting is untouched). */
  readonly timeoutMs: number;
  readonly traceparent?: string;
  /** Rows in batches (chunked replies), as `Executor.run` hands them. */
  readonly onBatch?: (rows: (string | null)[][], columns: StatementResult['columns']) => Promise<void>;
  readonly batchRows?: number;
  /** Epoch ms after which nobody awaits the reply: a write still waiting for a connection then does not run. */
  readonly deadline?: number;
  /** It calls code the adapter cannot see into: its connection is reset (`DISCARD ALL`) before it goes back. */
  readonly resetSession?: boolean;
}

/**
 * Exactly-once writes: a write that carries an idempotency key runs in a transaction that first
 * claims the key (a row of `dbbridge_idempotency`), then runs, then records its reply, then commits.
 * A concurrent duplicate's claim waits on the unique key: when the first commits it reads the
 * recorded reply; when the first rolls back it runs itself. Two round trips per single-statement
 * write: `BEGIN; SET LOCAL statement_timeout; claim; statement` pipelined, then `record; COMMIT`.
 */
export class IdempotencyStore {
  readonly #executor: Executor;
  readonly #logger: Logger;
  readonly #retentionMs: number;
  readonly #pruneIntervalMs: number;
  readonly #pruneBatch: number;
  readonly #resetOnRelease: boolean;
  #sql = statements(`public.${IDEMPOTENCY_TABLE}`);
  #timer: NodeJS.Timeout | undefined;
  #pruning: Promise<number> | undefined;

  constructor(
    executor: Executor,
    logger: Logger,
    options: IdempotencyOptions & { readonly resetOnRelease?: boolean } = {},
  ) {
    this.#executor = executor;
    this.#logger = logger;
    this.#retentionMs = options.retentionMs ?? 24 * 3600_000;
    this.#pruneIntervalMs =
      options.pruneIntervalMs ?? Math.max(1000, Math.min(60_000, Math.floor(this.#retentionMs / 10)));
    this.#pruneBatch = options.pruneBatch ?? 1000;
    this.#resetOnRelease = options.resetOnRelease ?? false;
  }

  /**
   * True when the table exists (migration 0002 applied; found on the adapter's `search_path`, then
   * always named with its schema); false: keys are not recorded.
   */
  async available(): Promise<boolean> {
    const result = await this.#executor.pool.query<{ name: string }>(
      `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = to_regclass($1)`,
      [IDEMPOTENCY_TABLE],
    );
    const name = result.rows[0]?.name;
    if (name === undefined) return false;
    this.#sql = statements(name);
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
   * One write statement, recorded: the claim, the statement and, once its reply is known (`finish`),
   * the record and COMMIT. A recorded key answers with its reply, without running the statement.
   */
  async runStatement(
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
        text: run.traceparent === undefined ? run.text : `${run.text}\n/*traceparent='${run.traceparent}'*/`,
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
        const recorded = await this.#read(client, key, digest);
        if (recorded !== undefined) return recorded;
        // Recorded and pruned in between: run as a new request.
        return await this.runStatement(key, digest, run, finish);
      }
      if (ran === undefined || !ran.ok) throw ran?.error ?? new Error('statement not answered');
      const result = await finishStatement(ran.value, run);
      const payload = finish(result);
      if (!(await this.#recordAndCommit(client, key, payload))) broken = new Error('COMMIT did not settle');
      inTransaction = false;
      return { payload, replayed: false };
    } catch (error) {
      if (isConnectionError(error)) broken = error as Error;
      else if (inTransaction && broken === undefined) {
        await client.query('ROLLBACK').catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e));
        });
      }
      throw error;
    } finally {
      if (this.#resetOnRelease || run.resetSession) void this.#executor.releaseReset(client, broken);
      else client.release(broken);
    }
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
      const recorded = await this.#read(client, key, digest);
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
  async lookup(key: string, digest: string): Promise<RecordedReply | undefined> {
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
      return await this.#read(client, key, digest);
    } catch (error) {
      if (isConnectionError(error)) broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async #read(client: pg.PoolClient, key: string, digest: string): Promise<RecordedReply | undefined> {
    const found = await client.query<{ digest: string; reply: unknown }>(this.#sql.read, [key]);
    const row = found.rows[0];
    if (row === undefined) return undefined;
    if (row.digest !== digest) throw keyReused(key);
    if (row.reply === null) return undefined;
    return { payload: replayOf(row.reply), replayed: true };
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
}
