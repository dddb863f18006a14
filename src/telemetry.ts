import type * as OtelApi from '@opentelemetry/api';
import { formatTraceparent, isTraceparent, parseTraceparent } from './events/trace-context.js';

/**
 * OpenTelemetry, when the application has `@opentelemetry/api` (an optional peer dependency): the
 * client sends the active span's context, and the adapter records a span per request under the
 * caller's. Without it, only an explicit `traceparent` travels, and nothing else happens.
 */
let loading: Promise<typeof OtelApi | undefined> | undefined;
let api: typeof OtelApi | undefined;

/**
 * Loads `@opentelemetry/api` once if it is installed (whether it is: the result); `start()` of the
 * client and of the adapter awaits it. Its types stay out of dbbridge's declarations.
 */
export async function loadTelemetry(): Promise<boolean> {
  loading ??= import('@opentelemetry/api').then(
    (m) => {
      api = m;
      return m;
    },
    () => undefined,
  );
  return (await loading) !== undefined;
}

/** The traceparent a request carries: the caller's explicit one, else the active span's, if any. */
export function outgoingTraceparent(explicit: string | undefined): string | undefined {
  if (isTraceparent(explicit)) return explicit;
  const context = api?.trace.getActiveSpan()?.spanContext();
  if (context === undefined || api === undefined || !api.trace.isSpanContextValid(context)) return undefined;
  return formatTraceparent(context);
}

/** A span of the adapter's handling of one request; a no-op without OpenTelemetry. */
export interface RequestSpan {
  /** The context to hand on (to PostgreSQL): this span's when recorded, else the caller's. */
  readonly traceparent: string | undefined;
  end(outcome: {
    readonly failed: boolean;
    readonly code?: string;
    readonly attributes?: Record<string, string>;
  }): void;
}

/**
 * Starts the adapter's span for one request, a child of the caller's `traceparent` (from the Kafka
 * header), beginning when the message arrived so it covers queue wait, validation and execution.
 */
export function startRequestSpan(
  incoming: string | undefined,
  startedAtEpochMs: number,
  attributes: Record<string, string>,
): RequestSpan {
  const parent = incoming === undefined ? undefined : parseTraceparent(incoming);
  if (api === undefined) {
    return { traceparent: parent === undefined ? undefined : incoming, end() {} };
  }
  const otel = api;
  const context =
    parent === undefined
      ? otel.context.active()
      : otel.trace.setSpanContext(otel.context.active(), { ...parent, isRemote: true });
  const span = otel.trace.getTracer('dbbridge').startSpan(
    'dbbridge.adapter.request',
    {
      kind: otel.SpanKind.CONSUMER,
      startTime: startedAtEpochMs,
      attributes: { 'db.system': 'postgresql', ...attributes },
    },
    context,
  );
  const own = span.spanContext();
  return {
    traceparent: otel.trace.isSpanContextValid(own)
      ? formatTraceparent(own)
      : parent === undefined
        ? undefined
        : incoming,
    end(outcome) {
      if (outcome.attributes) span.setAttributes(outcome.attributes);
      if (outcome.failed)
        span.setStatus({
          code: otel.SpanStatusCode.ERROR,
          ...(outcome.code ? { message: outcome.code } : {}),
        });
      span.end();
    },
  };
}
