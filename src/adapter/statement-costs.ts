import { LRUCache } from 'lru-cache';

/**
 * What each statement text has been seen to cost, so that only statements known to be quick are
 * pipelined behind others on one connection (a slow one would hold up everything sent after it).
 *
 * The estimate falls at once to a faster observation and climbs a tenth of the way towards a slower
 * one: a quick statement stays quick through the odd stall of a busy machine, while one that really
 * turned slow (a 50 ms run after 0.2 ms ones) is over a 2 ms limit at the next send. A text never
 * seen counts as slow. At most `maxEntries` texts are kept; the least recently used go first, so
 * a burst of one-off texts does not push out the statements that run all the time.
 *
 * The time of an answer that came first on its connection's send also holds the trip to the server
 * and back and the backend's wake-up, which on a busy machine alone can take longer than the limit:
 * `recordFirst` lets such a time lower the estimate but raise it only when it is far over the limit
 * (`slowMs`), so a statement once sent alone is not kept alone by the round trip of every later send;
 * the gap between two answers on one send (`record`) is the statement's own time and counts in full.
 */
export class StatementCosts {
  readonly #costs: LRUCache<string, number>;
  readonly #quickMs: number;
  readonly #slowMs: number;

  /** `slowMs`: a first answer over this raises the estimate (default 10 x `quickMs`). */
  constructor(options: { quickMs?: number; slowMs?: number; maxEntries?: number } = {}) {
    this.#quickMs = options.quickMs ?? 2;
    this.#slowMs = Math.max(this.#quickMs, options.slowMs ?? 10 * this.#quickMs);
    this.#costs = new LRUCache({ max: options.maxEntries ?? 10_000 });
  }

  /** Seen before, and its estimate is within the limit. */
  isQuick(text: string): boolean {
    const cost = this.#costs.get(text);
    return cost !== undefined && cost <= this.#quickMs;
  }

  /** The current estimate, ms (undefined: never seen). Does not count as a use. */
  estimate(text: string): number | undefined {
    return this.#costs.peek(text);
  }

  /** The statement's own time: the gap since the answer before it on the same send. */
  record(text: string, ms: number): void {
    const cost = this.#costs.get(text);
    this.#costs.set(text, cost === undefined || ms <= cost ? ms : cost + (ms - cost) / 10);
  }

  /**
   * The time of an answer that came first on its send (round trip included): counts like `record`
   * for a text never seen, when faster than the estimate, and when over `slowMs`; otherwise it says
   * nothing of the statement itself and is ignored.
   */
  recordFirst(text: string, ms: number): void {
    const cost = this.#costs.get(text);
    if (cost === undefined || ms <= cost || ms > this.#slowMs) this.record(text, ms);
  }

  get size(): number {
    return this.#costs.size;
  }
}
