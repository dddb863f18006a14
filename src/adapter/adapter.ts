import { CircuitBreaker } from '../circuit-breaker.js';
import { completedEnvelope, type Failure, failedEnvelope, failedPayload } from '../events/envelope.js';
import type { BreakerState } from '../events/error-codes.js';
import { isSaneId } from '../events/ids.js';
import type { ColumnInfo, CompletedPayload } from '../events/reply.js';
import { type RequestEnvelope, RequestEnvelope as RequestEnvelopeSchema } from '../events/request.js';
import { serviceTopicNames, type TopicNames, topicNames } from '../events/topics.js';
import { naturalRows } from '../events/values.js';
import { type Logger, silentLogger } from '../logger.js';
import type { GroupBatch, GroupConsumer, IncomingMessage, Publisher, Transport } from '../transport/types.js';
import { Catalog } from './catalog.js';
import { isConnectionError, toFailure } from './error-mapping.js';
import {
  type StatementResult as ExecResult,
  Executor,
  type ExecutorOptions,
  type ExecutorStats,
} from './executor.js';
import { RequestRejected, validationError } from './failures.js';
import { OffsetTracker } from './offset-tracker.js';
import { toOperation } from './operations.js';
import { Semaphore } from './semaphore.js';
import { SqlValidator, type StatementPolicy } from './sql-validator.js';
import { buildStatement } from './statement-builder.js';
import { type TransactionOptions, Transactions } from './transactions.js';

export interface AdapterOptions extends ExecutorOptions {
  readonly transport: Transport;
  /** Topic environment: `{env}.omninode-bridge.database.*`. Default `dev`. */
  readonly topicEnv?: string;
  /** Consumer group shared by all adapter processes. Default `dbbridge-adapter`. */
  readonly groupId?: string;
  /**
   * Services whose own request topics this adapter consumes (issue 9 §2, `docs/per-service-topics.md`):
   * a request's identity is the service of the topic it arrived on, not its `service` field; it is
   * answered on that service's reply topics, and its transactions are usable only by that service.
   * Default none.
   */
  readonly services?: readonly string[];
  /** Consume the shared request topic (open mode, the seed's services). Default true. */
  readonly sharedTopics?: boolean;
  /**
   * Requests run at once (across partitions). Default 4 x `poolMax` (80): quick statements share
   * connections (see `pipelineDepth`), the rest wait for a free one in the pool.
   */
  readonly maxInFlight?: number;
  /** Allow DDL in EXECUTE requests. Default false. */
  readonly allowDdl?: boolean;
  /** Rows returned when a request names no `max_rows`. Default 1000 (the seed's figure). */
  readonly defaultMaxRows?: number;
  /** Statement timeout when a request names no `timeout_ms`, ms. Default 30000. */
  readonly defaultTimeoutMs?: number;
  /** Database circuit breaker: consecutive connection failures to open (default 3), open time in ms (default 30000). */
  readonly breaker?: { readonly failureThreshold?: number; readonly resetTimeoutMs?: number };
  /** How often finished offsets are committed, ms. Default 100. */
  readonly commitIntervalMs?: number;
  /** Longest wait for in-flight requests on stop, ms. Default 30000. */
  readonly shutdownTimeoutMs?: number;
  /** Interactive transactions: idle timeout, lifetime, how many may be open. */
  readonly transactions?: TransactionOptions;
  /** Chunked results: about this many bytes of rows per reply message. Default 256 KiB. */
  readonly chunkBytes?: number;
  /** Largest reply message, bytes (Kafka's default limit is about 1 MB). Default 1000000. */
  readonly maxMessageBytes?: number;
  /** Largest result, chunked or not, bytes. Default 256 MiB. */
  readonly maxResultBytes?: number;
  readonly logger?: Logger;
}

export interface AdapterStats {
  received: number;
  completed: number;
  failed: number;
  /** Messages that could not be answered (no readable correlation id). */
  malformed: number;
  /** Requests dropped because their deadline had passed. */
  expired: number;
  /** Replies that could not be published. */
  publishFailures: number;
  /** How statements went to PostgreSQL (pipelining). */
  executor: ExecutorStats;
}

/** Where a request came from: who sent it (the service of its topic; '' on the shared topics) and where to answer. */
interface Route {
  readonly identity: string;
  readonly topics: TopicNames;
}

type Reply =
  | { kind: 'completed'; payload: CompletedPayload }
  | { kind: 'failed'; failure: Failure; sql?: string };

/** What running a request produced, before it becomes a reply. */
interface ResultParts {
  readonly result: ExecResult;
  readonly transactionId?: string;
  readonly batch?: readonly ExecResult[];
}

function emptyResult(command: string): ExecResult {
  return { command, rowCount: 0, columns: [], textRows: [], truncated: false };
}

/**
 * The adapter service: consumes query requests in a consumer group, runs them on PostgreSQL, and
 * publishes a completed or failed reply for every request it can read. Offsets are committed only
 * after the reply to the request (and to every earlier one of its partition) was published.
 */
export class DatabaseAdapter {
  readonly #options: AdapterOptions;
  readonly #topics: TopicNames;
  /** Request topic -> route, shared topic first. */
  readonly #routes = new Map<string, Route>();
  readonly #logger: Logger;
  readonly #executor: Executor;
  readonly #catalog: Catalog;
  readonly #breaker: CircuitBreaker;
  readonly #tracker = new OffsetTracker();
  readonly #slots: Semaphore;
  readonly #transactions: Transactions;
  readonly #stats: Omit<AdapterStats, 'executor'> = {
    received: 0,
    completed: 0,
    failed: 0,
    malformed: 0,
    expired: 0,
    publishFailures: 0,
  };
  #validator: SqlValidator | undefined;
  #publisher: Publisher | undefined;
  #consumer: GroupConsumer | undefined;
  #commitTimer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: AdapterOptions) {
    this.#options = Object.freeze({ ...options });
    this.#topics = topicNames(options.topicEnv);
    if (options.sharedTopics ?? true)
      this.#routes.set(this.#topics.requested, { identity: '', topics: this.#topics });
    for (const service of options.services ?? []) {
      const topics = serviceTopicNames(options.topicEnv ?? 'dev', service);
      this.#routes.set(topics.requested, { identity: service, topics });
    }
    if (this.#routes.size === 0)
      throw new TypeError('the adapter consumes no topic: enable sharedTopics or name services');
    this.#logger = options.logger ?? silentLogger;
    this.#executor = new Executor(options);
    this.#catalog = new Catalog(this.#executor.pool);
    this.#slots = new Semaphore(options.maxInFlight ?? 4 * (options.poolMax ?? 20));
    this.#transactions = new Transactions(this.#executor, this.#logger, {
      ...options.transactions,
      poolMax: options.poolMax ?? 20,
    });
    this.#breaker = new CircuitBreaker({
      failureThreshold: options.breaker?.failureThreshold ?? 3,
      resetTimeoutMs: options.breaker?.resetTimeoutMs ?? 30_000,
      onStateChange: (state) => this.#logger.warn('database circuit breaker', { state }),
    });
  }

  get topics(): TopicNames {
    return this.#topics;
  }

  get stats(): Readonly<AdapterStats> {
    return { ...this.#stats, executor: this.#executor.stats };
  }

  get breakerState() {
    return this.#breaker.state;
  }

  async start(): Promise<void> {
    this.#validator = await SqlValidator.create();
    const transport = this.#options.transport;
    await transport.connect();
    const routes = [...this.#routes.values()];
    await transport.ping(routes.flatMap((r) => [r.topics.requested, r.topics.completed, r.topics.failed]));
    this.#publisher = transport.publisher({ idempotent: true });
    const [first, ...extraTopics] = [...this.#routes.keys()] as [string, ...string[]];
    this.#consumer = await transport.openGroupConsumer({
      groupId: this.#options.groupId ?? 'dbbridge-adapter',
      topic: first,
      ...(extraTopics.length > 0 ? { extraTopics } : {}),
      onBatch: (batch) => this.#onBatch(batch),
      partitionsConsumedConcurrently: 4,
      onPartitionsRevoked: (partitions) => this.#tracker.forget(partitions),
    });
    this.#commitTimer = setInterval(() => void this.#commit(), this.#options.commitIntervalMs ?? 100);
    this.#logger.info('adapter subscribed', { topics: [...this.#routes.keys()] });
  }

  /** Stops taking requests, answers those in flight, commits, and closes everything. */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #shutdown(): Promise<void> {
    this.#consumer?.pause();
    const deadline = Date.now() + (this.#options.shutdownTimeoutMs ?? 30_000);
    while (this.#tracker.inFlight > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (this.#commitTimer) clearInterval(this.#commitTimer);
    await this.#commit();
    await this.#transactions.closeAll();
    await this.#consumer?.close();
    await this.#publisher?.close();
    await this.#executor.close();
    this.#logger.info('adapter stopped', { ...this.stats });
  }

  async #onBatch(batch: GroupBatch): Promise<void> {
    for (const message of batch.messages) {
      if (this.#stopping || !batch.isActive()) return;
      await this.#acquireSlot(batch);
      if (this.#stopping) {
        this.#slots.release();
        return;
      }
      this.#tracker.start(message.topic, message.partition, message.offset);
      void this.#handle(message)
        .then((published) => {
          if (published) this.#tracker.done(message.topic, message.partition, message.offset);
        })
        .finally(() => this.#slots.release());
    }
  }

  async #acquireSlot(batch: GroupBatch): Promise<void> {
    const acquired = this.#slots.acquire();
    let done = false;
    void acquired.then(() => {
      done = true;
    });
    while (!done) {
      await Promise.race([acquired, new Promise((r) => setTimeout(r, 1000))]);
      if (!done) await batch.heartbeat().catch(() => {});
    }
  }

  async #commit(): Promise<void> {
    const offsets = this.#tracker.takeCommittable();
    if (offsets.length === 0 || !this.#consumer) return;
    await this.#consumer
      .commit(offsets)
      .catch((error) => this.#logger.warn('offset commit failed', { error }));
  }

  /** Answers one message. Never throws; resolves true once a reply was published (or none was due). */
  async #handle(message: IncomingMessage): Promise<boolean> {
    this.#stats.received++;
    const route = this.#routes.get(message.topic) ?? { identity: '', topics: this.#topics };
    const raw = message.value?.toString('utf8') ?? '';
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return this.#answerMalformed(message, undefined, raw, 'request is not valid JSON', route);
    }
    const parsed = RequestEnvelopeSchema.safeParse(json);
    if (!parsed.success) {
      const problems = parsed.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; ');
      return this.#answerMalformed(message, json, raw, `invalid request event: ${problems}`, route);
    }
    const request = parsed.data;
    if (request.deadline !== undefined && Date.parse(request.deadline) <= Date.now()) {
      this.#stats.expired++;
      this.#logger.debug('request expired before it ran', { correlationId: request.correlation_id });
      return true;
    }
    if (route.identity !== '' && request.service !== route.identity) {
      // The field is self-declared; the topic is not. Logged, never trusted.
      this.#logger.debug('request claims another service; runs as its topic says', {
        correlationId: request.correlation_id,
        identity: route.identity,
        claimedService: request.service,
      });
    }
    const reply = await this.#execute(request, route);
    return this.#publish(request, reply, route);
  }

  /**
   * Runs one request and returns its final reply (chunks of a large result are published on the
   * way). Validation and, inside a transaction, queueing happen before the first await, so the
   * statements of one transaction run in the order they arrived.
   */
  async #execute(request: RequestEnvelope, route: Route): Promise<Reply> {
    const payload = request.payload;
    const started = performance.now();
    let sql: string | undefined;
    const failed = (failure: Failure): Reply => ({ kind: 'failed', failure, ...(sql ? { sql } : {}) });
    let work: () => Promise<ResultParts>;
    let operation: ReturnType<typeof toOperation>;
    try {
      operation = toOperation(payload, this.#options.allowDdl ?? false);
    } catch (error) {
      return failed(
        error instanceof RequestRejected ? error.failure : validationError(String(error)).failure,
      );
    }
    if (!this.#breaker.tryAcquire()) return failed(breakerOpen(this.#breaker.retryAfterMs));
    try {
      const validator = this.#validator as SqlValidator;
      const allowDdl = this.#options.allowDdl ?? false;
      const timeoutMs = this.#statementTimeout(request);
      const deadline = request.deadline === undefined ? undefined : Date.parse(request.deadline);
      const when = deadline === undefined ? {} : { deadline };
      const maxRows = payload.options?.max_rows ?? this.#options.defaultMaxRows ?? 1000;
      const chunker = this.#chunker(request, route);
      switch (operation.kind) {
        case 'sql': {
          sql = operation.sql;
          const txId = operation.transactionId;
          const policy: StatementPolicy =
            txId !== undefined && operation.policy.kind === 'execute'
              ? { kind: 'transaction', allowDdl }
              : operation.policy;
          const readOnly = validator.check(operation.sql, policy) === 'read' && txId === undefined;
          const text = operation.sql;
          const values = [...operation.params];
          const options = { readOnly, maxRows, timeoutMs, ...when, ...chunker.runOptions };
          if (txId === undefined) {
            work = async () => ({ result: await this.#executor.run(text, values, options) });
          } else {
            const queued = this.#transactions.run(
              txId,
              (client) => this.#executor.runOn(client, text, values, options),
              route.identity,
            );
            work = async () => ({ result: await queued });
          }
          break;
        }
        case 'begin':
          work = async () => ({
            result: emptyResult('BEGIN'),
            transactionId: await this.#transactions.begin(operation.settings, route.identity),
          });
          break;
        case 'end': {
          const ended = this.#transactions.end(operation.transactionId, operation.action, route.identity);
          work = async () => ({ result: emptyResult(await ended) });
          break;
        }
        case 'batch': {
          for (const statement of operation.statements)
            validator.check(statement.sql, { kind: 'execute', allowDdl });
          work = () => this.#runBatch(operation.statements, maxRows, timeoutMs);
          break;
        }
        default: {
          const tableOperation = operation;
          work = async () => {
            const statement = await buildStatement(tableOperation, this.#catalog);
            sql = statement.text;
            return {
              result: await this.#executor.run(statement.text, statement.values, {
                readOnly: statement.readOnly,
                maxRows,
                timeoutMs,
                ...when,
                ...chunker.runOptions,
              }),
            };
          };
        }
      }
      try {
        const parts = await work();
        this.#breaker.success();
        return { kind: 'completed', payload: chunker.finish(parts, maxRows, started, this.#breaker.state) };
      } catch (error) {
        const failure = toFailure(error, 'execute');
        if (failure.code === 'DATABASE_CONNECTION_FAILED' && failure.errorType !== 'TooManyTransactions')
          this.#breaker.failure();
        else this.#breaker.success();
        return failed(failure);
      }
    } catch (error) {
      // Refused before the database was involved: the breaker learned nothing.
      this.#breaker.cancel();
      return failed(
        error instanceof RequestRejected ? error.failure : validationError(String(error)).failure,
      );
    }
  }

  /** BATCH: all statements on one connection in one transaction; the first failure rolls everything back. */
  async #runBatch(
    statements: readonly { sql: string; params: readonly unknown[] }[],
    maxRows: number,
    timeoutMs: number,
  ) {
    const client = await this.#executor.acquire(false);
    let broken: Error | undefined;
    const results: ExecResult[] = [];
    try {
      await client.query('BEGIN');
      for (const [index, statement] of statements.entries()) {
        try {
          results.push(
            await this.#executor.runOn(client, statement.sql, statement.params, {
              readOnly: false,
              maxRows,
              timeoutMs,
            }),
          );
        } catch (error) {
          await client.query('ROLLBACK').catch((e) => {
            broken = e as Error;
          });
          throw new RequestRejected({
            ...toFailure(error, 'execute'),
            executed: false,
            statementIndex: index,
          });
        }
      }
      await client.query('COMMIT');
      return { result: emptyResult('COMMIT'), batch: results };
    } catch (error) {
      if (isConnectionError(error)) broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /**
   * How a request's rows leave: whole in one reply, or, when the caller accepts chunks, in ordered
   * chunk replies of about `chunkBytes` published while later rows are still being read.
   */
  #chunker(request: RequestEnvelope, route: Route) {
    const options = request.payload.options;
    const pgText = options?.row_format === 'pg_text';
    const chunkBytes = this.#options.chunkBytes ?? 256 * 1024;
    const maxResultBytes = this.#options.maxResultBytes ?? 256 * 1024 * 1024;
    let index = 0;
    let buffered: (string | null)[][] = [];
    let bufferedBytes = 0;
    let totalBytes = 0;
    let lastColumns: ColumnInfo[] = [];
    const tooLarge = (message: string) =>
      new RequestRejected({
        code: 'DATABASE_OPERATION_FAILED',
        message,
        errorType: 'ResultTooLarge',
        sqlstate: '54000',
        retryable: false,
      });
    const flush = async (columns: ColumnInfo[]) => {
      const rowsOut = buffered;
      buffered = [];
      bufferedBytes = 0;
      const ok = await this.#publish(
        request,
        {
          kind: 'completed',
          payload: {
            operation_type: request.payload.operation_type,
            rows: [],
            row_count: rowsOut.length,
            execution_time_ms: 0,
            metadata: { cached: false, circuit_breaker_state: this.#breaker.state },
            columns,
            text_rows: rowsOut,
            chunk: { index: index++, last: false },
          },
        },
        route,
        { strict: true },
      );
      if (!ok) throw tooLarge('a row of the result does not fit in one message, even chunked');
    };
    const onBatch = async (rows: (string | null)[][], columns: ColumnInfo[]) => {
      lastColumns = columns;
      for (const row of rows) {
        let bytes = 4;
        for (const value of row) bytes += value === null ? 4 : value.length + 3;
        bufferedBytes += bytes;
        totalBytes += bytes;
        if (totalBytes > maxResultBytes) {
          throw tooLarge(
            `result exceeds the adapter's maximum of ${maxResultBytes} bytes; narrow the query or lower max_rows`,
          );
        }
        buffered.push(row);
        if (bufferedBytes >= chunkBytes) await flush(columns);
      }
    };
    const chunking = pgText && options?.accept_chunks === true;
    return {
      runOptions: chunking ? { onBatch, batchRows: 500 } : {},
      finish: (
        parts: ResultParts,
        maxRows: number,
        started: number,
        state: BreakerState,
      ): CompletedPayload => {
        const { result } = parts;
        const textRows = chunking ? buffered : result.textRows;
        const columns = chunking && result.columns.length === 0 ? lastColumns : result.columns;
        const payload: CompletedPayload = {
          operation_type: request.payload.operation_type,
          rows: pgText ? [] : naturalRows(columns, textRows),
          row_count: result.rowCount,
          execution_time_ms: Math.round((performance.now() - started) * 1000) / 1000,
          metadata: {
            cached: false,
            circuit_breaker_state: state,
            command: result.command,
            ...(result.truncated ? { truncated: true, max_rows: maxRows } : {}),
          },
        };
        if (pgText) {
          payload.columns = columns;
          payload.text_rows = textRows;
        }
        if (index > 0) payload.chunk = { index, last: true };
        if (parts.transactionId !== undefined) payload.transaction_id = parts.transactionId;
        if (parts.batch !== undefined) {
          payload.results = parts.batch.map((r) => ({
            command: r.command,
            row_count: r.rowCount,
            rows: pgText ? [] : naturalRows(r.columns, r.textRows),
            ...(pgText ? { columns: r.columns, text_rows: r.textRows } : {}),
          }));
        }
        return payload;
      },
    };
  }

  /**
   * The request's timeout, cut to what is left before its deadline less a margin for the reply to
   * travel back (so the caller hears TIMEOUT_ERROR rather than waiting out its own timer), in steps
   * so the SET is rarely repeated on a pooled connection.
   */
  #statementTimeout(request: RequestEnvelope): number {
    let budget = request.payload.options?.timeout_ms ?? this.#options.defaultTimeoutMs ?? 30_000;
    if (request.deadline !== undefined) {
      const remaining = Date.parse(request.deadline) - Date.now();
      budget = Math.min(budget, remaining - Math.min(250, remaining * 0.1));
    }
    const step = budget >= 2000 ? 250 : 10;
    return Math.max(10, Math.floor(budget / step) * step);
  }

  async #answerMalformed(
    message: IncomingMessage,
    json: unknown,
    raw: string,
    reason: string,
    route: Route,
  ): Promise<boolean> {
    const fields = (json !== null && typeof json === 'object' ? json : {}) as Record<string, unknown>;
    const correlationId = fields.correlation_id ?? /"correlation_id"\s*:\s*"([^"\\]{1,128})"/.exec(raw)?.[1];
    if (!isSaneId(correlationId)) {
      this.#stats.malformed++;
      this.#logger.warn('unanswerable message skipped', {
        topic: message.topic,
        partition: message.partition,
        offset: message.offset,
        reason,
      });
      return true;
    }
    const payload = fields.payload as Record<string, unknown> | undefined;
    const operationType = typeof payload?.operation_type === 'string' ? payload.operation_type : 'UNKNOWN';
    const replyPartition = typeof fields.reply_partition === 'number' ? fields.reply_partition : undefined;
    const eventId = typeof fields.event_id === 'string' ? fields.event_id : undefined;
    return this.#publish(
      {
        correlation_id: correlationId,
        ...(eventId ? { event_id: eventId } : {}),
        ...(replyPartition === undefined ? {} : { reply_partition: replyPartition }),
        payload: { operation_type: operationType },
      },
      { kind: 'failed', failure: validationError(reason).failure },
      route,
    );
  }

  async #publish(
    to: {
      correlation_id: string;
      event_id?: string;
      reply_partition?: number | undefined;
      payload: { operation_type: string };
    },
    reply: Reply,
    route: Route,
    options: { strict?: boolean } = {},
  ): Promise<boolean> {
    const publisher = this.#publisher as Publisher;
    let topic: string;
    let value: string;
    if (reply.kind === 'completed') {
      topic = route.topics.completed;
      value = JSON.stringify(completedEnvelope(to, reply.payload));
    } else {
      topic = route.topics.failed;
      const metadata = {
        circuit_breaker_state: this.#breaker.state,
        ...(reply.sql ? { sql: reply.sql } : {}),
      };
      value = JSON.stringify(
        failedEnvelope(to, failedPayload(to.payload.operation_type, reply.failure, metadata)),
      );
    }
    const maxBytes = this.#options.maxMessageBytes ?? 1_000_000;
    // A string of n UTF-16 units takes at most 3n bytes: only long replies need counting.
    const tooLarge =
      reply.kind === 'completed' && value.length * 3 > maxBytes && Buffer.byteLength(value) > maxBytes;
    if (tooLarge) {
      if (options.strict) return false;
      const failure: Failure = {
        code: 'DATABASE_OPERATION_FAILED',
        message: `result of ${Buffer.byteLength(value)} bytes does not fit in one message (${maxBytes}); lower max_rows, or ask for chunks with row_format pg_text and accept_chunks`,
        errorType: 'ResultTooLarge',
        sqlstate: '54000',
        retryable: false,
      };
      return this.#publish(to, { kind: 'failed', failure }, route);
    }
    this.#stats[reply.kind]++;
    const key = to.correlation_id;
    try {
      await publisher.publish(topic, {
        key,
        value,
        ...(to.reply_partition === undefined ? {} : { partition: to.reply_partition }),
      });
      return true;
    } catch (error) {
      if (to.reply_partition !== undefined) {
        // A partition the topic does not have: answer on the key's partition instead.
        try {
          await publisher.publish(topic, { key, value });
          return true;
        } catch {}
      }
      this.#stats.publishFailures++;
      this.#logger.error('reply could not be published', { correlationId: to.correlation_id, topic, error });
      return false;
    }
  }
}

function breakerOpen(retryAfterMs: number): Failure {
  return {
    code: 'CIRCUIT_BREAKER_OPEN',
    message: `Circuit breaker open: PostgreSQL is unreachable; next probe in ${Math.ceil(retryAfterMs / 1000)}s`,
    errorType: 'CircuitBreakerOpen',
    retryable: true,
    executed: false,
  };
}
