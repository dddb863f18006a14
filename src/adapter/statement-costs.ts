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
 */
export class StatementCosts {
  readonly #costs: LRUCache<string, number>;
  readonly #quickMs: number;

  constructor(options: { quickMs?: number; maxEntries?: number } = {}) {
    this.#quickMs = options.quickMs ?? 2;
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

  record(text: string, ms: number): void {
    const cost = this.#costs.get(text);
    this.#costs.set(text, cost === undefined || ms <= cost ? ms : cost + (ms - cost) / 10);
  }

  get size(): number {
    return this.#costs.size;
  }
}
