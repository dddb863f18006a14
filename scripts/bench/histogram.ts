import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/**
 * Latency percentiles from Node's own HdrHistogram (`perf_hooks.createHistogram`, three significant
 * digits), recorded in microseconds. The mean is kept apart, from the exact (signed) values.
 */

export interface LatencySummary {
  readonly count: number;
  readonly min_ms: number;
  readonly mean_ms: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p95_ms: number;
  readonly p99_ms: number;
  readonly p999_ms: number;
  readonly max_ms: number;
}

export class LatencyHistogram {
  readonly #hdr: RecordableHistogram = createHistogram({ lowest: 1, highest: 2 ** 33, figures: 3 });
  #count = 0;
  #sum = 0;

  /** Records one latency, in milliseconds (kept at microsecond resolution; below 1 µs counts as 1 µs). */
  recordMs(ms: number): void {
    const us = ms * 1000;
    this.#hdr.record(Math.min(2 ** 33, Math.max(1, Math.round(us))));
    this.#count++;
    this.#sum += us;
  }

  get count(): number {
    return this.#count;
  }

  /** The value (ms) at or below which `percentile` % of the recorded values fall. */
  percentileMs(percentile: number): number {
    return this.#count === 0 ? 0 : this.#hdr.percentile(percentile) / 1000;
  }

  summary(): LatencySummary {
    const round = (ms: number) => Math.round(ms * 1000) / 1000;
    const empty = this.#count === 0;
    return {
      count: this.#count,
      min_ms: empty ? 0 : round(this.#hdr.min / 1000),
      mean_ms: empty ? 0 : round(this.#sum / this.#count / 1000),
      p50_ms: round(this.percentileMs(50)),
      p90_ms: round(this.percentileMs(90)),
      p95_ms: round(this.percentileMs(95)),
      p99_ms: round(this.percentileMs(99)),
      p999_ms: round(this.percentileMs(99.9)),
      max_ms: empty ? 0 : round(this.#hdr.max / 1000),
    };
  }
}
