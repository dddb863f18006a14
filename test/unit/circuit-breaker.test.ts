import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/circuit-breaker.js';

function clock() {
  let t = 1_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('CircuitBreaker', () => {
  it('opens after the threshold of consecutive failures and refuses while open', () => {
    const c = clock();
    const b = new CircuitBreaker({ failureThreshold: 3, resetTimeoutMs: 60_000, now: c.now });
    for (let i = 0; i < 2; i++) {
      expect(b.tryAcquire()).toBe(true);
      b.failure();
    }
    expect(b.state).toBe('CLOSED');
    expect(b.tryAcquire()).toBe(true);
    b.failure();
    expect(b.state).toBe('OPEN');
    expect(b.tryAcquire()).toBe(false);
    expect(b.retryAfterMs).toBe(60_000);
    c.advance(59_999);
    expect(b.tryAcquire()).toBe(false);
  });

  it('a success in between resets the count', () => {
    const b = new CircuitBreaker({ failureThreshold: 2 });
    b.tryAcquire();
    b.failure();
    b.tryAcquire();
    b.success();
    b.tryAcquire();
    b.failure();
    expect(b.state).toBe('CLOSED');
  });

  it('half-open admits one probe; success closes, failure re-opens for another full timeout', () => {
    const c = clock();
    const states: string[] = [];
    const b = new CircuitBreaker({
      failureThreshold: 1,
      resetTimeoutMs: 1000,
      now: c.now,
      onStateChange: (s) => states.push(s),
    });
    b.tryAcquire();
    b.failure();
    c.advance(1000);
    expect(b.state).toBe('HALF_OPEN');
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false); // one probe at a time
    b.failure();
    expect(b.state).toBe('OPEN');
    expect(b.retryAfterMs).toBe(1000);
    c.advance(1000);
    expect(b.tryAcquire()).toBe(true);
    b.success();
    expect(b.state).toBe('CLOSED');
    expect(states).toEqual(['OPEN', 'HALF_OPEN', 'OPEN', 'HALF_OPEN', 'CLOSED']);
  });
});
