import pg from 'pg';
import { DatabaseError, TimeoutError } from '../errors.js';

/**
 * The error `pg` itself would have thrown, for code written for `pg`: a failure that PostgreSQL
 * reported (a `DatabaseError` or an adapter-side `TimeoutError` with a SQLSTATE) becomes a real
 * `pg.DatabaseError` whose `code` is the SQLSTATE (`err.code === '23505'`) and whose `message`,
 * `detail`, `hint`, `position`, `constraint`, `table` and `column` are PostgreSQL's. The dbbridge
 * error is its `cause`. Anything else (no reply, Kafka down, the breaker open) is returned as is.
 */
export function toPgError(error: unknown): unknown {
  if (!(error instanceof DatabaseError || error instanceof TimeoutError)) return error;
  const sqlstate = error.sqlstate;
  if (sqlstate === undefined) return error;
  const message = error.reason ?? error.message;
  const pgError = new pg.DatabaseError(message, message.length, 'error');
  pgError.severity = 'ERROR';
  pgError.code = sqlstate;
  if (error instanceof DatabaseError) {
    pgError.detail = error.detail;
    pgError.hint = error.hint;
    pgError.position = error.position;
    pgError.constraint = error.constraint;
    pgError.table = error.table;
    pgError.column = error.column;
  }
  Object.defineProperty(pgError, 'cause', { value: error, enumerable: false, configurable: true });
  return pgError;
}

/** Runs `fn`, rethrowing failures as `toPgError` shapes them. */
export async function withPgErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toPgError(error);
  }
}
