import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DatabaseAdapter } from './adapter.js';
import type {
  DeadLetterDiagnostic,
  RequestDiagnostic,
  TransactionRollbackDiagnostic,
} from './diagnostics.js';

const BREAKER_VALUE = { CLOSED: 0, HALF_OPEN: 1, OPEN: 2 } as const;
/** Seconds: 0.5 ms to 30 s. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Prometheus metrics of one adapter, in a registry of their own (nothing global is touched):
 * requests by operation and outcome, latency histograms per phase, in flight, pools, breaker state.
 */
export class AdapterMetrics {
  readonly registry = new Registry();
  readonly #adapter: DatabaseAdapter;
  readonly #requests: Counter<'operation' | 'outcome' | 'code'>;
  readonly #duration: Histogram<'phase' | 'operation'>;
  readonly #deadLettered: Counter<'reason' | 'published'>;
  readonly #listener: (message: unknown) => void;
  readonly #deadLetterListener: (message: unknown) => void;
  readonly #transactionListener: (message: unknown) => void;

  constructor(adapter: DatabaseAdapter) {
    this.#adapter = adapter;
    const registers = [this.registry];
    this.#requests = new Counter({
      name: 'dbbridge_requests_total',
      help: 'Requests handled, by operation and outcome (completed, failed, expired, malformed) and error code',
      labelNames: ['operation', 'outcome', 'code'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'dbbridge_request_duration_seconds',
      help: 'Time per request and phase: queue (waiting for an in-flight slot), execute (validation, pool wait and statement), total (arrival to reply published)',
      labelNames: ['phase', 'operation'],
      buckets: BUCKETS,
      registers,
    });
    new Gauge({
      name: 'dbbridge_requests_in_flight',
      help: 'Requests being handled now',
      registers,
      collect() {
        this.set(adapter.inFlight);
      },
    });
    new Gauge({
      name: 'dbbridge_pool_connections',
      help: 'PostgreSQL connections per pool (read, write) and state (total, idle, waiting callers)',
      labelNames: ['pool', 'state'],
      registers,
      collect() {
        for (const [pool, stats] of Object.entries(adapter.poolStats())) {
          for (const [state, value] of Object.entries(stats)) this.set({ pool, state }, value);
        }
      },
    });
    new Gauge({
      name: 'dbbridge_circuit_breaker_state',
      help: 'Database circuit breaker: 0 closed, 1 half open, 2 open',
      registers,
      collect() {
        this.set(BREAKER_VALUE[adapter.breakerState]);
      },
    });
    new Gauge({
      name: 'dbbridge_consumer_lag',
      help: 'Requests waiting in the request topics behind what this adapter has taken on (end offset less next offset, over the partitions it reads)',
      registers,
      async collect() {
        try {
          this.set(await adapter.consumerLag());
        } catch {
          // The broker does not answer: leave the last value (the scrape still answers).
        }
      },
    });
    new Gauge({
      name: 'dbbridge_consumer_partitions',
      help: 'Request-topic partitions this adapter holds in its consumer group',
      registers,
      collect() {
        this.set(adapter.assignedPartitions);
      },
    });
    this.#deadLettered = new Counter({
      name: 'dbbridge_dead_lettered_total',
      help: 'Messages put on the dead-letter topic, by reason (UNDECODABLE, NO_CORRELATION_ID, INTERNAL_ERROR) and whether the dead letter was published (false: logged and skipped)',
      labelNames: ['reason', 'published'],
      registers,
    });
    this.#listener = (message) => this.#observe(message as RequestDiagnostic);
    subscribe('dbbridge:adapter:request', this.#listener);
    this.#deadLetterListener = (message) => {
      const d = message as DeadLetterDiagnostic;
      if (d.adapter === this.#adapter)
        this.#deadLettered.inc({ reason: d.reason, published: String(d.published) });
    };
    subscribe('dbbridge:adapter:dead-letter', this.#deadLetterListener);
    const rolledBack = new Counter({
      name: 'dbbridge_transactions_rolled_back_total',
      help: 'Interactive transactions the adapter rolled back itself, by reason (idle, lifetime, partition-moved: their request partition was revoked in a rebalance, shutdown)',
      labelNames: ['reason'],
      registers,
    });
    this.#transactionListener = (message) => {
      const d = message as TransactionRollbackDiagnostic;
      if (d.adapter === this.#adapter) rolledBack.inc({ reason: d.reason });
    };
    subscribe('dbbridge:adapter:transaction', this.#transactionListener);
  }

  #observe(d: RequestDiagnostic): void {
    if (d.adapter !== this.#adapter) return;
    this.#requests.inc({ operation: d.operation, outcome: d.outcome, code: d.code ?? '' });
    if (d.outcome === 'malformed') return;
    this.#duration.observe({ phase: 'queue', operation: d.operation }, d.queueMs / 1000);
    if (d.outcome === 'expired') return;
    this.#duration.observe({ phase: 'execute', operation: d.operation }, d.executeMs / 1000);
    this.#duration.observe({ phase: 'total', operation: d.operation }, d.totalMs / 1000);
  }

  /** The text exposition format. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    unsubscribe('dbbridge:adapter:request', this.#listener);
    unsubscribe('dbbridge:adapter:dead-letter', this.#deadLetterListener);
    unsubscribe('dbbridge:adapter:transaction', this.#transactionListener);
  }
}
