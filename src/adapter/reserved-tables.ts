/**
 * Tables of the adapter's own bookkeeping, out of every caller's reach whatever the operation: the
 * recorded replies of exactly-once writes (reading them would leak other callers' results; writing
 * them would forge the reply a retrying caller gets).
 */
const RESERVED_TABLES = new Set(['dbbridge_idempotency']);

/** Whether `name` (`table` or `schema.table`, as parsed: unquoted names are lower case) is reserved. */
export function isReservedTable(name: string): boolean {
  return RESERVED_TABLES.has(name.slice(name.lastIndexOf('.') + 1));
}
