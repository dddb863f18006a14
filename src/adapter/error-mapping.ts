import type { Failure } from '../events/envelope.js';
import { isTransientSqlState } from '../events/error-codes.js';
import { RequestRejected } from './failures.js';

/** SQLSTATEs that mean the server or the connection went away. */
function isConnectionSqlState(code: string): boolean {
  return (
    code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300'
  );
}

const CONNECTION_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
]);

interface PgErrorLike {
  code?: string;
  message?: string;
  detail?: string;
  hint?: string;
  position?: string;
  constraint?: string;
  table?: string;
  column?: string;
  severity?: string;
}

/**
 * A connection that stopped answering in the middle of a request (its pipelined answers never all
 * came): the connection is lost, whatever the statements' own promises said.
 */
export class ConnectionLost extends Error {
  override readonly name = 'ConnectionLost';
}

/** True when the error means PostgreSQL could not be reached or dropped the connection. */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof ConnectionLost) return true;
  if (!(error instanceof Error)) return false;
  const e = error as PgErrorLike;
  if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && e.severity !== undefined)
    return isConnectionSqlState(e.code);
  if (typeof e.code === 'string' && CONNECTION_ERRNO.has(e.code)) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
    error.message,
  );
}

/**
 * Maps whatever running a request threw to the seed's error codes, keeping PostgreSQL's diagnostics
 * (SQLSTATE, detail, hint, position, constraint, table, column). `executed` is false only where the
 * statement provably did not take effect.
 */
export function toFailure(error: unknown, phase: 'connect' | 'execute'): Failure {
  if (error instanceof RequestRejected) return error.failure;
  const e = (error ?? {}) as PgErrorLike;
  const message = e.message ?? String(error);
  if (phase === 'execute' && e.code === '08P01' && e.severity !== undefined) {
    // A protocol violation answered by the server: what this request sent was wrong, PostgreSQL is
    // fine. Not a connection failure (it must not open the breaker), and not worth a retry.
    return {
      code: 'DATABASE_OPERATION_FAILED',
      message,
      errorType: 'ProtocolViolation',
      sqlstate: e.code,
      retryable: false,
      executed: false,
    };
  }
  if (phase === 'connect' || isConnectionError(error)) {
    return {
      code: 'DATABASE_CONNECTION_FAILED',
      message: `PostgreSQL connection failed: ${message}`,
      errorType: 'ConnectionError',
      ...(typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? { sqlstate: e.code } : {}),
      retryable: true,
      // A statement cut off by a lost connection may have committed; one that never got a connection did not run.
      executed: phase !== 'connect',
    };
  }
  const sqlstate = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
  const diagnostics: Partial<Failure> = {};
  for (const key of ['detail', 'hint', 'position', 'constraint', 'table', 'column'] as const) {
    if (typeof e[key] === 'string') (diagnostics as Record<string, string>)[key] = e[key];
  }
  if (sqlstate === '57014') {
    return {
      code: 'TIMEOUT_ERROR',
      message,
      errorType: 'QueryCanceled',
      sqlstate,
      retryable: false,
      executed: false,
      ...diagnostics,
    };
  }
  if (sqlstate === '25006') {
    return {
      code: 'VALIDATION_ERROR',
      message: `a SELECT request cannot write: ${message}`,
      errorType: 'ReadOnlyViolation',
      sqlstate,
      retryable: false,
      executed: false,
      ...diagnostics,
    };
  }
  return {
    code: 'DATABASE_OPERATION_FAILED',
    message,
    errorType: sqlstate === undefined ? (error instanceof Error ? error.name : 'Error') : 'PostgresError',
    ...(sqlstate === undefined ? {} : { sqlstate }),
    ...diagnostics,
    retryable: isTransientSqlState(sqlstate),
    // A failed statement in autocommit mode was rolled back.
    executed: false,
  };
}
