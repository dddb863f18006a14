import type { BreakerState } from './events/error-codes.js';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker. Default 5. */
  readonly failureThreshold?: number;
  /**
   * Longest time the breaker stays open before it lets a probe through, ms. Default 60000 (the
   * seed's figure). With `probeAfterMs` below it, the first probe comes sooner and the wait doubles
   * after each failed probe up to this.
   */
  readonly resetTimeoutMs?: number;
  /** Wait before the first probe after the breaker opens, ms. Default: `resetTimeoutMs` (no back-off). */
  readonly probeAfterMs?: number;
  /** Clock, injectable for tests. Default `Date.now`. */
  readonly now?: () => number;
  /** Called on every state change. */
  readonly onStateChange?: (state: BreakerState) => void;
}

/** One admitted call: report how it went exactly once (later reports are ignored). */
export interface BreakerPermit {
  /** The resource answered (even with an error of the caller's). */
  success(): void;
  /** The resource could not be reached. */
  failure(): void;
  /** The call never reached the resource, or its outcome says nothing about it: forget it. */
  cancel(): void;
}

/**
 * CLOSED -> (threshold consecutive failures) -> OPEN -> (wait) -> HALF_OPEN: one probe at a time;
 * its success closes the breaker, its failure opens it again, for twice the previous wait (from
 * `probeAfterMs` up to `resetTimeoutMs`). Outcomes of calls admitted before the breaker last opened
 * neither close nor re-open it: a late success of a request sent before the outage is no probe.
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #resetTimeoutMs: number;
  readonly #probeAfterMs: number;
  readonly #now: () => number;
  readonly #onStateChange: ((state: BreakerState) => void) | undefined;
  #state: BreakerState = 'CLOSED';
  #failures = 0;
  #openedAt = 0;
  /** How long the current opening lasts before a probe is let through. */
  #openForMs: number;
  /** Bumped every time the breaker opens: permits of an older epoch are stale. */
  #epoch = 0;
  #probeInFlight = false;

  constructor(options: CircuitBreakerOptions = {}) {
    this.#threshold = options.failureThreshold ?? 5;
    this.#resetTimeoutMs = options.resetTimeoutMs ?? 60_000;
    this.#probeAfterMs = Math.min(options.probeAfterMs ?? this.#resetTimeoutMs, this.#resetTimeoutMs);
    this.#openForMs = this.#probeAfterMs;
    this.#now = options.now ?? Date.now;
    this.#onStateChange = options.onStateChange;
    if (!(this.#threshold >= 1)) throw new RangeError('failureThreshold must be at least 1');
    if (!(this.#probeAfterMs > 0)) throw new RangeError('probeAfterMs must be positive');
  }

  /** The state as a caller would see it now (an expired OPEN reads as HALF_OPEN). */
  get state(): BreakerState {
    if (this.#state === 'OPEN' && this.#now() - this.#openedAt >= this.#openForMs) return 'HALF_OPEN';
    return this.#state;
  }

  /** Milliseconds until an open breaker admits a probe (0 when it admits requests now). */
  get retryAfterMs(): number {
    if (this.#state !== 'OPEN') return 0;
    return Math.max(0, this.#openedAt + this.#openForMs - this.#now());
  }

  /**
   * Asks to run one call: a permit to report its outcome on, or undefined when the breaker refuses
   * it. In HALF_OPEN the permit is the one probe.
   */
  acquire(): BreakerPermit | undefined {
    const state = this.state;
    if (state === 'OPEN' || (state === 'HALF_OPEN' && this.#probeInFlight)) return undefined;
    const probe = state === 'HALF_OPEN';
    if (probe) {
      this.#transition('HALF_OPEN');
      this.#probeInFlight = true;
    }
    const epoch = this.#epoch;
    let reported = false;
    const report = (outcome: 'success' | 'failure' | 'cancel') => {
      if (reported) return;
      reported = true;
      if (probe) this.#probeInFlight = false;
      // Opened since this call was admitted: its outcome is older news than the opening.
      if (epoch !== this.#epoch) return;
      if (outcome === 'success') this.#succeeded();
      else if (outcome === 'failure') this.#failed(probe);
    };
    return {
      success: () => report('success'),
      failure: () => report('failure'),
      cancel: () => report('cancel'),
    };
  }

  /**
   * The older interface, for callers that count outcomes without permits (the adapter): true when
   * admitted, to be followed by one `success()`, `failure()` or `cancel()`, whatever call it was for.
   */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'CLOSED') return true;
    if (state === 'OPEN' || this.#probeInFlight) return false;
    this.#transition('HALF_OPEN');
    this.#probeInFlight = true;
    return true;
  }

  success(): void {
    this.#probeInFlight = false;
    this.#succeeded();
  }

  failure(): void {
    this.#probeInFlight = false;
    this.#failed(false);
  }

  cancel(): void {
    this.#probeInFlight = false;
  }

  #succeeded(): void {
    this.#failures = 0;
    this.#openForMs = this.#probeAfterMs;
    if (this.#state !== 'CLOSED') this.#transition('CLOSED');
  }

  #failed(probe: boolean): void {
    this.#failures++;
    if (probe || this.#state === 'HALF_OPEN') {
      this.#openForMs = Math.min(this.#resetTimeoutMs, this.#openForMs * 2);
      this.#open();
    } else if (this.#failures >= this.#threshold) {
      if (this.#state === 'CLOSED') this.#openForMs = this.#probeAfterMs;
      this.#open();
    }
  }

  #open(): void {
    this.#openedAt = this.#now();
    this.#epoch++;
    this.#transition('OPEN');
  }

  #transition(state: BreakerState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#onStateChange?.(state);
  }
}
