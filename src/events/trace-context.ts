/**
 * W3C Trace Context on the bus: a request carries its caller's `traceparent` as a Kafka header (an
 * addition; the JSON envelope is unchanged, so seed-format peers neither need nor see it).
 */
export const TRACEPARENT_HEADER = 'traceparent';

/** Version 00: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids not all zero. */
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** Whether `value` is a valid version-00 traceparent (anything else is ignored, never forwarded). */
export function isTraceparent(value: unknown): value is string {
  return typeof value === 'string' && TRACEPARENT.test(value);
}

export interface SpanIds {
  readonly traceId: string;
  readonly spanId: string;
  /** W3C trace flags (1 = sampled). */
  readonly traceFlags: number;
}

export function formatTraceparent(ids: SpanIds): string {
  return `00-${ids.traceId}-${ids.spanId}-${(ids.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

export function parseTraceparent(value: string): SpanIds | undefined {
  if (!isTraceparent(value)) return undefined;
  const [, traceId, spanId, flags] = value.split('-') as [string, string, string, string];
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) };
}
