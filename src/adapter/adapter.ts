import { CircuitBreaker } from '../circuit-breaker.js';
import { completedEnvelope, type Failure, failedEnvelope, failedPayload } from '../events/envelope.js';
import { isSaneId } from '../events/ids.js';
import type { CompletedPayload } from '../events/reply.js';
import { type RequestEnvelope, RequestEnvelope as RequestEnvelopeSchema } from '../events/request.js';
import { type TopicNames, topicNames } from '../events/topics.js';
import { naturalRows } from '../events/values.js';
import { type Logger, silentLogger } from '../logger.js';
import type { GroupBatch, GroupConsumer, IncomingMessage, Publisher, Transport } from '../transport/types.js';
import { Catalog } from './catalog.js';
import { toFailure } from './error-mapping.js';
import { Executor, type ExecutorOptions } from './executor.js';
import { RequestRejected, validationError } from './failures.js';
import { OffsetTracker } from './offset-tracker.js';
import { toOperation } from './operations.js';
import { Semaphore } from './semaphore.js';
import { SqlValidator } from './sql-validator.js';
import { buildStatement, type Statement } from './statement-builder.js';

export interface AdapterOptions extends ExecutorOptions {
  readonly transport: Transport;
  /** Topic environment: `{env}.omninode-bridge.database.*`. Default `dev`. */
  readonly topicEnv?: string;
  /** Consumer group shared by all adapter processes. Default `dbbridge-adapter`. */
  readonly groupId?: string;
  /** Requests run at once (across partitions). Default: `poolMax` (20). */
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
}

type Reply =
  | { kind: 'completed'; payload: CompletedPayload }
  | { kind: 'failed'; failure: Failure; sql?: string };

/**
 * The adapter service: consumes query requests in a consumer group, runs them on PostgreSQL, and
 * publishes a completed or failed reply for every request it can read. Offsets are committed only
 * after the reply to the request (and to every earlier one of its partition) was published.
 */
export class DatabaseAdapter {
  readonly #options: AdapterOptions;
  readonly #topics: TopicNames;
  readonly #logger: Logger;
  readonly #executor: Executor;
  readonly #catalog: Catalog;
  readonly #breaker: CircuitBreaker;
  readonly #tracker = new OffsetTracker();
  readonly #slots: Semaphore;
  readonly #stats: AdapterStats = {
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
    this.#logger = options.logger ?? silentLogger;
    this.#executor = new Executor(options);
    this.#catalog = new Catalog(this.#executor.pool);
    this.#slots = new Semaphore(options.maxInFlight ?? options.poolMax ?? 20);
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
    return { ...this.#stats };
  }

  get breakerState() {
    return this.#breaker.state;
  }

  async start(): Promise<void> {
    this.#validator = await SqlValidator.create();
    const transport = this.#options.transport;
    await transport.connect();
    await transport.ping([this.#topics.requested, this.#topics.completed, this.#topics.failed]);
    this.#publisher = transport.publisher({ idempotent: true });
    this.#consumer = await transport.openGroupConsumer({
      groupId: this.#options.groupId ?? 'dbbridge-adapter',
      topic: this.#topics.requested,
      onBatch: (batch) => this.#onBatch(batch),
      partitionsConsumedConcurrently: 4,
      onPartitionsRevoked: (partitions) => this.#tracker.forget(partitions),
    });
    this.#commitTimer = setInterval(() => void this.#commit(), this.#options.commitIntervalMs ?? 100);
    this.#logger.info('adapter subscribed', { topic: this.#topics.requested });
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
    await this.#consumer?.close();
    await this.#publisher?.close();
    await this.#executor.close();
    this.#logger.info('adapter stopped', { ...this.#stats });
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
    const raw = message.value?.toString('utf8') ?? '';
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return this.#answerMalformed(message, undefined, raw, 'request is not valid JSON');
    }
    const parsed = RequestEnvelopeSchema.safeParse(json);
    if (!parsed.success) {
      const problems = parsed.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; ');
      return this.#answerMalformed(message, json, raw, `invalid request event: ${problems}`);
    }
    const request = parsed.data;
    if (request.deadline !== undefined && Date.parse(request.deadline) <= Date.now()) {
      this.#stats.expired++;
      this.#logger.debug('request expired before it ran', { correlationId: request.correlation_id });
      return true;
    }
    const reply = await this.#execute(request);
    return this.#publish(request, reply);
  }

  async #execute(request: RequestEnvelope): Promise<Reply> {
    const payload = request.payload;
    const started = performance.now();
    let sql: string | undefined;
    try {
      const operation = toOperation(payload, this.#options.allowDdl ?? false);
      let statement: Statement | undefined;
      if (operation.kind === 'sql') {
        sql = operation.sql;
        const validator = this.#validator as SqlValidator;
        const cls = validator.check(operation.sql, operation.policy);
        statement = { text: operation.sql, values: [...operation.params], readOnly: cls === 'read' };
      }
      if (!this.#breaker.tryAcquire()) {
        return { kind: 'failed', failure: breakerOpen(this.#breaker.retryAfterMs), ...(sql ? { sql } : {}) };
      }
      try {
        if (statement === undefined) statement = await buildStatement(operation as never, this.#catalog);
        sql = statement.text;
        const maxRows = payload.options?.max_rows ?? this.#options.defaultMaxRows ?? 1000;
        const result = await this.#executor.run(statement.text, statement.values, {
          readOnly: statement.readOnly,
          maxRows,
          timeoutMs: this.#statementTimeout(request),
        });
        this.#breaker.success();
        const pgText = payload.options?.row_format === 'pg_text';
        const completed: CompletedPayload = {
          operation_type: payload.operation_type,
          rows: pgText ? [] : naturalRows(result.columns, result.textRows),
          row_count: result.command === 'SELECT' ? result.textRows.length : result.rowCount,
          execution_time_ms: Math.round((performance.now() - started) * 1000) / 1000,
          metadata: {
            cached: false,
            circuit_breaker_state: this.#breaker.state,
            command: result.command,
            ...(result.truncated ? { truncated: true, max_rows: maxRows } : {}),
          },
          ...(pgText ? { columns: result.columns, text_rows: result.textRows } : {}),
        };
        return { kind: 'completed', payload: completed };
      } catch (error) {
        const failure = toFailure(error, 'execute');
        if (failure.code === 'DATABASE_CONNECTION_FAILED') this.#breaker.failure();
        else this.#breaker.success();
        return { kind: 'failed', failure, ...(sql ? { sql } : {}) };
      }
    } catch (error) {
      // Refused before the database was involved.
      const failure =
        error instanceof RequestRejected
          ? error.failure
          : toFailure(validationError(String(error)), 'execute');
      return { kind: 'failed', failure, ...(sql ? { sql } : {}) };
    }
  }

  /** The request's timeout, cut to what is left before its deadline, in steps so the SET is rarely repeated. */
  #statementTimeout(request: RequestEnvelope): number {
    let budget = request.payload.options?.timeout_ms ?? this.#options.defaultTimeoutMs ?? 30_000;
    if (request.deadline !== undefined) budget = Math.min(budget, Date.parse(request.deadline) - Date.now());
    const step = budget >= 2000 ? 250 : 10;
    return Math.max(10, Math.floor(budget / step) * step);
  }

  async #answerMalformed(
    message: IncomingMessage,
    json: unknown,
    raw: string,
    reason: string,
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
  ): Promise<boolean> {
    const publisher = this.#publisher as Publisher;
    let topic: string;
    let value: string;
    if (reply.kind === 'completed') {
      topic = this.#topics.completed;
      value = JSON.stringify(completedEnvelope(to, reply.payload));
      this.#stats.completed++;
    } else {
      topic = this.#topics.failed;
      const metadata = {
        circuit_breaker_state: this.#breaker.state,
        ...(reply.sql ? { sql: reply.sql } : {}),
      };
      value = JSON.stringify(
        failedEnvelope(to, failedPayload(to.payload.operation_type, reply.failure, metadata)),
      );
      this.#stats.failed++;
    }
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
