import type { PgDiagnostics } from './events/envelope.js';
import type { ErrorCode } from './events/error-codes.js';

/** Codes of dbbridge's own errors: the seed's five plus those the client side adds. */
export type DbBridgeErrorCode =
  | ErrorCode
  /** Kafka could not be reached or refused a request. */
  | 'TRANSPORT_ERROR'
  /** No reply arrived within the request timeout. */
  | 'REQUEST_TIMEOUT'
  /** The client was stopped (or not started) while the request was pending. */
  | 'CLIENT_STOPPED'
  /** Options or environment are invalid. */
  | 'CONFIGURATION_ERROR';

export interface DbBridgeErrorOptions {
  readonly retryable?: boolean;
  readonly cause?: unknown;
}

/** Kafka protocol errors by which a secured cluster refuses a client: not retried, named on `TransportError`. */
export type KafkaRefusal =
  | 'SASL_AUTHENTICATION_FAILED'
  | 'TOPIC_AUTHORIZATION_FAILED'
  | 'GROUP_AUTHORIZATION_FAILED'
  | 'CLUSTER_AUTHORIZATION_FAILED'
  | 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED';

/** The one base class of dbbridge's errors: a `code` from a closed list and a `retryable` flag. */
export class DbBridgeError extends Error {
  readonly code: DbBridgeErrorCode;
  readonly retryable: boolean;

  constructor(code: DbBridgeErrorCode, message: string, options: DbBridgeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DbBridgeError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** Kafka failed: could not connect, produce or consume. */
export class TransportError extends DbBridgeError {
  /** Set when the cluster refused this client's credentials or permissions (then `retryable` is false). */
  readonly refusal: KafkaRefusal | undefined;

  constructor(message: string, options: DbBridgeErrorOptions & { refusal?: KafkaRefusal } = {}) {
    super('TRANSPORT_ERROR', message, { retryable: options.refusal === undefined, ...options });
    this.name = 'TransportError';
    this.refusal = options.refusal;
  }
}

/**
 * Kafka is known to be unreachable right now (the reply reader is failing, or a publish just
 * failed): the request was not sent, so even a write may be sent again. Code TRANSPORT_ERROR.
 */
export class BrokerUnavailableError extends TransportError {
  constructor(message: string, options: DbBridgeErrorOptions = {}) {
    super(message, options);
    this.name = 'BrokerUnavailableError';
  }
}

/**
 * The request ran out of time: "Request timeout after N ms", as the seed shows. `code` is
 * REQUEST_TIMEOUT when no reply came, or TIMEOUT_ERROR when the adapter cancelled the statement
 * (then `sqlstate` is 57014 and `reason` is PostgreSQL's message).
 */
export class TimeoutError extends DbBridgeError {
  readonly timeoutMs: number;
  readonly sqlstate: string | undefined;
  readonly reason: string | undefined;
  readonly correlationId: string | undefined;

  constructor(
    timeoutMs: number,
    options: DbBridgeErrorOptions & {
      fromAdapter?: { reason: string; sqlstate?: string };
      correlationId?: string;
    } = {},
  ) {
    const adapter = options.fromAdapter;
    super(
      adapter ? 'TIMEOUT_ERROR' : 'REQUEST_TIMEOUT',
      adapter
        ? `Request timeout after ${timeoutMs}ms: ${adapter.reason}`
        : `Request timeout after ${timeoutMs}ms`,
      options,
    );
    this.name = 'TimeoutError';
    this.timeoutMs = timeoutMs;
    this.sqlstate = adapter?.sqlstate;
    this.reason = adapter?.reason;
    this.correlationId = options.correlationId;
  }
}

export class ConfigurationError extends DbBridgeError {
  constructor(message: string) {
    super('CONFIGURATION_ERROR', message);
    this.name = 'ConfigurationError';
  }
}

/** What a failed reply says, after node-postgres's DatabaseError fields. */
export interface DatabaseErrorDetails extends PgDiagnostics {
  /** The adapter's `error_type`, e.g. `PostgresError`. */
  readonly errorType?: string;
  readonly correlationId?: string;
  /** False when the statement provably did not take effect. Undefined when the adapter did not say. */
  readonly executed?: boolean;
  /** BATCH: the statement that failed. */
  readonly statementIndex?: number;
}

/**
 * The adapter answered with a failed reply. `message` reads `CODE: message` (the seed's
 * troubleshooting section matches on `CIRCUIT_BREAKER_OPEN` in the text).
 */
export class DatabaseError extends DbBridgeError {
  readonly sqlstate: string | undefined;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  readonly position: string | undefined;
  readonly constraint: string | undefined;
  readonly table: string | undefined;
  readonly column: string | undefined;
  readonly errorType: string | undefined;
  readonly correlationId: string | undefined;
  readonly executed: boolean | undefined;
  readonly statementIndex: number | undefined;
  /** The message as PostgreSQL or the adapter wrote it, without the code prefix. */
  readonly reason: string;

  constructor(
    code: ErrorCode,
    reason: string,
    details: DatabaseErrorDetails = {},
    options: DbBridgeErrorOptions = {},
  ) {
    super(code, `${code}: ${reason}`, options);
    this.name = 'DatabaseError';
    this.reason = reason;
    this.sqlstate = details.sqlstate;
    this.detail = details.detail;
    this.hint = details.hint;
    this.position = details.position;
    this.constraint = details.constraint;
    this.table = details.table;
    this.column = details.column;
    this.errorType = details.errorType;
    this.correlationId = details.correlationId;
    this.executed = details.executed;
    this.statementIndex = details.statementIndex;
  }
}
