import type { PoolClient } from 'pg';
import { CircuitBreaker } from '../circuit-breaker.js';
import { WireRequestEnvelope as RequestEnvelopeSchema } from '../events/absent.js';
import { completedEnvelope, type Failure, failedEnvelope, failedPayload } from '../events/envelope.js';
import type { BreakerState } from '../events/error-codes.js';
import { isSaneId } from '../events/ids.js';
import { payloadProblem, REQUEST_LIMITS } from '../events/limits.js';
import type { ColumnInfo, CompletedPayload } from '../events/reply.js';
import type { RequestEnvelope } from '../events/request.js';
import { serviceTopicNames, type TopicNames, topicNames } from '../events/topics.js';
import { isTraceparent, TRACEPARENT_HEADER } from '../events/trace-context.js';
import { naturalRows } from '../events/values.js';
import { type Logger, logsAt, silentLogger } from '../logger.js';
import { loadTelemetry, startRequestSpan } from '../telemetry.js';
import type { GroupBatch, GroupConsumer, IncomingMessage, Publisher, Transport } from '../transport/types.js';
import { Catalog } from './catalog.js';
import { DeadLetters } from './dead-letters.js';
import { requestChannel, transactionChannel } from './diagnostics.js';
import { isConnectionError, toFailure } from './error-mapping.js';
import {
  type StatementResult as ExecResult,
  Executor,
  type ExecutorOptions,
  type ExecutorStats,
} from './executor.js';
import { RequestRejected, validationError } from './failures.js';
import {
  type IdempotencyOptions,
  IdempotencyStore,
  type RecordedReply,
  recordKey,
  requestDigest,
} from './idempotency.js';
import { OffsetSeeder } from './offset-seeding.js';
import { OffsetTracker } from './offset-tracker.js';
import { toOperation } from './operations.js';
import { type IdentityPolicy, PolicyEnforcer, type PolicyFile, policyOf, unknownIdentity } from './policy.js';
import { Semaphore } from './semaphore.js';
import { SessionGuard } from './session-guard.js';
import { SqlValidator, type StatementPolicy } from './sql-validator.js';
import { buildStatement } from './statement-builder.js';
import {
  type RollbackReason,
  type TransactionOptions,
  type TransactionOrigin,
  Transactions,
} from './transactions.js';

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
   * Per-identity policies (issue 9 §3, `policy.ts`): each service's role, operations, statement
   * kinds, tables and limits; its services' topics are consumed as if listed in `services`. An
   * identity without a policy is refused (`UnknownIdentity`). Default: none, and every identity gets
   * `OPEN_POLICY` (the login role, everything the validator lets through).
   */
  readonly policy?: PolicyFile;
  /**
   * Requests run at once (across partitions). Default 4 x `poolMax` (80): quick statements share
   * connections (see `pipelineDepth`), the rest wait for a free one in the pool.
   */
  readonly maxInFlight?: number;
  /** Allow DDL in EXECUTE requests. Default false. */
  readonly allowDdl?: boolean;
  /** Rows returned when a request names no `max_rows`. Default 1000 (the seed's figure). */
  readonly defaultMaxRows?: number;
  /**
   * Largest `max_rows` honoured; a request asking for more is clamped to it (and `metadata.truncated`
   * says when rows were cut). Default and ceiling `REQUEST_LIMITS.maxRows` (2,147,483,646, what
   * PostgreSQL's protocol carries).
   */
  readonly maxRowsLimit?: number;
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
  /**
   * Idempotent requests: writes that carry an `idempotency_key` are recorded with their reply in
   * their own transaction (table `dbbridge_idempotency`, migration 0002). `enabled` default true.
   */
  readonly idempotency?: IdempotencyOptions & { readonly enabled?: boolean };
  /**
   * Fault injection for tests, off by default. `after-commit-before-reply`: the process kills itself
   * after a write committed and before its reply is published.
   */
  readonly failpoint?: 'after-commit-before-reply';
  /** Writes answered before the failpoint fires. Default 0. */
  readonly failpointSkip?: number;
  /**
   * Kafka `group.instance.id` of this adapter (static membership, `DBBRIDGE_INSTANCE_ID`): restarted
   * with the same id, it takes its partitions back at once. Unique per live adapter. Default none.
   */
  readonly groupInstanceId?: string;
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
  /** Requests whose handling threw unexpectedly: answered as failed (or logged and skipped). */
  internalErrors: number;
  /** Writes answered with the reply recorded for their idempotency key, without running again. */
  replayed: number;
  /** Messages put on the dead-letter topic (unanswerable, or their handling threw), published or not. */
  deadLettered: number;
  /** Interactive transactions rolled back at once because their request partition was revoked (moved to another adapter). */
  transactionsMoved: number;
  /** How statements went to PostgreSQL (pipelining). */
  executor: ExecutorStats;
}

/** Where a request came from: who sent it (the service of its topic; '' on the shared topics) and where to answer. */
interface Route {
  readonly identity: string;
  readonly topics: TopicNames;
}

/**
 * What one identity's requests run on: its policy, and the executor (pools whose connections took
 * its role), transactions and idempotency records of that role. Identities whose policy names no
 * role and no connection share use the adapter's own executor.
 */
interface Lane {
  readonly enforcer: PolicyEnforcer;
  readonly limits: IdentityPolicy['limits'];
  readonly executor: Executor;
  readonly transactions: Transactions;
  readonly idempotency: IdempotencyStore;
}

type Reply =
  | { kind: 'completed'; payload: CompletedPayload }
  | { kind: 'failed'; failure: Failure; sql?: string };

/** What handling one message came to, for the request diagnostic and the debug log line. */
interface Outcome {
  /** The trace context to hand on to PostgreSQL (the adapter's span, or the caller's). */
  readonly traceparent: string | undefined;
  correlationId: string | undefined;
  operation: string;
  outcome: 'completed' | 'failed' | 'expired' | 'malformed';
  code?: string;
  executeMs: number;
}

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
  #seeder: OffsetSeeder | undefined;
  /** Writes the failpoint let through so far. */
  #failpointSkipped = 0;
  readonly #slots: Semaphore;
  /** Per identity ('' for the shared topics); an identity without one is refused. */
  readonly #lanes = new Map<string, Lane>();
  /** Transactions of the identities on the adapter's own executor that name no share of their own (open mode: all). */
  readonly #transactions: Transactions;
  readonly #sessionGuard: SessionGuard;
  readonly #stats: Omit<AdapterStats, 'executor'> = {
    received: 0,
    completed: 0,
    failed: 0,
    malformed: 0,
    expired: 0,
    publishFailures: 0,
    internalErrors: 0,
    replayed: 0,
    deadLettered: 0,
    transactionsMoved: 0,
  };
  readonly #deadLetters: DeadLetters;
  readonly #idempotency: IdempotencyStore;
  /** False until the idempotency table was found at start (or when turned off). */
  #recording = false;
  /**
   * Per route, partitions of its reply topics (the smaller count of the two) and when they were last
   * read: a service's own reply topics need not have as many as the shared ones.
   */
  readonly #replyPartitions = new Map<Route, { count: number; readAt: number }>();
  readonly #sharedRoute: Route;
  /** The shared check that PostgreSQL answers, while one runs (see `#databaseAnswers`). */
  #probe: Promise<boolean> | undefined;
  #validator: SqlValidator | undefined;
  #publisher: Publisher | undefined;
  #consumer: GroupConsumer | undefined;
  #commitTimer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: AdapterOptions) {
    this.#options = Object.freeze({ ...options });
    this.#topics = topicNames(options.topicEnv);
    this.#sharedRoute = { identity: '', topics: this.#topics };
    if (options.sharedTopics ?? true) this.#routes.set(this.#topics.requested, this.#sharedRoute);
    const services = new Set([...(options.services ?? []), ...Object.keys(options.policy?.services ?? {})]);
    for (const service of services) {
      const topics = serviceTopicNames(options.topicEnv ?? 'dev', service);
      this.#routes.set(topics.requested, { identity: service, topics });
    }
    if (this.#routes.size === 0)
      throw new TypeError('the adapter consumes no topic: enable sharedTopics or name services');
    this.#logger = options.logger ?? silentLogger;
    this.#deadLetters = new DeadLetters({
      publish: (topic, message) => (this.#publisher as Publisher).publish(topic, message),
      logger: this.#logger,
      maxMessageBytes: options.maxMessageBytes ?? 1_000_000,
      owner: this,
    });
    // An adapter that allows DDL resets every connection after each statement (see ExecutorOptions).
    this.#executor = new Executor({ resetEveryStatement: options.allowDdl ?? false, ...options });
    this.#catalog = new Catalog(this.#executor.pool);
    this.#sessionGuard = new SessionGuard(this.#executor.pool);
    this.#idempotency = new IdempotencyStore(this.#executor, this.#logger, options.idempotency);
    this.#slots = new Semaphore(options.maxInFlight ?? 4 * (options.poolMax ?? 20));
    this.#transactions = new Transactions(this.#executor, this.#logger, {
      ...options.transactions,
      onRolledBack: (reason) => this.#rolledBack(reason),
      poolMax: options.poolMax ?? 20,
    });
    for (const { identity } of this.#routes.values()) {
      const policy = policyOf(options.policy, identity);
      if (policy !== undefined) this.#lanes.set(identity, this.#lane(identity, policy));
    }
    this.#breaker = new CircuitBreaker({
      failureThreshold: options.breaker?.failureThreshold ?? 3,
      resetTimeoutMs: options.breaker?.resetTimeoutMs ?? 30_000,
      onStateChange: (state) => this.#logger.warn('database circuit breaker', { state }),
    });
  }

  #lane(identity: string, policy: IdentityPolicy): Lane {
    const options = this.#options;
    const { limits } = policy;
    const poolMax = limits.connections ?? options.poolMax ?? 20;
    const own = policy.role !== undefined || limits.connections !== undefined;
    const executor = own
      ? new Executor({
          resetEveryStatement: options.allowDdl ?? false,
          ...options,
          poolMax,
          // pg_stat_activity shows whose connection it is.
          applicationName: `${options.applicationName ?? 'dbbridge-adapter'}/${identity === '' ? 'shared' : identity}`,
          ...(policy.role === undefined ? {} : { role: policy.role }),
        })
      : this.#executor;
    // Identities on the adapter's own pools without a share of their own share its count, as
    // before policies (ids stay usable only by the identity that began them).
    const transactions =
      !own && limits.transactions === undefined
        ? this.#transactions
        : new Transactions(executor, this.#logger, {
            ...options.transactions,
            onRolledBack: (reason) => this.#rolledBack(reason),
            ...(limits.transactions === undefined ? {} : { maxOpen: limits.transactions }),
            poolMax,
          });
    return {
      enforcer: new PolicyEnforcer(identity, policy),
      limits,
      executor,
      transactions,
      idempotency: own
        ? new IdempotencyStore(executor, this.#logger, options.idempotency)
        : this.#idempotency,
    };
  }

  /** Counts a transaction the adapter rolled back itself, and reports it (metrics). */
  #rolledBack(reason: RollbackReason): void {
    if (reason === 'partition-moved') this.#stats.transactionsMoved++;
    if (transactionChannel.hasSubscribers) transactionChannel.publish({ adapter: this, reason });
  }

  /** Every Transactions of the adapter, each once. */
  #allTransactions(): Transactions[] {
    return [...new Set([this.#transactions, ...[...this.#lanes.values()].map((l) => l.transactions)])];
  }

  /** The executors of the lanes, each once (the adapter's own first). */
  #executors(): Executor[] {
    return [...new Set([this.#executor, ...[...this.#lanes.values()].map((l) => l.executor)])];
  }

  get topics(): TopicNames {
    return this.#topics;
  }

  get stats(): Readonly<AdapterStats> {
    const executor = { statements: 0, pipelined: 0, groups: 0 };
    for (const { stats } of this.#executors()) {
      executor.statements += stats.statements;
      executor.pipelined += stats.pipelined;
      executor.groups += stats.groups;
    }
    return { ...this.#stats, executor };
  }

  get breakerState() {
    return this.#breaker.state;
  }

  /** Requests being handled now. */
  get inFlight(): number {
    return this.#tracker.inFlight;
  }

  /** Request-topic partitions this adapter holds in its group (0 before it joined). */
  get assignedPartitions(): number {
    return this.#consumer?.assignedPartitions ?? 0;
  }

  /**
   * Requests waiting in the request topics behind what this adapter has taken on: per partition it
   * has read from, the end offset less the next offset it would take. Partitions it holds but has
   * not read from yet are not counted (their backlog shows once the first fetch returns).
   */
  async consumerLag(): Promise<number> {
    const positions = this.#tracker.positions();
    let lag = 0n;
    for (const topic of new Set(positions.map((p) => p.topic))) {
      const ends = await this.#options.transport.endOffsets(topic);
      for (const p of positions) {
        if (p.topic !== topic) continue;
        const end = ends.find((e) => e.partition === p.partition)?.offset;
        if (end !== undefined && end > p.next) lag += end - p.next;
      }
    }
    return Number(lag);
  }

  /** Connections of the read and write pools (those of every identity with pools of its own included). */
  poolStats() {
    const total = this.#executor.poolStats();
    for (const executor of this.#executors().slice(1)) {
      const more = executor.poolStats();
      for (const kind of ['read', 'write'] as const) {
        total[kind].total += more[kind].total;
        total[kind].idle += more[kind].idle;
        total[kind].waiting += more[kind].waiting;
      }
    }
    return total;
  }

  /**
   * Ready to serve: started and not stopping, holding at least one request partition, the database
   * answering (`SELECT 1` within `timeoutMs`) and its breaker not open. `reasons` says what is missing.
   */
  async readiness(timeoutMs = 2000): Promise<{ ready: boolean; reasons: string[] }> {
    const reasons: string[] = [];
    if (this.#consumer === undefined) reasons.push('not started');
    if (this.#stopping !== undefined) reasons.push('stopping');
    if (this.assignedPartitions === 0) reasons.push('holds no request partition');
    if (this.#breaker.state === 'OPEN') reasons.push('database circuit breaker open');
    try {
      const ping = this.#executor.pool.query('SELECT 1');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      await Promise.race([ping, timeout]).finally(() => clearTimeout(timer));
    } catch (error) {
      reasons.push(`database: ${(error as Error).message}`);
    }
    return { ready: reasons.length === 0, reasons };
  }

  async start(): Promise<void> {
    this.#validator = await SqlValidator.create();
    if (this.#options.idempotency?.enabled !== false) {
      this.#recording = await this.#idempotency.available().catch(() => true);
      if (this.#recording) {
        this.#idempotency.startPruning();
        // Stores of other roles learn the table's schema-qualified name too (they do not prune).
        for (const store of new Set([...this.#lanes.values()].map((l) => l.idempotency)))
          if (store !== this.#idempotency) await store.available().catch(() => true);
      } else
        this.#logger.warn(
          'table dbbridge_idempotency not found (run the migrations): idempotency keys are not recorded',
        );
    }
    await loadTelemetry();
    this.#sessionGuard.load();
    const transport = this.#options.transport;
    await transport.connect();
    const routes = [...this.#routes.values()];
    await transport.ping(routes.flatMap((r) => [r.topics.requested, r.topics.completed, r.topics.failed]));
    for (const route of routes) await this.#readReplyPartitions(route);
    this.#publisher = transport.publisher({ idempotent: true });
    await transport.ping(routes.map((r) => r.topics.deadLettered)).catch((error) =>
      this.#logger.warn('dead-letter topic not reachable: undecodable messages are logged and skipped', {
        topics: routes.map((r) => r.topics.deadLettered),
        error,
      }),
    );
    const [first, ...extraTopics] = [...this.#routes.keys()] as [string, ...string[]];
    const seeder = new OffsetSeeder({
      endOffsets: (topic) => transport.endOffsets(topic),
      logger: this.#logger,
    });
    this.#seeder = seeder;
    this.#consumer = await transport.openGroupConsumer({
      groupId: this.#options.groupId ?? 'dbbridge-adapter',
      topic: first,
      ...(extraTopics.length > 0 ? { extraTopics } : {}),
      onBatch: (batch) => this.#onBatch(batch),
      partitionsConsumedConcurrently: 4,
      onPartitionsRevoked: (partitions) => {
        this.#tracker.forget(partitions);
        seeder.forget(partitions);
        // The requests of a transaction begun there now go to another adapter: roll it back now
        // rather than hold its connection (and its locks) until the idle timeout.
        for (const transactions of this.#allTransactions())
          void transactions
            .revoke(partitions)
            .catch((error: unknown) =>
              this.#logger.error('rolling back the transactions of revoked partitions failed', { error }),
            );
      },
      onPartitionsAssigned: (partitions) => seeder.assigned(partitions),
      ...(this.#options.groupInstanceId ? { groupInstanceId: this.#options.groupInstanceId } : {}),
    });
    seeder.attach(this.#consumer);
    this.#commitTimer = setInterval(() => void this.#commit(), this.#options.commitIntervalMs ?? 100);
    this.#logger.info('adapter subscribed', { topics: [...this.#routes.keys()] });
    for (const [topic, { identity }] of this.#routes) {
      if (!this.#lanes.has(identity))
        this.#logger.warn('no policy for the requests of this topic: they are refused (UnknownIdentity)', {
          topic,
          identity: identity === '' ? 'shared' : identity,
        });
    }
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
    await Promise.all(this.#allTransactions().map((t) => t.closeAll()));
    await this.#idempotency.stop();
    await this.#consumer?.close();
    await this.#publisher?.close();
    await Promise.all(this.#executors().map((e) => e.close()));
    this.#logger.info('adapter stopped', { ...this.stats });
  }

  async #onBatch(batch: GroupBatch): Promise<void> {
    // A partition the group never committed is served only once its position is committed.
    await this.#seeder?.ready(batch.topic, batch.partition, batch.messages[0]?.offset);
    for (const message of batch.messages) {
      if (this.#stopping || !batch.isActive()) return;
      const arrivedAt = performance.now();
      await this.#acquireSlot(batch);
      if (this.#stopping) {
        this.#slots.release();
        return;
      }
      this.#tracker.start(message.topic, message.partition, message.offset);
      void this.#handle(message, arrivedAt)
        .then((published) => {
          if (published) this.#tracker.done(message.topic, message.partition, message.offset);
        })
        .catch((error) => this.#logger.error('request handling failed', { offset: message.offset, error }))
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

  /** Answers one message and reports how it went (diagnostics channel, debug log line). */
  async #handle(message: IncomingMessage, arrivedAt: number): Promise<boolean> {
    const startedAt = performance.now();
    const incoming = message.headers?.[TRACEPARENT_HEADER];
    const span = startRequestSpan(
      isTraceparent(incoming) ? incoming : undefined,
      Date.now() - (startedAt - arrivedAt),
      { 'messaging.destination.name': message.topic, 'messaging.kafka.partition': String(message.partition) },
    );
    const outcome: Outcome = {
      traceparent: span.traceparent,
      correlationId: undefined,
      operation: 'UNKNOWN',
      outcome: 'malformed',
      executeMs: 0,
    };
    const published = await this.#answerSafely(message, outcome);
    const totalMs = performance.now() - arrivedAt;
    span.end({
      failed: outcome.outcome !== 'completed',
      ...(outcome.code === undefined ? {} : { code: outcome.code }),
      attributes: {
        'messaging.message.conversation_id': outcome.correlationId ?? '',
        'db.operation.name': outcome.operation,
        'dbbridge.outcome': outcome.outcome,
      },
    });
    if (requestChannel.hasSubscribers) {
      requestChannel.publish({ adapter: this, ...outcome, queueMs: startedAt - arrivedAt, totalMs });
    }
    // Checked first: the fields of this line would otherwise be built for every request.
    if (logsAt(this.#logger, 'debug')) {
      this.#logger.debug('request', {
        correlationId: outcome.correlationId,
        operation: outcome.operation,
        outcome: outcome.outcome,
        code: outcome.code,
        durationMs: Math.round(totalMs * 1000) / 1000,
      });
    }
    return published;
  }

  /**
   * Answers one message. Never throws; resolves true once a reply was published (or none was due).
   * Whatever throws while handling one request becomes that request's failed reply; when even that
   * cannot be sent, the message is logged and skipped so its offset moves on (a poison message is
   * not read again after a restart).
   */
  async #answerSafely(message: IncomingMessage, outcome: Outcome): Promise<boolean> {
    try {
      return await this.#answer(message, outcome);
    } catch (error) {
      this.#stats.internalErrors++;
      this.#logger.error('request handling failed; answering it as failed', {
        topic: message.topic,
        partition: message.partition,
        offset: message.offset,
        error,
      });
      try {
        let raw = '';
        let json: unknown;
        try {
          raw = message.value?.toString('utf8') ?? '';
          json = JSON.parse(raw);
        } catch {}
        // Answered if it can be, and dead-lettered either way (INTERNAL_ERROR).
        await this.#answerMalformed(message, json, raw, internalError(error), this.#routeOf(message), true);
      } catch (again) {
        this.#logger.error('failed request skipped', { offset: message.offset, error: again });
      }
      return true;
    }
  }

  /** Where a message came from decides who sent it and where its reply goes. */
  #routeOf(message: IncomingMessage): Route {
    return this.#routes.get(message.topic) ?? this.#sharedRoute;
  }

  async #answer(message: IncomingMessage, outcome: Outcome): Promise<boolean> {
    this.#stats.received++;
    const route = this.#routeOf(message);
    const raw = message.value?.toString('utf8') ?? '';
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return this.#answerMalformed(
        message,
        undefined,
        raw,
        validationError('request is not valid JSON').failure,
        route,
      );
    }
    const parsed = RequestEnvelopeSchema.safeParse(json);
    if (!parsed.success) {
      const problems = parsed.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; ');
      return this.#answerMalformed(
        message,
        json,
        raw,
        validationError(`invalid request event: ${problems}`).failure,
        route,
      );
    }
    const request = onOwnClock(parsed.data, message.timestamp);
    outcome.correlationId = request.correlation_id;
    outcome.operation = request.payload.operation_type;
    if (request.deadline !== undefined && Date.parse(request.deadline) <= Date.now()) {
      outcome.outcome = 'expired';
      this.#stats.expired++;
      this.#logger.warn('request expired before it ran: not run, not answered', {
        correlationId: request.correlation_id,
        operation: request.payload.operation_type,
        expiredMsAgo: Date.now() - Date.parse(request.deadline),
      });
      return true;
    }
    const tooLarge = payloadProblem(request.payload);
    if (tooLarge !== undefined)
      return this.#publish(request, { kind: 'failed', failure: validationError(tooLarge).failure }, route);
    // Checked without an await when the partition is known: requests that arrive together must reach
    // the executor in the same turn of the event loop to be pipelined together.
    const rp = request.reply_partition;
    if (rp !== undefined && rp >= this.#replyCount(route) && !(await this.#hasReplyPartition(route, rp))) {
      // Not taken modulo (that would land on another client's partition): refused, keyed by correlation id.
      const { reply_partition: _, ...keyed } = request;
      const failure = validationError(
        `reply_partition ${request.reply_partition} does not exist: the reply topics have ${this.#replyCount(route)} partitions`,
      ).failure;
      return this.#publish(keyed, { kind: 'failed', failure }, route);
    }
    if (route.identity !== '' && request.service !== route.identity) {
      // The field is self-declared; the topic is not. Logged, never trusted.
      this.#logger.debug('request claims another service; runs as its topic says', {
        correlationId: request.correlation_id,
        identity: route.identity,
        claimedService: request.service,
      });
    }
    const executeStart = performance.now();
    const squeezed = this.#squeezed(request);
    let reply = await this.#execute(request, route, outcome.traceparent, {
      topic: message.topic,
      partition: message.partition,
    });
    // Cancelled with only the rest of a budget spent waiting (in the topic while its partition had no
    // adapter, or in the queue): a repeat with a fresh deadline may well succeed.
    if (squeezed && reply.kind === 'failed' && reply.failure.code === 'TIMEOUT_ERROR')
      reply = { ...reply, failure: { ...reply.failure, retryable: true } };
    if (
      this.#options.failpoint === 'after-commit-before-reply' &&
      reply.kind === 'completed' &&
      reply.payload.metadata.replayed !== true &&
      isWrite(request.payload.operation_type) &&
      this.#failpointSkipped++ >= (this.#options.failpointSkip ?? 0)
    ) {
      this.#logger.warn('failpoint after-commit-before-reply: the process ends before the reply', {
        correlationId: request.correlation_id,
      });
      process.kill(process.pid, 'SIGKILL');
    }
    outcome.executeMs = performance.now() - executeStart;
    outcome.outcome = reply.kind;
    if (reply.kind === 'failed') outcome.code = reply.failure.code;
    return this.#publish(request, reply, route);
  }

  async #readReplyPartitions(route: Route): Promise<void> {
    const known = this.#replyPartitions.get(route);
    this.#replyPartitions.set(route, { count: known?.count ?? 0, readAt: Date.now() });
    const count = await this.#options.transport.partitionCount([route.topics.completed, route.topics.failed]);
    this.#replyPartitions.set(route, { count, readAt: Date.now() });
  }

  #replyCount(route: Route): number {
    return this.#replyPartitions.get(route)?.count ?? 0;
  }

  /** The route's reply topics have this partition (partitions may be added: re-read at most every 5 s). */
  async #hasReplyPartition(route: Route, partition: number): Promise<boolean> {
    if (partition < this.#replyCount(route)) return true;
    if (Date.now() - (this.#replyPartitions.get(route)?.readAt ?? 0) >= 5000) {
      await this.#readReplyPartitions(route).catch((error) =>
        this.#logger.warn('reply topic metadata unavailable', { topic: route.topics.completed, error }),
      );
    }
    return partition < this.#replyCount(route);
  }

  /**
   * Runs one request and returns its final reply (chunks of a large result are published on the
   * way). Validation and, inside a transaction, queueing happen before the first await, so the
   * statements of one transaction run in the order they arrived.
   */
  async #execute(
    request: RequestEnvelope,
    route: Route,
    traceparent: string | undefined,
    origin: TransactionOrigin,
  ): Promise<Reply> {
    const payload = request.payload;
    const started = performance.now();
    let sql: string | undefined;
    const failed = (failure: Failure): Reply => ({ kind: 'failed', failure, ...(sql ? { sql } : {}) });
    let work: () => Promise<ResultParts | RecordedReply>;
    let operation: ReturnType<typeof toOperation>;
    const lane = this.#lanes.get(route.identity);
    try {
      if (lane === undefined) throw unknownIdentity(route.identity);
      lane.enforcer.checkOperation(payload.operation_type);
      operation = toOperation(payload, this.#options.allowDdl ?? false);
    } catch (error) {
      return failed(
        error instanceof RequestRejected ? error.failure : validationError(String(error)).failure,
      );
    }
    // The ticket ties this request's outcome to the breaker's state now: a slow statement admitted
    // before the breaker opened does not close it by succeeding late.
    const ticket = this.#breaker.acquire();
    if (ticket === undefined) return failed(breakerOpen(this.#breaker.retryAfterMs));
    try {
      const validator = this.#validator as SqlValidator;
      const allowDdl = this.#options.allowDdl ?? false;
      const { enforcer, executor, transactions, idempotency, limits } = lane;
      const timeoutMs = this.#statementTimeout(request, limits.statementTimeoutMs);
      const deadline = request.deadline === undefined ? undefined : Date.parse(request.deadline);
      const when = {
        ...(deadline === undefined ? {} : { deadline }),
        ...(traceparent === undefined ? {} : { traceparent }),
      };
      const maxRows = Math.min(
        payload.options?.max_rows ?? this.#options.defaultMaxRows ?? 1000,
        this.#options.maxRowsLimit ?? REQUEST_LIMITS.maxRows,
        limits.maxRows ?? REQUEST_LIMITS.maxRows,
        REQUEST_LIMITS.maxRows,
      );
      const chunker = this.#chunker(request, route, limits.maxBytes);
      const finish = (parts: ResultParts) => chunker.finish(parts, maxRows, started, this.#breaker.state);
      // Writes that carry an idempotency key (not statements inside an interactive transaction:
      // its COMMIT is recorded) run recorded.
      const key = this.#recording && isWrite(payload.operation_type) ? request.idempotency_key : undefined;
      const record =
        key === undefined ||
        operation.kind === 'begin' ||
        (operation.kind === 'end' && operation.action === 'rollback') ||
        (operation.kind === 'sql' && operation.transactionId !== undefined)
          ? undefined
          : { key: recordKey(route.identity, request.service, key), digest: requestDigest(payload) };
      switch (operation.kind) {
        case 'sql': {
          sql = operation.sql;
          const txId = operation.transactionId;
          const policy: StatementPolicy =
            txId !== undefined && operation.policy.kind === 'execute'
              ? { kind: 'transaction', allowDdl }
              : operation.policy;
          const readOnly = validator.check(operation.sql, policy) === 'read' && txId === undefined;
          const checked = operation.sql;
          enforcer.checkStatement(checked, () => validator.accessOf(checked));
          const text = operation.page ? validator.paged(operation.sql, operation.page) : operation.sql;
          const values = [...operation.params];
          // The correlation id lets a CANCEL request find the statement while it runs.
          const cancelKey = request.correlation_id;
          // Outside a transaction: a call into code no validator sees gets its connection reset.
          const reset =
            txId === undefined && this.#sessionGuard.needsReset(validator.functionsOf(text))
              ? { resetSession: true }
              : {};
          const options = {
            readOnly,
            maxRows,
            timeoutMs,
            cancelKey,
            ...when,
            ...chunker.runOptions,
            ...reset,
          };
          if (record !== undefined) {
            work = () =>
              idempotency
                .runStatement(
                  record.key,
                  record.digest,
                  { text, values, ...options, recordable: validator.recordable(text) },
                  (result) => finish({ result }),
                )
                .catch(async (error: unknown) => {
                  // A statement that cannot run inside a transaction block (CREATE INDEX
                  // CONCURRENTLY, VACUUM, with DDL allowed) did not run there: it runs unrecorded.
                  if ((error as { code?: unknown }).code !== '25001') throw error;
                  return { result: await executor.run(text, values, options) };
                });
          } else if (txId === undefined) {
            work = async () => ({ result: await executor.run(text, values, options) });
          } else {
            const queued = transactions.run(
              txId,
              (client) => executor.runOn(client, text, values, options),
              route.identity,
            );
            work = async () => ({ result: await queued });
          }
          break;
        }
        case 'begin':
          work = async () => ({
            result: emptyResult('BEGIN'),
            transactionId: await transactions.begin(operation.settings, route.identity, origin),
          });
          break;
        case 'end': {
          const beforeCommit =
            record === undefined
              ? undefined
              : (client: PoolClient) =>
                  idempotency.recordBeforeCommit(
                    client,
                    record.key,
                    record.digest,
                    finish({ result: emptyResult('COMMIT') }),
                  );
          const ended = transactions.end(
            operation.transactionId,
            operation.action,
            route.identity,
            beforeCommit,
          );
          work = async () => {
            try {
              return { result: emptyResult(await ended) };
            } catch (error) {
              // A COMMIT delivered again after its transaction ended: the recorded reply, if any.
              const gone =
                error instanceof RequestRejected &&
                (error.failure.errorType === 'UnknownTransaction' ||
                  error.failure.errorType === 'TransactionExpired' ||
                  error.failure.errorType === 'TransactionPartitionMoved');
              if (record === undefined || !gone) throw error;
              const recorded = await idempotency.lookup(record.key, record.digest);
              if (recorded === undefined) throw error;
              return recorded;
            }
          };
          break;
        }
        case 'batch': {
          for (const statement of operation.statements) {
            sql = statement.sql; // a refused statement is the one its failed reply names
            validator.check(statement.sql, { kind: 'execute', allowDdl });
            enforcer.checkStatement(statement.sql, () => validator.accessOf(statement.sql));
          }
          sql = undefined;
          work = () =>
            this.#runBatch(
              lane,
              operation.statements,
              maxRows,
              timeoutMs,
              record === undefined ? undefined : { ...record, finish },
            );
          break;
        }
        case 'cancel': {
          // Only the identity's own statements: they run on its executor.
          const cancelled = executor.cancel(operation.correlationId);
          work = async () => ({ result: { ...emptyResult('CANCEL'), rowCount: (await cancelled) ? 1 : 0 } });
          break;
        }
        default: {
          const tableOperation = operation;
          work = async () => {
            const statement = await buildStatement(tableOperation, this.#catalog);
            sql = statement.text;
            enforcer.checkStatement(statement.text, () => validator.accessOf(statement.text));
            if (record !== undefined && !statement.readOnly) {
              return idempotency.runStatement(
                record.key,
                record.digest,
                {
                  text: statement.text,
                  values: statement.values,
                  maxRows,
                  timeoutMs,
                  cancelKey: request.correlation_id,
                  ...when,
                  ...chunker.runOptions,
                  recordable: validator.recordable(statement.text),
                },
                (result) => finish({ result }),
              );
            }
            return {
              result: await executor.run(statement.text, statement.values, {
                readOnly: statement.readOnly,
                maxRows,
                timeoutMs,
                cancelKey: request.correlation_id,
                ...when,
                ...chunker.runOptions,
              }),
            };
          };
        }
      }
      try {
        const parts = await work();
        this.#breaker.success(ticket);
        if ('payload' in parts) {
          if (parts.replayed) this.#stats.replayed++;
          return {
            kind: 'completed',
            payload: parts.replayed
              ? {
                  ...parts.payload,
                  metadata: { ...parts.payload.metadata, circuit_breaker_state: this.#breaker.state },
                }
              : parts.payload,
          };
        }
        return { kind: 'completed', payload: finish(parts) };
      } catch (error) {
        const failure = toFailure(error, 'execute');
        // Only PostgreSQL being unreachable counts against it: a caller's error (SQL, validation,
        // its own statement timeout, a protocol violation its content caused) says it answered.
        // A connection lost mid-statement counts only when a fresh one cannot be had either (a
        // statement may end its own backend: `SELECT pg_terminate_backend(pg_backend_pid())`).
        if (
          failure.code === 'DATABASE_CONNECTION_FAILED' &&
          failure.errorType !== 'TooManyTransactions' &&
          failure.errorType !== 'PoolExhausted'
        ) {
          if (failure.executed === false || !(await this.#databaseAnswers())) this.#breaker.failure(ticket);
          else this.#breaker.success(ticket);
        } else if (
          failure.code === 'VALIDATION_ERROR' &&
          (failure.sqlstate === undefined || failure.errorType === 'PolicyDenied')
        )
          this.#breaker.cancel(ticket);
        else this.#breaker.success(ticket);
        return failed(failure);
      }
    } catch (error) {
      // Refused before the database was involved: the breaker learned nothing.
      this.#breaker.cancel(ticket);
      return failed(
        error instanceof RequestRejected ? error.failure : validationError(String(error)).failure,
      );
    }
  }

  /** One shared check at a time: PostgreSQL answers `SELECT 1` on a pooled connection within 2 s. */
  #databaseAnswers(): Promise<boolean> {
    this.#probe ??= new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 2000);
      const settle = (up: boolean) => {
        clearTimeout(timer);
        resolve(up);
      };
      this.#executor.pool.query('SELECT 1').then(
        () => settle(true),
        () => settle(false),
      );
    }).finally(() => {
      this.#probe = undefined;
    });
    return this.#probe;
  }

  /** BATCH: all statements on one connection in one transaction; the first failure rolls everything back. */
  async #runBatch(
    { executor, idempotency, limits }: Lane,
    statements: readonly { sql: string; params: readonly unknown[] }[],
    maxRows: number,
    timeoutMs: number,
    record?: { key: string; digest: string; finish: (parts: ResultParts) => CompletedPayload },
  ): Promise<ResultParts | RecordedReply> {
    const client = await executor.acquire(false);
    let broken: Error | undefined;
    const results: ExecResult[] = [];
    try {
      await client.query('BEGIN');
      if (record !== undefined) {
        const recorded = await idempotency.claim(client, record.key, record.digest);
        if (recorded !== undefined) return recorded;
      }
      for (const [index, statement] of statements.entries()) {
        try {
          results.push(
            await executor.runOn(client, statement.sql, statement.params, {
              readOnly: false,
              maxRows,
              timeoutMs,
              maxBytes: Math.min(
                this.#options.maxMessageBytes ?? 1_000_000,
                limits.maxBytes ?? Number.POSITIVE_INFINITY,
              ),
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
      const parts = { result: emptyResult('COMMIT'), batch: results };
      if (record === undefined) {
        await client.query('COMMIT');
        return parts;
      }
      const payload = record.finish(parts);
      await idempotency.record(client, record.key, payload);
      await client.query('COMMIT');
      return { payload, replayed: false };
    } catch (error) {
      if (isConnectionError(error)) broken = error as Error;
      throw error;
    } finally {
      void executor.releaseReset(client, broken);
    }
  }

  /**
   * How a request's rows leave: whole in one reply, or, when the caller accepts chunks, in ordered
   * chunk replies of about `chunkBytes` published while later rows are still being read.
   */
  #chunker(request: RequestEnvelope, route: Route, maxBytes = Number.POSITIVE_INFINITY) {
    const options = request.payload.options;
    const pgText = options?.row_format === 'pg_text';
    const chunkBytes = this.#options.chunkBytes ?? 256 * 1024;
    const maxResultBytes = Math.min(this.#options.maxResultBytes ?? 256 * 1024 * 1024, maxBytes);
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
      // Rows beyond what the reply (or all chunks) can carry are not even held in memory.
      runOptions: chunking
        ? { onBatch, batchRows: 500, maxBytes: maxResultBytes }
        : { maxBytes: Math.min(this.#options.maxMessageBytes ?? 1_000_000, maxBytes) },
      finish: (
        parts: ResultParts,
        maxRows: number,
        started: number,
        state: BreakerState,
      ): CompletedPayload => {
        const { result } = parts;
        const textRows = chunking ? buffered : result.textRows;
        const columns = chunking && result.columns.length === 0 ? lastColumns : result.columns;
        const elapsedMs = performance.now() - started;
        const payload: CompletedPayload = {
          operation_type: request.payload.operation_type,
          rows: pgText ? [] : naturalRows(columns, textRows),
          row_count: result.rowCount,
          ...(WRITE_OPERATIONS.has(request.payload.operation_type) ? { rows_affected: result.rowCount } : {}),
          execution_time_ms: Math.round(elapsedMs),
          execution_time_precise_ms: Math.round(elapsedMs * 1000) / 1000,
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

  /** Less than 90 % of the request's timeout is left before its deadline (it waited that long). */
  #squeezed(request: RequestEnvelope): boolean {
    if (request.deadline === undefined) return false;
    const budget = request.payload.options?.timeout_ms ?? this.#options.defaultTimeoutMs ?? 30_000;
    return Date.parse(request.deadline) - Date.now() < budget * 0.9;
  }

  /**
   * The request's timeout, cut to what is left before its deadline less a margin for the reply to
   * travel back (so the caller hears TIMEOUT_ERROR rather than waiting out its own timer), in steps
   * so the SET is rarely repeated on a pooled connection.
   */
  #statementTimeout(request: RequestEnvelope, limitMs = Number.POSITIVE_INFINITY): number {
    let budget = Math.min(
      request.payload.options?.timeout_ms ?? this.#options.defaultTimeoutMs ?? 30_000,
      limitMs,
    );
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
    failure: Failure,
    route: Route,
    internal = false,
  ): Promise<boolean> {
    const isObject = json !== null && typeof json === 'object' && !Array.isArray(json);
    const fields = (isObject ? json : {}) as Record<string, unknown>;
    const correlationId = fields.correlation_id ?? /"correlation_id"\s*:\s*"([^"\\]{1,128})"/.exec(raw)?.[1];
    const sane = isSaneId(correlationId);
    // Dead-lettered (issue 8 §4, docs/protocol.md): what nobody can be answered for, and whatever
    // threw unexpectedly (the caller still gets its failed reply when it has a usable id).
    const deadLetter = async (answered: boolean) => {
      this.#stats.deadLettered++;
      await this.#deadLetters.send(message, route.topics.deadLettered, {
        reason: internal ? 'INTERNAL_ERROR' : isObject ? 'NO_CORRELATION_ID' : 'UNDECODABLE',
        error: failure.message,
        correlationId: sane ? correlationId : undefined,
        answered,
      });
      return true;
    };
    if (!sane) {
      this.#stats.malformed++;
      return deadLetter(false);
    }
    const payload = fields.payload as Record<string, unknown> | undefined;
    const short = (v: unknown) =>
      typeof v === 'string' && v.length <= REQUEST_LIMITS.maxIdLength ? v : undefined;
    const operationType = short(payload?.operation_type) ?? 'UNKNOWN';
    // Only a partition the reply topics have; otherwise the reply is keyed by correlation id.
    const rp = fields.reply_partition;
    const replyPartition =
      typeof rp === 'number' && Number.isInteger(rp) && rp >= 0 && rp < this.#replyCount(route)
        ? rp
        : undefined;
    const eventId = short(fields.event_id);
    const answered = await this.#publish(
      {
        correlation_id: correlationId,
        ...(eventId ? { event_id: eventId } : {}),
        ...(replyPartition === undefined ? {} : { reply_partition: replyPartition }),
        payload: { operation_type: operationType, sql: payload?.sql, query: payload?.query },
      },
      { kind: 'failed', failure },
      route,
    );
    return internal ? deadLetter(answered) : answered;
  }

  async #publish(
    to: {
      correlation_id: string;
      event_id?: string;
      reply_partition?: number | undefined;
      payload: { operation_type: string; sql?: unknown; query?: unknown; statements?: unknown };
    },
    reply: Reply,
    route: Route,
    options: { strict?: boolean } = {},
  ): Promise<boolean> {
    // Every failed reply to a request that carried SQL names it in metadata.sql, as the seed's does.
    if (reply.kind === 'failed' && reply.sql === undefined) {
      const sql = requestSql(to.payload, reply.failure.statementIndex);
      if (sql !== undefined) reply = { ...reply, sql };
    }
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
        // Echoed for the seed's readers, cut so that the failed reply always fits in one message.
        ...(reply.sql ? { sql: reply.sql.length > 4096 ? `${reply.sql.slice(0, 4096)}...` : reply.sql } : {}),
      };
      value = JSON.stringify(
        failedEnvelope(to, failedPayload(to.payload.operation_type, boundedFailure(reply.failure), metadata)),
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

/** A failure whose texts are cut to a few KiB each, so its reply always fits in one message. */
function boundedFailure(failure: Failure): Failure {
  const cut = (text: string | undefined) =>
    text === undefined || text.length <= 8192 ? text : `${text.slice(0, 8192)}...`;
  const bounded = { ...failure, message: cut(failure.message) as string };
  if (failure.detail !== undefined) Object.assign(bounded, { detail: cut(failure.detail) });
  if (failure.hint !== undefined) Object.assign(bounded, { hint: cut(failure.hint) });
  return bounded;
}

/** Something threw that should not have: the request is answered as failed rather than lost. */
function internalError(error: unknown): Failure {
  return {
    code: 'DATABASE_OPERATION_FAILED',
    message: `the adapter could not handle this request: ${error instanceof Error ? error.message : String(error)}`,
    errorType: 'InternalError',
    retryable: false,
  };
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

/** Every operation but a read counts as a write (idempotency records, the failpoint). */
function isWrite(operationType: string): boolean {
  return operationType !== 'SELECT' && operationType !== 'QUERY';
}

/** Operation types whose replies carry `rows_affected` (the older dialect reads it for writes). */
const WRITE_OPERATIONS = new Set(['INSERT', 'UPDATE', 'DELETE', 'UPSERT', 'EXECUTE']);

/** The SQL a request carried (`sql`, the older dialect's `query`, or the failed statement of a BATCH). */
function requestSql(
  payload: { sql?: unknown; query?: unknown; statements?: unknown },
  statementIndex: number | undefined,
): string | undefined {
  const statement =
    statementIndex !== undefined && Array.isArray(payload.statements)
      ? (payload.statements[statementIndex] as { sql?: unknown } | undefined)?.sql
      : undefined;
  const sql = payload.sql ?? payload.query ?? statement;
  return typeof sql === 'string' && sql !== '' ? sql : undefined;
}

/**
 * The request with its deadline moved onto this adapter's clock. The client allowed `deadline -
 * timestamp` (both on its own clock, so a client clock ahead or behind cancels out); that window
 * starts when the broker appended the message (`appendedAt`: the request topic uses
 * `message.timestamp.type=LogAppendTime`, the broker's clock). A request that waited in the topic
 * past its window (adapters down) still expires. Without a usable timestamp the deadline stays as sent.
 */
export function onOwnClock(request: RequestEnvelope, appendedAt: number | undefined): RequestEnvelope {
  if (request.deadline === undefined || appendedAt === undefined || !Number.isFinite(appendedAt))
    return request;
  const deadline = Date.parse(request.deadline);
  const sent = Date.parse(request.timestamp);
  if (Number.isNaN(deadline) || Number.isNaN(sent)) return request;
  const allowed = Math.min(Math.max(0, deadline - sent), 3_600_000);
  return { ...request, deadline: new Date(appendedAt + allowed).toISOString() };
}
