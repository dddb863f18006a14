import { describe, expect, it } from 'vitest';
import { onOwnClock } from '../../src/adapter/adapter.js';
import type { RequestEnvelope } from '../../src/events/request.js';

const request = (timestamp: string, deadline?: string): RequestEnvelope => ({
  event_id: 'e',
  event_type: 'DATABASE_QUERY_REQUESTED',
  correlation_id: 'c',
  timestamp,
  service: 's',
  payload: { operation_type: 'SELECT', sql: 'SELECT 1' },
  ...(deadline === undefined ? {} : { deadline }),
});

describe('onOwnClock', () => {
  const appended = Date.parse('2026-12-04T12:00:00.000Z');

  it("moves the client's window (deadline - timestamp) to start at the broker's append time", () => {
    // The client's clock is an hour behind; its window is 10 s.
    const moved = onOwnClock(request('2026-12-04T11:00:00.000Z', '2026-12-04T11:00:10.000Z'), appended);
    expect(moved.deadline).toBe('2026-12-04T12:00:10.000Z');
  });

  it('leaves a request without a deadline, or without an append time, as it is', () => {
    const none = request('2026-12-04T11:00:00.000Z');
    expect(onOwnClock(none, appended)).toBe(none);
    const sent = request('2026-12-04T11:00:00.000Z', '2026-12-04T11:00:10.000Z');
    expect(onOwnClock(sent, undefined)).toBe(sent);
  });

  it('caps the window at an hour and never makes it negative', () => {
    const long = onOwnClock(request('2026-12-04T11:00:00.000Z', '2026-12-05T11:00:00.000Z'), appended);
    expect(long.deadline).toBe('2026-12-04T13:00:00.000Z');
    const backwards = onOwnClock(request('2026-12-04T11:00:10.000Z', '2026-12-04T11:00:00.000Z'), appended);
    expect(backwards.deadline).toBe('2026-12-04T12:00:00.000Z');
  });
});
