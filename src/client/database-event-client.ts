import { CircuitBreaker } from '../circuit-breaker.js';
import { clientEnvDefaults } from '../env.js';
import {
  BrokerUnavailableError,
  DatabaseError,
  DbBridgeError,
  TimeoutError,
  TransportError,
} from '../errors.js';
import { requestEnvelope } from '../events/envelope.js';
import { isSaneId, newId } from '../events/ids.js';
import type { ColumnInfo, ReplyEnvelope } from '../events/reply.js';
import type { RequestPayload } from '../events/request.js';
import { serviceTopicNames, topicNames } from '../events/topics.js';
import { TRACEPARENT_HEADER } from '../events/trace-context.js';
import { decodeTextRows, encodeParams, pgTypeParser } from '../events/values.js';
import { type Logger, silentLogger } from '../logger.js';
import { loadTelemetry, outgoingTraceparent } from '../telemetry.js';
import { createTransport } from '../transport/create-transport.js';
import { RequestReply } from '../transport/request-reply.js';
import type { Transport } from '../transport/types.js';
import { AsyncQueue } from './async-queue.js';
import { type DatabaseEventClientOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { backoffDelay, realSleep } from './retry.js';

export type Row = Record<string, unknown>;

/** Per-call options. */
export interface CallOptions {
  /** Reply timeout for this call, ms; also the adapter's statement timeout. Default: `requestTimeoutMs`. */
  timeoutMs?: number;
  /** Cap on returned rows (the adapter's default is 1000). */
  maxRows?: number;
  /** Correlation id to use (kept only if sane); default: a new UUID. */
  correlationId?: string;
  /**
   * W3C trace context to send with the request (a Kafka header; invalid ones are not sent). Default:
   * the active OpenTelemetry span's, when the application has `@opentelemetry/api`.
   */
  traceparent?: string;
  /**
   * Aborts the call: it rejects with the signal's reason at once, and a CANCEL request asks the
   * adapter to cancel the statement if it is running.
   */
  signal?: AbortSignal;
  /**
   * Idempotency key of this call (writes only; kept only if sane): the same on every retry, so the
   * adapter runs the write once. Default: a new UUID per call. Reuse one only for the same content.
   */
  idempotencyKey?: string;
}

/** An open interactive transaction: the server-issued id, and the Kafka key that routes it to one adapter. */
export interface Transaction {
  readonly id: string;
  readonly key: string;
}

export interface TransactionSettings {
  isolationLevel?: 'read uncommitted' | 'read committed' | 'repeatable read' | 'serializable';
  accessMode?: 'read only' | 'read write';
  /** Rolled back by the adapter when idle this long, ms (the adapter caps it). */
  idleTimeoutMs?: number;
}

/** What `transaction(fn)` hands to `fn`. */
export interface TransactionScope {
  readonly transaction: Transaction;
  query<R = Row>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  execute(sql: string, params?: readonly unknown[]): Promise<number>;
}

export interface RequestCallOptions extends CallOptions {
  /** Run inside this open transaction. */
  transaction?: Transaction;
}

export interface WriteOptions extends CallOptions {
  /** Column(s) to return, or `'*'`. INSERT default: the primary key; UPDATE/DELETE default: none. */
  returning?: string | readonly string[] | null;
}

/** Everything a reply says about a successful request. */
export interface QueryResult<R = Row> {
  readonly rows: R[];
  /** Rows returned (SELECT) or affected (INSERT/UPDATE/DELETE/MERGE). */
  readonly rowCount: number;
  /** PostgreSQL's command tag word. */
  readonly command: string;
  readonly fields: readonly ColumnInfo[];
  /** Rows were cut at `maxRows`. */
  readonly truncated: boolean;
  readonly executionTimeMs: number;
  readonly correlationId: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** BEGIN: the transaction's id. */
  readonly transactionId?: string;
  /** BATCH: one result per statement. */
  results?: QueryResult[];
}

/** For retry decisions every operation but a read is a write: BATCH, BEGIN, COMMIT, UPSERT, EXECUTE... */
function isWriteOperation(operationType: string): boolean {
  return operationType !== 'SELECT' && operationType !== 'QUERY';
}

/** Writes the adapter records under their idempotency key (BEGIN and ROLLBACK change no data). */
function isRecordedWrite(operationType: string): boolean {
  return isWriteOperation(operationType) && operationType !== 'BEGIN' && operationType !== 'ROLLBACK';
}

/**
 * The seed's DatabaseEventClient: PostgreSQL through Kafka request/reply, with no database
 * connection or credentials in the caller. Start it, call it, stop it (or `await using`).
 */
export class DatabaseEventClient implements AsyncDisposable {
  readonly #options: ResolvedOptions;
  readonly #logger: Logger;
  readonly #transport: Transport;
  readonly #ownsTransport: boolean;
  readonly #rr: RequestReply;
  readonly #breaker: CircuitBreaker | undefined;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #clientId: string;
  #started: Promise<void> | undefined;
  /** The buffer of the latest `stream()` (tests read its high-water mark). */
  lastStreamQueue: AsyncQueue<unknown[]> | undefined;
  #stopped = false;

  constructor(options: DatabaseEventClientOptions = {}) {
    this.#options = resolveOptions(options, clientEnvDefaults());
    // On its own topics the id starts with the service and a '.', which service names never contain:
    // the kafkajs reply readers' groups (`dbbridge-reply-<clientId>-...`) then fit the service's ACL prefix.
    this.#clientId = this.#options.ownTopics
      ? `${this.#options.service}.${newId().slice(0, 8)}`
      : `dbbridge-client-${newId().slice(0, 8)}`;
    this.#logger = this.#options.logger ?? silentLogger;
    this.#ownsTransport = this.#options.transport === undefined;
    this.#transport =
      this.#options.transport ??
      createTransport(this.#options.transportKind, {
        brokers: (this.#options.bootstrapServers as string).split(',').map((x) => x.trim()),
        clientId: this.#clientId,
        logger: this.#logger,
        ...(this.#options.security ? { security: this.#options.security } : {}),
      });
    this.#rr = new RequestReply({
      transport: this.#transport,
      topics: this.#options.ownTopics
        ? serviceTopicNames(this.#options.topicEnv, this.#options.service)
        : topicNames(this.#options.topicEnv),
      logger: this.#logger,
      ...(this.#options.replyPartition === undefined ? {} : { replyPartition: this.#options.replyPartition }),
    });
    this.#breaker = this.#options.enableCircuitBreaker
      ? new CircuitBreaker({
          ...this.#options.circuitBreaker,
          ...(this.#options.now ? { now: this.#options.now } : {}),
          onStateChange: (state) => this.#logger.warn('client circuit breaker', { state }),
        })
      : undefined;
    this.#sleep = this.#options.sleep ?? realSleep;
  }

  /** The partition of the reply topics this client reads (after `start()`). */
  get replyPartition(): number | undefined {
    return this.#rr.replyPartition;
  }

  /** Replies this client read but did not wait for (other clients' or late ones). */
  get unmatchedReplies(): number {
    return this.#rr.unmatched;
  }

  /** Client circuit breaker state, or undefined when disabled. */
  get circuitBreakerState() {
    return this.#breaker?.state;
  }

  /**
   * Connects to Kafka and positions the reply reader. Resolves only when no reply to a request sent
   * afterwards can be missed. Fails with a TransportError when the brokers cannot be reached.
   */
  start(): Promise<void> {
    if (this.#stopped)
      return Promise.reject(new DbBridgeError('CLIENT_STOPPED', 'client was stopped; create a new one'));
    this.#started ??= Promise.all([this.#rr.start(), loadTelemetry()]).then(
      () => {},
      async (error) => {
        this.#started = undefined;
        await this.#rr.stop().catch(() => {});
        if (this.#ownsTransport) await this.#transport.close().catch(() => {});
        throw error instanceof DbBridgeError
          ? error
          : new TransportError(`Failed to start Kafka client: ${(error as Error).message}`, { cause: error });
      },
    );
    return this.#started;
  }

  /** Rejects pending requests with CLIENT_STOPPED and closes Kafka connections. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#rr.stop();
    if (this.#ownsTransport) await this.#transport.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** SELECT: rows as objects, values as `pg` would return them. */
  async query<R = Row>(
    sql: string,
    params?: readonly unknown[],
    options?: CallOptions | number,
  ): Promise<R[]> {
    return (
      await this.request<R>(
        { operation_type: 'SELECT', sql, params: encodeParams(params) },
        callOptions(options),
      )
    ).rows;
  }

  /** INSERT one row; returns the `returning` columns (default: the primary key), or null. */
  async insert<R = Row>(
    table: string,
    data: Readonly<Record<string, unknown>>,
    options: WriteOptions = {},
  ): Promise<R | null> {
    const payload: RequestPayload = { operation_type: 'INSERT', table, data: encodeRecord(data) };
    if (options.returning !== undefined)
      payload.returning = options.returning === null ? [] : [options.returning].flat();
    return (await this.request<R>(payload, options)).rows[0] ?? null;
  }

  /** UPDATE rows matching `where` (AND-combined; operators `$lt` etc.); returns the first returned row, or null. */
  async update<R = Row>(
    table: string,
    data: Readonly<Record<string, unknown>>,
    where: Readonly<Record<string, unknown>>,
    options: WriteOptions = {},
  ): Promise<R | null> {
    const payload: RequestPayload = {
      operation_type: 'UPDATE',
      table,
      data: encodeRecord(data),
      where: encodeWhere(where),
    };
    if (options.returning !== undefined)
      payload.returning = options.returning === null ? [] : [options.returning].flat();
    return (await this.request<R>(payload, options)).rows[0] ?? null;
  }

  /** DELETE rows matching `where`; returns how many were deleted. */
  async delete(
    table: string,
    where: Readonly<Record<string, unknown>>,
    options: CallOptions | number = {},
  ): Promise<number> {
    return (
      await this.request({ operation_type: 'DELETE', table, where: encodeWhere(where) }, callOptions(options))
    ).rowCount;
  }

  /** Runs one DML statement; returns rows affected. */
  async execute(sql: string, params?: readonly unknown[], options?: CallOptions | number): Promise<number> {
    return (
      await this.request(
        { operation_type: 'EXECUTE', sql, params: encodeParams(params) },
        callOptions(options),
      )
    ).rowCount;
  }

  /**
   * True when the broker answers and the reply reader holds its partition. With `roundTrip`, also
   * runs `SELECT 1` through an adapter. Never throws.
   */
  async healthCheck(options: { roundTrip?: boolean; timeoutMs?: number } = {}): Promise<boolean> {
    if (!this.#started || this.#stopped) return false;
    try {
      await this.#started;
      await this.#transport.ping();
      if (!this.#rr.assigned) return false;
      if (options.roundTrip) {
        const rows = await this.query<{ ok: number }>('SELECT 1 AS ok', [], {
          timeoutMs: options.timeoutMs ?? 5000,
        });
        return rows[0]?.ok === 1;
      }
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Sends any request payload (either dialect) and returns the whole result. Applies the circuit
   * breaker and retries; rows are decoded exactly as `pg` would decode them.
   */
  async request<R = Row>(payload: RequestPayload, options: RequestCallOptions = {}): Promise<QueryResult<R>> {
    return this.#send<R>(payload, options, undefined);
  }

  /**
   * Streams a result in chunks of rows as the adapter reads them (a large result never sits in
   * memory whole, on either side). Breaking out of the loop releases the reply reader.
   */
  async *stream<R = Row>(
    payload: RequestPayload,
    options: RequestCallOptions = {},
  ): AsyncIterableIterator<R[]> {
    const queue = new AsyncQueue<R[]>(this.#options.streamBufferChunks);
    this.lastStreamQueue = queue;
    const done = this.#send<R>(payload, options, (rows) => queue.push(rows)).then(
      (result) => {
        if (result.rows.length > 0) void queue.push(result.rows);
        queue.end();
      },
      (error) => queue.fail(error),
    );
    try {
      yield* queue;
    } finally {
      queue.close();
      await done.catch(() => {});
    }
  }

  /** Opens an interactive transaction held by one adapter process; every later request of it carries its key. */
  async beginTransaction(
    settings: TransactionSettings = {},
    options: CallOptions = {},
  ): Promise<Transaction> {
    const key = newId();
    const transaction: NonNullable<RequestPayload['transaction']> = {};
    if (settings.isolationLevel) transaction.isolation_level = settings.isolationLevel;
    if (settings.accessMode) transaction.access_mode = settings.accessMode;
    if (settings.idleTimeoutMs) transaction.idle_timeout_ms = settings.idleTimeoutMs;
    const result = await this.#send({ operation_type: 'BEGIN', transaction }, { ...options, key }, undefined);
    if (result.transactionId === undefined)
      throw new TransportError('BEGIN reply carried no transaction_id', { retryable: false });
    return Object.freeze({ id: result.transactionId, key });
  }

  /** Commits; resolves to PostgreSQL's tag: `ROLLBACK` when an earlier error had aborted the transaction. */
  async commitTransaction(transaction: Transaction, options: CallOptions = {}): Promise<string> {
    return (
      await this.#send(
        { operation_type: 'COMMIT', transaction_id: transaction.id },
        { ...options, key: transaction.key },
        undefined,
      )
    ).command;
  }

  async rollbackTransaction(transaction: Transaction, options: CallOptions = {}): Promise<string> {
    return (
      await this.#send(
        { operation_type: 'ROLLBACK', transaction_id: transaction.id },
        { ...options, key: transaction.key },
        undefined,
      )
    ).command;
  }

  /** Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. */
  async transaction<T>(
    fn: (tx: TransactionScope) => Promise<T>,
    settings: TransactionSettings = {},
  ): Promise<T> {
    const transaction = await this.beginTransaction(settings);
    const scope: TransactionScope = {
      transaction,
      query: async <Q = Row>(sql: string, params?: readonly unknown[]) =>
        (
          await this.request<Q>(
            { operation_type: 'SELECT', sql, params: encodeParams(params) },
            { transaction },
          )
        ).rows,
      execute: async (sql: string, params?: readonly unknown[]) =>
        (
          await this.request(
            { operation_type: 'EXECUTE', sql, params: encodeParams(params) },
            { transaction },
          )
        ).rowCount,
    };
    let result: T;
    try {
      result = await fn(scope);
    } catch (error) {
      await this.rollbackTransaction(transaction).catch(() => {});
      throw error;
    }
    const tag = await this.commitTransaction(transaction);
    if (tag !== 'COMMIT')
      throw new DatabaseError('DATABASE_OPERATION_FAILED', `transaction ended with ${tag}, not COMMIT`, {
        errorType: 'TransactionAborted',
      });
    return result;
  }

  /** Runs the statements in order in one transaction on the adapter: all of them take effect, or none. */
  async batch(
    statements: readonly { sql: string; params?: readonly unknown[] }[],
    options: CallOptions = {},
  ): Promise<QueryResult[]> {
    const result = await this.#send(
      {
        operation_type: 'BATCH',
        statements: statements.map((s) => ({ sql: s.sql, params: encodeParams(s.params) })),
      },
      options,
      undefined,
    );
    return result.results ?? [];
  }

  async #send<R>(
    payload: RequestPayload,
    options: RequestCallOptions & { key?: string },
    onRows: ((rows: R[]) => Promise<void>) | undefined,
  ): Promise<QueryResult<R>> {
    await this.#requireStarted();
    const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs;
    const correlationId = isSaneId(options.correlationId) ? options.correlationId : newId();
    const traceparent = outgoingTraceparent(options.traceparent);
    const isWrite = isWriteOperation(payload.operation_type);
    const transaction = options.transaction;
    // One key per logical call, kept for every retry: the adapter answers a repeat with the recorded reply.
    const idempotencyKey =
      this.#options.idempotentWrites &&
      isRecordedWrite(payload.operation_type) &&
      !transaction &&
      (payload.transaction_id === undefined || payload.operation_type === 'COMMIT')
        ? isSaneId(options.idempotencyKey)
          ? options.idempotencyKey
          : newId()
        : undefined;
    const wire: RequestPayload = {
      ...payload,
      ...(transaction ? { transaction_id: transaction.id } : {}),
      options: {
        row_format: 'pg_text',
        accept_chunks: true,
        ...payload.options,
        // A statement timeout the caller set explicitly may be shorter than the wait for the reply.
        timeout_ms: Math.min(payload.options?.timeout_ms ?? timeoutMs, timeoutMs),
        ...(options.maxRows === undefined ? {} : { max_rows: options.maxRows }),
      },
    };
    const key = transaction?.key ?? options.key;
    // Inside a transaction, or once rows were handed out, a repeat could run twice or duplicate rows;
    // a COMMIT with an idempotency key is recorded, so it may be sent again.
    const inTransaction = transaction || (payload.transaction_id && idempotencyKey === undefined);
    const maxRetries = inTransaction || onRows ? 0 : this.#options.maxRetries;
    // An abort ends the wait at once (the reply, if any, is dropped) and asks the adapter to cancel.
    const signal = options.signal;
    if (signal?.aborted) throw signal.reason;
    const onAbort = () => this.#rr.abort(correlationId, signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          if (signal?.aborted) throw signal.reason; // aborted while waiting to retry
          return await this.#attempt<R>(
            wire,
            correlationId,
            timeoutMs,
            key,
            onRows,
            traceparent,
            idempotencyKey,
          );
        } catch (error) {
          if (signal?.aborted) {
            this.#cancelOnAdapter(correlationId, key);
            throw error;
          }
          if (attempt >= maxRetries || !this.#retryable(error, isWrite, idempotencyKey !== undefined))
            throw error;
          const delay = backoffDelay(attempt, this.#options.retry);
          this.#logger.warn('retrying request', {
            correlationId,
            attempt: attempt + 1,
            delayMs: delay,
            code: (error as DbBridgeError).code,
          });
          await this.#sleep(delay);
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #requireStarted(): Promise<void> {
    if (this.#stopped) throw new DbBridgeError('CLIENT_STOPPED', 'client was stopped');
    if (!this.#started)
      throw new DbBridgeError('CLIENT_STOPPED', 'client is not started: call start() first');
    await this.#started;
  }

  async #attempt<R>(
    payload: RequestPayload,
    correlationId: string,
    timeoutMs: number,
    key: string | undefined,
    onRows: ((rows: R[]) => Promise<void>) | undefined,
    traceparent: string | undefined,
    idempotencyKey: string | undefined,
  ): Promise<QueryResult<R>> {
    const breaker = this.#breaker;
    const ticket = breaker?.acquire();
    if (breaker && !ticket) {
      throw new DatabaseError('CIRCUIT_BREAKER_OPEN', 'Circuit breaker open', {
        correlationId,
        executed: false,
      });
    }
    const replyPartition = this.#rr.replyPartition;
    const envelope = requestEnvelope(payload, {
      correlationId,
      service: this.#options.service,
      deadline: new Date(Date.now() + timeoutMs),
      clientId: this.#clientId,
      ...(replyPartition === undefined ? {} : { replyPartition }),
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    });
    const parse = this.#options.typeParser ?? pgTypeParser;
    const leading: (string | null)[][] = [];
    let reply: ReplyEnvelope;
    try {
      reply = await this.#rr.request(envelope, timeoutMs, {
        ...(key === undefined ? {} : { key }),
        ...(traceparent === undefined ? {} : { headers: { [TRACEPARENT_HEADER]: traceparent } }),
        onChunk: (chunk) => {
          if (chunk.event_type !== 'DATABASE_QUERY_COMPLETED') return;
          const rows = chunk.payload.text_rows ?? [];
          if (onRows) return onRows(decodeTextRows(chunk.payload.columns ?? [], rows, parse) as R[]);
          for (const row of rows) leading.push(row);
        },
      });
    } catch (error) {
      // No reply at all (a timeout, Kafka down, an abort) says nothing about the database: an adapter
      // that died or is rejoining its group leaves the request in the topic for the next owner of its
      // partition. Only an adapter's coded report that PostgreSQL is unreachable counts (below).
      breaker?.cancel(ticket);
      throw error;
    }
    if (reply.event_type === 'DATABASE_QUERY_FAILED') {
      const p = reply.payload;
      const infrastructure =
        (p.error_code === 'DATABASE_CONNECTION_FAILED' &&
          p.error_type !== 'TooManyTransactions' &&
          p.error_type !== 'PoolExhausted') ||
        p.error_code === 'CIRCUIT_BREAKER_OPEN';
      if (infrastructure) breaker?.failure(ticket);
      else breaker?.success(ticket);
      if (p.error_code === 'TIMEOUT_ERROR') {
        throw new TimeoutError(payload.options?.timeout_ms ?? timeoutMs, {
          fromAdapter: { reason: p.error_message, ...(p.sqlstate ? { sqlstate: p.sqlstate } : {}) },
          correlationId,
          // The adapter says so when the request only had what was left of its time after waiting.
          retryable: p.retryable === true && p.executed === false,
        });
      }
      throw new DatabaseError(
        p.error_code,
        p.error_message,
        {
          ...pick(p, ['sqlstate', 'detail', 'hint', 'position', 'constraint', 'table', 'column', 'executed']),
          ...(p.statement_index === undefined ? {} : { statementIndex: p.statement_index }),
          errorType: p.error_type,
          correlationId,
        },
        { retryable: p.retryable ?? infrastructure },
      );
    }
    breaker?.success(ticket);
    const p = reply.payload;
    const fields = p.columns ?? [];
    const textRows =
      p.text_rows === undefined ? undefined : leading.length > 0 ? leading.concat(p.text_rows) : p.text_rows;
    const rows = (textRows !== undefined ? decodeTextRows(fields, textRows, parse) : p.rows) as R[];
    const result: QueryResult<R> = {
      rows,
      rowCount: p.row_count,
      command: typeof p.metadata.command === 'string' ? p.metadata.command : p.operation_type,
      fields,
      truncated: p.metadata.truncated === true,
      executionTimeMs: p.execution_time_precise_ms ?? p.execution_time_ms,
      correlationId,
      metadata: p.metadata,
      ...(p.transaction_id === undefined ? {} : { transactionId: p.transaction_id }),
    };
    if (p.results !== undefined) {
      result.results = p.results.map((r) => ({
        rows: r.text_rows !== undefined ? decodeTextRows(r.columns ?? [], r.text_rows, parse) : r.rows,
        rowCount: r.row_count,
        command: r.command,
        fields: r.columns ?? [],
        truncated: false,
        executionTimeMs: 0,
        correlationId,
        metadata: {},
      }));
    }
    return result;
  }

  /**
   * Asks the adapter that runs the request (same Kafka key, so same partition and process) to cancel
   * its statement. Fire and forget: the caller has already been answered with the abort.
   */
  #cancelOnAdapter(correlationId: string, key: string | undefined): void {
    const envelope = requestEnvelope(
      { operation_type: 'CANCEL', cancel_correlation_id: correlationId },
      {
        service: this.#options.service,
        clientId: this.#clientId,
        ...(this.#rr.replyPartition === undefined ? {} : { replyPartition: this.#rr.replyPartition }),
      },
    );
    this.#rr
      .request(envelope, this.#options.requestTimeoutMs, { key: key ?? correlationId })
      .catch((error) => {
        this.#logger.warn('cancel request failed', { correlationId, error });
      });
  }

  /**
   * Transient failures are retried. A write with an idempotency key also after timeouts and transport
   * errors (the adapter runs it at most once); a write without one only when it provably did not run.
   */
  #retryable(error: unknown, isWrite: boolean, keyed: boolean): boolean {
    if (error instanceof DatabaseError) {
      if (error.code === 'CIRCUIT_BREAKER_OPEN' && error.errorType === undefined) return false; // our own breaker
      return error.retryable && (!isWrite || keyed || error.executed === false);
    }
    if (error instanceof TimeoutError) {
      // Cancelled by the adapter: retried only when it ran out of a budget spent waiting (not run).
      if (error.code !== 'REQUEST_TIMEOUT') return error.retryable && (!isWrite || keyed);
      return isWrite ? keyed : this.#options.retryOnTimeout;
    }
    // Never sent: even a write may be sent again.
    if (error instanceof BrokerUnavailableError) return true;
    if (error instanceof TransportError) return (!isWrite || keyed) && error.retryable;
    return false;
  }
}

function callOptions(options: CallOptions | number | undefined): CallOptions {
  return typeof options === 'number' ? { timeoutMs: options } : (options ?? {});
}

/**
 * Values of `data` and `where` keep their JSON shape (the adapter knows each column's type from the
 * catalog: objects become JSON text for json/jsonb, arrays become PostgreSQL arrays); Date, bigint and
 * Buffer are encoded as `pg` would send them.
 */
function encodeValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(encodeValue);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = encodeValue(v);
    return out;
  }
  return encodeParams([value])[0];
}

function encodeRecord(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return encodeValue(data) as Record<string, unknown>;
}

const encodeWhere = encodeRecord;

function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}

/** Starts a client and returns it, for `await using db = await openDatabaseEventClient()` (the seed's context manager). */
export async function openDatabaseEventClient(
  options: DatabaseEventClientOptions = {},
): Promise<DatabaseEventClient> {
  const client = new DatabaseEventClient(options);
  await client.start();
  return client;
}

/** Runs `fn` with a started client and always stops it afterwards. */
export async function withDatabaseEventClient<T>(
  options: DatabaseEventClientOptions,
  fn: (client: DatabaseEventClient) => Promise<T>,
): Promise<T> {
  const client = new DatabaseEventClient(options);
  try {
    await client.start();
    return await fn(client);
  } finally {
    await client.stop();
  }
}
