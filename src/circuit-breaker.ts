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

/**
 * One admitted call (`acquire()`): which opening of the breaker it belongs to, and whether it is the
 * half-open probe. Its outcome is reported with it (`success(ticket)`, ...).
 */
export interface BreakerTicket {
  readonly epoch: number;
  readonly probe: boolean;
}

/**
 * CLOSED -> (threshold consecutive failures) -> OPEN -> (wait) -> HALF_OPEN: one probe at a time;
 * its success closes the breaker, its failure opens it again, for twice the previous wait (from
 * `probeAfterMs` up to `resetTimeoutMs`; without `probeAfterMs`, always `resetTimeoutMs`).
 *
 * Outcomes reported with the ticket of `acquire()` only count for the breaker's present state: a
 * call admitted before the breaker last opened that ends later (a slow statement that succeeds after
 * the database went away, or a late failure) changes nothing; only the probe decides a half-open
 * breaker. Outcomes reported without a ticket (`tryAcquire()`) count whenever they arrive.
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #resetTimeoutMs: number;
  readonly #probeAfterMs: number;
  /** How long the current opening lasts before a probe is let through. */
  #openForMs: number;
  readonly #now: () => number;
  readonly #onStateChange: ((state: BreakerState) => void) | undefined;
  #state: BreakerState = 'CLOSED';
  #failures = 0;
  #openedAt = 0;
  #probeInFlight = false;
  /** Times the breaker opened: a ticket from an earlier epoch is out of date. */
  #epoch = 0;

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
   * Asks to run one call. Returns false when the breaker refuses it. A true answer must be followed
   * by exactly one `success()` (the resource answered, even with an error of the caller's) or
   * `failure()` (it could not be reached).
   */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'CLOSED') return true;
    if (state === 'OPEN' || this.#probeInFlight) return false;
    this.#transition('HALF_OPEN');
    this.#probeInFlight = true;
    return true;
  }

  /**
   * `tryAcquire()` with a ticket to report the outcome with: undefined when the breaker refuses the
   * call. The ticket's outcome counts only if the breaker has not opened since (see the class).
   */
  acquire(): BreakerTicket | undefined {
    const state = this.state;
    if (!this.tryAcquire()) return undefined;
    return { epoch: this.#epoch, probe: state !== 'CLOSED' };
  }

  success(ticket?: BreakerTicket): void {
    if (ticket !== undefined && !this.#counts(ticket)) return;
    this.#failures = 0;
    this.#probeInFlight = false;
    this.#openForMs = this.#probeAfterMs;
    if (this.#state !== 'CLOSED') this.#transition('CLOSED');
  }

  failure(ticket?: BreakerTicket): void {
    if (ticket !== undefined && !this.#counts(ticket)) return;
    this.#probeInFlight = false;
    this.#failures++;
    if (this.#state === 'HALF_OPEN' || this.#failures >= this.#threshold) {
      // A failed probe doubles the wait; a fresh opening starts from the shortest one.
      if (this.#state === 'HALF_OPEN') this.#openForMs = Math.min(this.#resetTimeoutMs, this.#openForMs * 2);
      else if (this.#state === 'CLOSED') this.#openForMs = this.#probeAfterMs;
      this.#openedAt = this.#now();
      if (this.#state !== 'OPEN') this.#epoch++;
      this.#transition('OPEN');
    }
  }

  /** The acquired call never reached the resource (e.g. refused by validation): forget it. */
  cancel(ticket?: BreakerTicket): void {
    if (ticket !== undefined && !this.#counts(ticket)) return;
    this.#probeInFlight = false;
  }

  /**
   * Whether a ticket's outcome still counts: issued since the breaker last opened, and, while the
   * breaker is not closed, the probe's (a call admitted just before the breaker opened is not).
   */
  #counts(ticket: BreakerTicket): boolean {
    if (ticket.epoch !== this.#epoch) return false;
    return this.#state === 'CLOSED' ? !ticket.probe : ticket.probe && this.#probeInFlight;
  }

  #transition(state: BreakerState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#onStateChange?.(state);
  }
}
