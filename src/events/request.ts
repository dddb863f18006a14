import { z } from 'zod';
import { REQUEST_LIMITS } from './limits.js';

/**
 * Request events, exactly as the seed's "Event Schemas" section shows them, plus optional additions.
 * Objects are `loose`: fields a newer peer adds pass through untouched.
 */

export const OPERATION_TYPES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'EXECUTE'] as const;
/** Operation types of the older Python dialect: QUERY is SELECT; UPSERT is INSERT ... ON CONFLICT DO UPDATE. */
export const LEGACY_OPERATION_TYPES = ['QUERY', 'UPSERT'] as const;
/**
 * Additions: BEGIN / COMMIT / ROLLBACK drive an interactive transaction held by one adapter process;
 * BATCH runs several statements in one transaction, all or nothing.
 */
export const TRANSACTION_OPERATION_TYPES = ['BEGIN', 'COMMIT', 'ROLLBACK', 'BATCH'] as const;
/** Addition: CANCEL cancels the statement of the request `cancel_correlation_id`, if it is running. */
export const CONTROL_OPERATION_TYPES = ['CANCEL'] as const;
export const OperationType = z.enum([
  ...OPERATION_TYPES,
  ...LEGACY_OPERATION_TYPES,
  ...TRANSACTION_OPERATION_TYPES,
  ...CONTROL_OPERATION_TYPES,
]);
export type OperationType = z.infer<typeof OperationType>;

export const ROW_FORMATS = ['objects', 'pg_text'] as const;

export const RequestOptions = z
  .object({
    /** Statement timeout for this request, in ms; also the adapter's deadline when `deadline` is absent. */
    timeout_ms: z.number().int().positive().max(REQUEST_LIMITS.maxTimeoutMs).optional(),
    /**
     * Cap on returned rows (default 1000); `metadata.truncated` says when rows were cut. The adapter
     * clamps a larger value to its own limit (at most `REQUEST_LIMITS.maxRows`).
     */
    max_rows: z.number().int().positive().optional(),
    /**
     * Addition. `objects` (default): rows as natural JSON objects, as the seed shows. `pg_text`: rows as
     * arrays of PostgreSQL text values plus `columns` with type OIDs, so a client can decode them
     * exactly as `pg` would.
     */
    row_format: z.enum(ROW_FORMATS).optional(),
    /**
     * Addition: the caller reassembles chunked replies. A result larger than one message then comes
     * as several completed events with `chunk`, in order; without it, such a result is a failure.
     */
    accept_chunks: z.boolean().optional(),
  })
  .loose();
export type RequestOptions = z.infer<typeof RequestOptions>;

/** A `where` value: a literal (equality), `null` (IS NULL), or an operator object such as `{"$lt": 0.5}`. */
export const WHERE_OPERATORS = [
  '$eq',
  '$ne',
  '$lt',
  '$lte',
  '$gt',
  '$gte',
  '$in',
  '$nin',
  '$like',
  '$ilike',
] as const;
export type WhereOperator = (typeof WHERE_OPERATORS)[number];

const JsonRecord = z.record(z.string(), z.unknown());
const Returning = z.union([z.string(), z.array(z.string()), z.null()]);

export const RequestPayload = z
  .object({
    operation_type: OperationType,
    /** SELECT / EXECUTE: the statement with `$n` placeholders. */
    sql: z.string().optional(),
    /** Legacy dialect: the statement. */
    query: z.string().optional(),
    params: z.array(z.unknown()).optional(),
    /** INSERT / UPDATE / DELETE / UPSERT: target table. */
    table: z.string().optional(),
    /** Legacy dialect: the table. */
    entity_type: z.string().optional(),
    data: JsonRecord.optional(),
    where: JsonRecord.optional(),
    /** Legacy dialect: the where-conditions. */
    filters: JsonRecord.optional(),
    returning: Returning.optional(),
    /** Addition, CANCEL: the correlation id of the request whose statement to cancel (sent with its Kafka key). */
    cancel_correlation_id: z.string().min(1).max(200).optional(),
    /** Legacy dialect: paging of a table read (`QUERY` with `entity_type`). */
    limit: z.number().int().nonnegative().optional(),
    offset: z.number().int().nonnegative().optional(),
    /** UPSERT: conflict target columns (default: the table's primary key). */
    conflict_columns: z.array(z.string()).optional(),
    options: RequestOptions.optional(),
    /** Addition: run inside this open transaction (the id a BEGIN reply gave). */
    transaction_id: z.string().min(1).max(REQUEST_LIMITS.maxIdLength).optional(),
    /** Addition, BEGIN: transaction settings. */
    transaction: z
      .object({
        isolation_level: z
          .enum(['read uncommitted', 'read committed', 'repeatable read', 'serializable'])
          .optional(),
        access_mode: z.enum(['read only', 'read write']).optional(),
        /** Rolled back when no request uses it for this long, ms (capped by the adapter). */
        idle_timeout_ms: z.number().int().positive().optional(),
      })
      .loose()
      .optional(),
    /** Addition, BATCH: the statements, run in order in one transaction. */
    statements: z
      .array(z.object({ sql: z.string().min(1), params: z.array(z.unknown()).optional() }).loose())
      .min(1)
      .max(REQUEST_LIMITS.maxStatements)
      .optional(),
  })
  .loose();
export type RequestPayload = z.infer<typeof RequestPayload>;

export const REQUEST_EVENT_TYPE = 'DATABASE_QUERY_REQUESTED';

export const RequestEnvelope = z
  .object({
    event_id: z.string().min(1).max(REQUEST_LIMITS.maxIdLength),
    event_type: z.literal(REQUEST_EVENT_TYPE),
    correlation_id: z.string().min(1).max(REQUEST_LIMITS.maxIdLength),
    timestamp: z.string().max(REQUEST_LIMITS.maxIdLength),
    service: z.string().max(REQUEST_LIMITS.maxIdLength),
    payload: RequestPayload,
    /**
     * Addition: partition of the reply topics on which the caller listens. Absent: replies are keyed
     * by correlation id. One the reply topics do not have is refused (VALIDATION_ERROR, keyed by
     * correlation id), never taken modulo their count.
     */
    reply_partition: z.number().int().nonnegative().optional(),
    /** Addition: ISO time after which nobody awaits the reply; the adapter drops the request unanswered. */
    deadline: z.iso.datetime({ offset: true }).optional(),
    /** Addition: stable name of the calling client instance, for logs and traces. */
    client_id: z.string().max(REQUEST_LIMITS.maxIdLength).optional(),
    /**
     * Addition: one key per logical call, the same on every retry of it. The adapter records a write's
     * key, a digest of its content and its reply in the write's own transaction: a request whose key is
     * recorded gets the recorded reply (`metadata.replayed: true`) and does not run again; the same key
     * with other content is refused (VALIDATION_ERROR, `IdempotencyKeyReused`). Reads ignore it.
     */
    idempotency_key: z
      .string()
      .min(1)
      .max(REQUEST_LIMITS.maxIdLength)
      .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
      .optional(),
  })
  .loose();
export type RequestEnvelope = z.infer<typeof RequestEnvelope>;
