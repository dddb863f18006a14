/**
 * The client's breaker with a fake transport (no I/O) and fake timers: calls that get no reply at
 * all never open it (an adapter that died leaves its requests in the topic for the next owner of
 * the partition); the adapter's coded report that PostgreSQL is unreachable does; it probes after
 * `probeAfterMs` and closes as soon as a probe succeeds.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DatabaseEventClient } from '../../src/client/index.js';
import { completedEnvelope, failedEnvelope, failedPayload } from '../../src/events/envelope.js';
import type { ErrorCode } from '../../src/events/error-codes.js';
import type { RequestEnvelope } from '../../src/events/request.js';
import type { IncomingMessage, Transport } from '../../src/transport/types.js';

type Answer = 'none' | 'ok' | ErrorCode | { readonly code: ErrorCode; readonly retryable: boolean };

/** A transport whose "adapter" answers each request as `answer()` says at the time it is sent. */
function scriptedTransport(answer: () => Answer) {
  let deliver: ((m: IncomingMessage) => void | Promise<void>) | undefined;
  let sent = 0;
  const transport: Transport = {
    connect: async () => {},
    ping: async () => {},
    partitionCount: async () => 1,
    endOffsets: async () => [],
    close: async () => {},
    openGroupConsumer: async () => {
      throw new Error('not used');
    },
    openReplyChannel: async (options) => {
      deliver = options.onMessage;
      return { partition: 0, assigned: true, close: async () => {} };
    },
    publisher: () => ({
      publish: async (_topic, message) => {
        sent++;
        const request = JSON.parse(message.value) as RequestEnvelope;
        const given = answer();
        if (given === 'none') return;
        const what = typeof given === 'object' ? given.code : given;
        const retryable = typeof given === 'object' ? given.retryable : true;
        const to = { correlation_id: request.correlation_id, event_id: request.event_id };
        const reply =
          what === 'ok'
            ? completedEnvelope(to, {
                operation_type: request.payload.operation_type,
                rows: [],
                row_count: 0,
                execution_time_ms: 0,
                metadata: { cached: false, circuit_breaker_state: 'CLOSED' },
              })
            : failedEnvelope(
                to,
                failedPayload(
                  request.payload.operation_type,
                  { code: what, message: what, retryable, executed: false },
                  { sql: 'SELECT 1', circuit_breaker_state: 'CLOSED' },
                ),
              );
        const topic = what === 'ok' ? 'completed' : 'failed';
        setTimeout(() => {
          void deliver?.({
            topic,
            partition: 0,
            offset: '0',
            key: null,
            value: Buffer.from(JSON.stringify(reply)),
          });
        }, 1);
      },
      close: async () => {},
    }),
  };
  return { transport, sent: () => sent };
}

async function outcome(call: Promise<unknown>): Promise<string> {
  return call.then(
    () => 'ok',
    (error: { code?: string }) => error.code ?? 'error',
  );
}

describe('client circuit breaker', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function client(answer: () => Answer) {
    const { transport, sent } = scriptedTransport(answer);
    const c = new DatabaseEventClient({
      transport,
      maxRetries: 0,
      requestTimeoutMs: 1000,
      now: () => Date.now(),
    });
    await c.start();
    return { c, sent };
  }

  it('calls with no reply at all (a dead adapter) never open it', async () => {
    const { c } = await client(() => 'none');
    for (let i = 0; i < 20; i++) {
      const call = outcome(c.query('SELECT 1'));
      await vi.advanceTimersByTimeAsync(1000);
      expect(await call).toBe('REQUEST_TIMEOUT');
    }
    expect(c.circuitBreakerState).toBe('CLOSED');
    await c.stop();
  });

  it("opens on the adapter's reports that PostgreSQL is unreachable, probes after 1 s, closes on the probe's success", async () => {
    let answer: Answer = 'DATABASE_CONNECTION_FAILED';
    const { c, sent } = await client(() => answer);
    for (let i = 0; i < 5; i++) {
      const call = outcome(c.query('SELECT 1'));
      await vi.advanceTimersByTimeAsync(5);
      expect(await call).toBe('DATABASE_CONNECTION_FAILED');
    }
    expect(c.circuitBreakerState).toBe('OPEN');
    const before = sent();
    expect(await outcome(c.query('SELECT 1'))).toBe('CIRCUIT_BREAKER_OPEN');
    expect(sent()).toBe(before); // refused without sending
    // The first probe after 1 s fails (the adapter's breaker is still open): the next waits 2 s.
    answer = 'CIRCUIT_BREAKER_OPEN';
    await vi.advanceTimersByTimeAsync(1000);
    const probe = outcome(c.query('SELECT 1'));
    await vi.advanceTimersByTimeAsync(5);
    expect(await probe).toBe('CIRCUIT_BREAKER_OPEN');
    expect(sent()).toBe(before + 1);
    expect(c.circuitBreakerState).toBe('OPEN');
    await vi.advanceTimersByTimeAsync(1000);
    expect(await outcome(c.query('SELECT 1'))).toBe('CIRCUIT_BREAKER_OPEN');
    expect(sent()).toBe(before + 1);
    // PostgreSQL is back: the next probe succeeds and every call goes through again.
    answer = 'ok';
    await vi.advanceTimersByTimeAsync(1000);
    const second = outcome(c.query('SELECT 1'));
    await vi.advanceTimersByTimeAsync(5);
    expect(await second).toBe('ok');
    expect(c.circuitBreakerState).toBe('CLOSED');
    const after = [outcome(c.query('SELECT 1')), outcome(c.query('SELECT 1'))];
    await vi.advanceTimersByTimeAsync(5);
    expect(await Promise.all(after)).toEqual(['ok', 'ok']);
    await c.stop();
  });

  it("a caller's own errors count as answers, never as the database being down", async () => {
    const { c } = await client(() => 'VALIDATION_ERROR');
    for (let i = 0; i < 10; i++) {
      const call = outcome(c.query('SELECT 1'));
      await vi.advanceTimersByTimeAsync(5);
      expect(await call).toBe('VALIDATION_ERROR');
    }
    expect(c.circuitBreakerState).toBe('CLOSED');
    await c.stop();
  });
});

describe("the adapter's TIMEOUT_ERROR", () => {
  async function attempts(retryable: boolean, operation: 'SELECT' | 'INSERT') {
    let sent = 0;
    const { transport } = scriptedTransport(() => {
      sent++;
      return { code: 'TIMEOUT_ERROR', retryable };
    });
    const client = new DatabaseEventClient({ transport, maxRetries: 2, sleep: async () => {} });
    await client.start();
    const payload =
      operation === 'SELECT'
        ? { operation_type: 'SELECT' as const, sql: 'SELECT 1' }
        : { operation_type: 'INSERT' as const, table: 't', data: { x: 1 } };
    await expect(client.request(payload)).rejects.toMatchObject({ code: 'TIMEOUT_ERROR' });
    await client.stop();
    return sent;
  }

  it('is retried when the adapter says the request ran out of a budget spent waiting (a keyed write, a read)', async () => {
    expect(await attempts(true, 'INSERT')).toBe(3);
    expect(await attempts(true, 'SELECT')).toBe(3);
  });

  it('is not retried when the statement itself was too slow', async () => {
    expect(await attempts(false, 'INSERT')).toBe(1);
    expect(await attempts(false, 'SELECT')).toBe(1);
  });
});
