/**
 * W3C trace context from the caller to PostgreSQL: the client sends `traceparent` as a Kafka header
 * (explicit, or the active OpenTelemetry span's), the adapter hands it on as a sqlcommenter comment,
 * and the statement in `pg_stat_activity` carries the caller's trace id.
 */
import { randomBytes } from 'node:crypto';
import { context, TraceFlags, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseEventClient } from '../../src/index.js';
import { type Bridge, startBridge } from '../helpers/bridge.js';

let bridge: Bridge;
let db: DatabaseEventClient;
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  bridge = await startBridge('trace');
  db = await bridge.client();
});
afterAll(async () => {
  await bridge?.close();
  contextManager.disable();
  context.disable();
});

/** Runs a slow statement and returns what `pg_stat_activity` showed of it while it ran. */
async function seenByPostgres(marker: string, send: (sql: string) => Promise<unknown>): Promise<string> {
  const sql = `SELECT pg_sleep(1.5), '${marker}' AS marker`;
  const running = send(sql);
  let seen: string | undefined;
  const deadline = Date.now() + 15_000;
  while (seen === undefined && Date.now() < deadline) {
    const { rows } = await bridge.pg.query<{ query: string }>(
      `SELECT query FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()`,
      [`%${marker}%`],
    );
    seen = rows[0]?.query;
    if (seen === undefined) await new Promise((r) => setTimeout(r, 50));
  }
  await running;
  if (seen === undefined) throw new Error(`the statement with ${marker} never showed in pg_stat_activity`);
  return seen;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

describe('trace context', () => {
  it('an explicit traceparent reaches PostgreSQL with the statement', async () => {
    const traceId = hex(16);
    const traceparent = `00-${traceId}-${hex(8)}-01`;
    const marker = `trace-explicit-${hex(4)}`;
    const query = await seenByPostgres(marker, (sql) =>
      db.request({ operation_type: 'SELECT', sql }, { traceparent }),
    );
    expect(query).toContain(`/*traceparent='00-${traceId}-`);
  });

  it("the active OpenTelemetry span's context travels without being passed", async () => {
    const traceId = hex(16);
    const active = trace.setSpanContext(context.active(), {
      traceId,
      spanId: hex(8),
      traceFlags: TraceFlags.SAMPLED,
      isRemote: false,
    });
    const marker = `trace-otel-${hex(4)}`;
    const query = await seenByPostgres(marker, (sql) =>
      context.with(active, () => db.request({ operation_type: 'SELECT', sql })),
    );
    expect(query).toContain(`/*traceparent='00-${traceId}-`);
  });

  it('an invalid traceparent is not sent, and the statement runs without a comment', async () => {
    const marker = `trace-invalid-${hex(4)}`;
    const query = await seenByPostgres(marker, (sql) =>
      db.request({ operation_type: 'SELECT', sql }, { traceparent: "00-x'*/; DROP TABLE t; --" }),
    );
    expect(query).not.toContain('traceparent');
  });
});
