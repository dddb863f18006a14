import { z } from 'zod';

/**
 * Addition: the event on `{env}.omninode-bridge.database.query-dead-lettered.v1` (and a service's own
 * `...{service}.query-dead-lettered.v1`). The adapter writes one for a message it cannot answer, or
 * whose handling failed unexpectedly, so the bytes are kept for an operator and the request
 * partition moves on. Clients neither write nor read it.
 */
export const DEAD_LETTER_EVENT_TYPE = 'DATABASE_QUERY_DEAD_LETTERED';

/**
 * Why a message was dead-lettered:
 * - `UNDECODABLE`: the value is not a JSON object (not JSON, not UTF-8 text, an array, a scalar, empty);
 * - `NO_CORRELATION_ID`: a JSON object that is not a valid request and carries no usable
 *   `correlation_id` (missing, not a string, empty, too long, control characters): nobody to answer;
 * - `INTERNAL_ERROR`: handling it threw something that is not a coded refusal (a bug). The caller
 *   still got its failed reply (`InternalError`) when it could be sent (`answered`).
 */
export const DEAD_LETTER_REASONS = ['UNDECODABLE', 'NO_CORRELATION_ID', 'INTERNAL_ERROR'] as const;
export const DeadLetterReason = z.enum(DEAD_LETTER_REASONS);
export type DeadLetterReason = z.infer<typeof DeadLetterReason>;

export const DeadLetterEnvelope = z
  .object({
    event_id: z.string(),
    event_type: z.literal(DEAD_LETTER_EVENT_TYPE),
    timestamp: z.string(),
    /** The adapter's service name (`database-adapter-effect`). */
    service: z.string(),
    reason: DeadLetterReason,
    /** What was wrong, as the failed reply (if any) said it. */
    error_message: z.string(),
    /** The request's correlation id, when it had a usable one (`INTERNAL_ERROR`). */
    correlation_id: z.string().optional(),
    /** True when the caller got a failed reply for it (only ever for `INTERNAL_ERROR`). */
    answered: z.boolean(),
    /** Where the message was read. */
    source: z
      .object({
        topic: z.string(),
        partition: z.number().int().nonnegative(),
        /** The offset, as a decimal string (64 bits). */
        offset: z.string(),
        /** The record's timestamp (ms since the epoch), when it had one. */
        timestamp: z.number().optional(),
      })
      .loose(),
    /** The record's key, base64 (its first 1 KiB); null when it had none. */
    key_base64: z.string().nullable(),
    /** The record's value, base64 (exactly the bytes read, cut to `value_base64_bytes` when too large to carry); null when it had none. */
    value_base64: z.string().nullable(),
    /** Length of the original value in bytes. */
    value_bytes: z.number().int().nonnegative(),
    /** True when `value_base64` holds only the first bytes of the value (the original was larger than one message can carry). */
    value_truncated: z.boolean(),
    /** The record's Kafka headers, as text. */
    headers: z.record(z.string(), z.string()),
  })
  .loose();
export type DeadLetterEnvelope = z.infer<typeof DeadLetterEnvelope>;
