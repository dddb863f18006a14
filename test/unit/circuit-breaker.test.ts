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

describe('CircuitBreaker with permits (the client)', () => {
  it('probes early, doubles the wait after each failed probe up to resetTimeoutMs, closes on a successful probe', () => {
    const c = clock();
    const b = new CircuitBreaker({
      failureThreshold: 2,
      probeAfterMs: 1000,
      resetTimeoutMs: 5000,
      now: c.now,
    });
    b.acquire()?.failure();
    b.acquire()?.failure();
    expect(b.state).toBe('OPEN');
    expect(b.retryAfterMs).toBe(1000);
    c.advance(999);
    expect(b.acquire()).toBeUndefined();
    c.advance(1);
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const probe = b.acquire();
      expect(probe).toBeDefined();
      expect(b.acquire()).toBeUndefined(); // one probe at a time
      probe?.failure();
      waits.push(b.retryAfterMs);
      c.advance(b.retryAfterMs);
    }
    expect(waits).toEqual([2000, 4000, 5000, 5000]);
    const probe = b.acquire();
    probe?.success();
    expect(b.state).toBe('CLOSED');
    // The next opening starts from the short wait again.
    b.acquire()?.failure();
    b.acquire()?.failure();
    expect(b.retryAfterMs).toBe(1000);
  });

  it('a late success of a call admitted before the breaker opened does not close it', () => {
    const c = clock();
    const b = new CircuitBreaker({ failureThreshold: 2, probeAfterMs: 1000, now: c.now });
    const early = b.acquire();
    b.acquire()?.failure();
    b.acquire()?.failure();
    expect(b.state).toBe('OPEN');
    early?.success();
    expect(b.state).toBe('OPEN');
    c.advance(1000);
    expect(b.state).toBe('HALF_OPEN');
    // ... nor does a late failure re-open it for longer, or take the probe's place.
    const probe = b.acquire();
    early?.failure();
    expect(b.acquire()).toBeUndefined();
    probe?.success();
    expect(b.state).toBe('CLOSED');
  });

  it('a cancelled probe frees the slot without deciding anything; a permit reports once', () => {
    const c = clock();
    const b = new CircuitBreaker({ failureThreshold: 1, probeAfterMs: 500, resetTimeoutMs: 500, now: c.now });
    b.acquire()?.failure();
    c.advance(500);
    const probe = b.acquire();
    probe?.cancel();
    probe?.failure(); // ignored: already reported
    expect(b.state).toBe('HALF_OPEN');
    const next = b.acquire();
    expect(next).toBeDefined();
    next?.success();
    next?.failure();
    expect(b.state).toBe('CLOSED');
  });
});
