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

  describe('with tickets (acquire)', () => {
    it('a late success of a call admitted before the breaker opened does not close it', () => {
      const c = clock();
      const b = new CircuitBreaker({ failureThreshold: 2, resetTimeoutMs: 1000, now: c.now });
      const slow = b.acquire();
      const first = b.acquire();
      const second = b.acquire();
      expect(slow && first && second).toBeTruthy();
      b.failure(first);
      b.failure(second);
      expect(b.state).toBe('OPEN');
      b.success(slow);
      expect(b.state).toBe('OPEN');
      expect(b.acquire()).toBeUndefined();
      expect(b.retryAfterMs).toBe(1000);
    });

    it('without a ticket, the same late success closes it (the behaviour tickets change)', () => {
      const b = new CircuitBreaker({ failureThreshold: 2, resetTimeoutMs: 1000 });
      b.tryAcquire();
      b.tryAcquire();
      b.tryAcquire();
      b.failure();
      b.failure();
      expect(b.state).toBe('OPEN');
      b.success();
      expect(b.state).toBe('CLOSED');
    });

    it('a late failure neither extends the open time nor re-opens a breaker that closed since', () => {
      const c = clock();
      const b = new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1000, now: c.now });
      const early = b.acquire();
      const late = b.acquire();
      b.failure(early);
      expect(b.state).toBe('OPEN');
      c.advance(600);
      b.failure(late);
      expect(b.retryAfterMs).toBe(400);
      c.advance(400);
      const probe = b.acquire();
      expect(probe).toMatchObject({ probe: true });
      b.success(probe);
      expect(b.state).toBe('CLOSED');
      b.failure(late);
      expect(b.state).toBe('CLOSED');
    });

    it('half-open: only the probe decides; other outcomes are ignored', () => {
      const c = clock();
      const b = new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1000, now: c.now });
      const before = b.acquire();
      const stale = b.acquire();
      b.failure(before);
      c.advance(1000);
      const probe = b.acquire();
      expect(probe).toMatchObject({ probe: true });
      expect(b.acquire()).toBeUndefined(); // one probe at a time
      b.success(stale);
      expect(b.state).toBe('HALF_OPEN');
      b.cancel(stale);
      expect(b.acquire()).toBeUndefined(); // the probe is still in flight
      b.failure(probe);
      expect(b.state).toBe('OPEN');
      c.advance(1000);
      const next = b.acquire();
      b.cancel(next);
      const again = b.acquire(); // a cancelled probe frees the slot
      expect(again).toMatchObject({ probe: true });
      b.success(again);
      expect(b.state).toBe('CLOSED');
    });

    it('closed: ticket failures count toward the threshold and a success resets the count', () => {
      const b = new CircuitBreaker({ failureThreshold: 2 });
      b.failure(b.acquire());
      b.success(b.acquire());
      b.failure(b.acquire());
      expect(b.state).toBe('CLOSED');
      b.failure(b.acquire());
      expect(b.state).toBe('OPEN');
    });
  });
});

describe('CircuitBreaker with probeAfterMs (the client)', () => {
  it('probes early, doubles the wait after each failed probe up to resetTimeoutMs, closes on a successful probe', () => {
    const c = clock();
    const b = new CircuitBreaker({
      failureThreshold: 2,
      probeAfterMs: 1000,
      resetTimeoutMs: 5000,
      now: c.now,
    });
    b.failure(b.acquire());
    b.failure(b.acquire());
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
      b.failure(probe);
      waits.push(b.retryAfterMs);
      c.advance(b.retryAfterMs);
    }
    expect(waits).toEqual([2000, 4000, 5000, 5000]);
    b.success(b.acquire());
    expect(b.state).toBe('CLOSED');
    // The next opening starts from the short wait again.
    b.failure(b.acquire());
    b.failure(b.acquire());
    expect(b.retryAfterMs).toBe(1000);
  });

  it('without probeAfterMs every opening lasts resetTimeoutMs (the adapter)', () => {
    const c = clock();
    const b = new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 3000, now: c.now });
    b.failure(b.acquire());
    expect(b.retryAfterMs).toBe(3000);
    c.advance(3000);
    b.failure(b.acquire());
    expect(b.retryAfterMs).toBe(3000);
  });
});
