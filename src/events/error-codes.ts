/** The seed's five error codes. A failed reply always carries one of them. */
export const ERROR_CODES = [
  'DATABASE_CONNECTION_FAILED',
  'DATABASE_OPERATION_FAILED',
  'VALIDATION_ERROR',
  'TIMEOUT_ERROR',
  'CIRCUIT_BREAKER_OPEN',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Circuit breaker states as the seed reports them in reply metadata. */
export const BREAKER_STATES = ['CLOSED', 'OPEN', 'HALF_OPEN'] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

/**
 * SQLSTATE classes after which running the same request again may succeed, and where the failed
 * statement provably did not take effect (the transaction was rolled back or never started).
 */
const TRANSIENT_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

export function isTransientSqlState(sqlstate: string | undefined): boolean {
  if (sqlstate === undefined) return false;
  return TRANSIENT_SQLSTATES.has(sqlstate) || sqlstate.startsWith('08');
}
