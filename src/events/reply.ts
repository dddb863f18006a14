import { z } from 'zod';
import { BREAKER_STATES, ERROR_CODES } from './error-codes.js';
import { OperationType } from './request.js';

export const COMPLETED_EVENT_TYPE = 'DATABASE_QUERY_COMPLETED';
export const FAILED_EVENT_TYPE = 'DATABASE_QUERY_FAILED';
export const ADAPTER_SERVICE = 'database-adapter-effect';

const BreakerState = z.enum(BREAKER_STATES);

/** A result column: name and PostgreSQL type OID (addition, present with `row_format: pg_text`). */
export const ColumnInfo = z.object({ name: z.string(), type_oid: z.number().int() });
export type ColumnInfo = z.infer<typeof ColumnInfo>;

/** One statement's result inside a BATCH reply. */
export const StatementResult = z
  .object({
    command: z.string(),
    row_count: z.number().int().nonnegative(),
    rows: z.array(z.record(z.string(), z.unknown())),
    columns: z.array(ColumnInfo).optional(),
    text_rows: z.array(z.array(z.string().nullable())).optional(),
  })
  .loose();
export type StatementResult = z.infer<typeof StatementResult>;

export const CompletedPayload = z
  .object({
    operation_type: OperationType,
    /** Rows as natural JSON objects (the seed's format). Empty when `text_rows` carries them. */
    rows: z.array(z.record(z.string(), z.unknown())),
    row_count: z.number().int().nonnegative(),
    /** Addition, replies to INSERT / UPDATE / DELETE / UPSERT / EXECUTE: rows affected (= `row_count`), which the older dialect reads. */
    rows_affected: z.number().int().nonnegative().optional(),
    /** Whole milliseconds, as in the seed. */
    execution_time_ms: z.number().int().nonnegative(),
    /** Addition: the same figure to the microsecond. */
    execution_time_precise_ms: z.number().nonnegative().optional(),
    metadata: z
      .object({
        cached: z.boolean(),
        circuit_breaker_state: BreakerState,
        /** Addition: PostgreSQL's command tag word (SELECT, INSERT, UPDATE, DELETE, MERGE, ...). */
        command: z.string().optional(),
        /** Addition: rows were cut at `max_rows`. */
        truncated: z.boolean().optional(),
        /** Addition: the `max_rows` cap applied. */
        max_rows: z.number().int().optional(),
      })
      .loose(),
    /** Addition (`row_format: pg_text`): result columns with type OIDs. */
    columns: z.array(ColumnInfo).optional(),
    /** Addition (`row_format: pg_text`): rows as arrays of PostgreSQL text values, in `columns` order. */
    text_rows: z.array(z.array(z.string().nullable())).optional(),
    /** Addition: BEGIN's reply names the transaction. */
    transaction_id: z.string().optional(),
    /** Addition: a chunked result (`accept_chunks`): its parts arrive in order; `row_count` on the last is the total. */
    chunk: z.object({ index: z.number().int().nonnegative(), last: z.boolean() }).optional(),
    /** Addition, BATCH: one result per statement, in order. */
    results: z.array(z.lazy(() => StatementResult)).optional(),
  })
  .loose();
export type CompletedPayload = z.infer<typeof CompletedPayload>;

export const FailedPayload = z
  .object({
    operation_type: OperationType.or(z.string()),
    error_code: z.enum(ERROR_CODES),
    error_message: z.string(),
    /** The older Python dialect reads the message from `error`. */
    error: z.string(),
    error_type: z.string(),
    metadata: z
      .object({
        sql: z.string().optional(),
        circuit_breaker_state: BreakerState,
      })
      .loose(),
    /** Additions, after node-postgres's DatabaseError: SQLSTATE and PostgreSQL's diagnostics. */
    sqlstate: z.string().optional(),
    detail: z.string().optional(),
    hint: z.string().optional(),
    position: z.string().optional(),
    constraint: z.string().optional(),
    table: z.string().optional(),
    column: z.string().optional(),
    /** Addition: running the same request again may succeed. */
    retryable: z.boolean().optional(),
    /** Addition: false when the statement provably did not take effect, so even a write may be retried. */
    executed: z.boolean().optional(),
    /** Addition, BATCH: index of the statement that failed (the whole batch was rolled back). */
    statement_index: z.number().int().nonnegative().optional(),
  })
  .loose();
export type FailedPayload = z.infer<typeof FailedPayload>;

const replyEnvelope = <T extends z.ZodType, E extends string>(eventType: E, payload: T) =>
  z
    .object({
      event_id: z.string().min(1),
      event_type: z.literal(eventType),
      correlation_id: z.string().min(1),
      timestamp: z.string(),
      service: z.string(),
      payload,
      /** Addition: `event_id` of the request this answers. */
      causation_id: z.string().optional(),
    })
    .loose();

export const CompletedEnvelope = replyEnvelope(COMPLETED_EVENT_TYPE, CompletedPayload);
export type CompletedEnvelope = z.infer<typeof CompletedEnvelope>;
export const FailedEnvelope = replyEnvelope(FAILED_EVENT_TYPE, FailedPayload);
export type FailedEnvelope = z.infer<typeof FailedEnvelope>;

/** Either reply, told apart by `event_type`. */
export const ReplyEnvelope = z.discriminatedUnion('event_type', [CompletedEnvelope, FailedEnvelope]);
export type ReplyEnvelope = z.infer<typeof ReplyEnvelope>;
