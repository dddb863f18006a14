/**
 * An HDR-style latency histogram: values in microseconds, log-linear buckets with 1024 sub-buckets per
 * power of two, so every recorded value is kept to within 0.1 % (three significant digits) from 1 µs
 * to about an hour, in a fixed 24k-entry array whatever the number of samples.
 */

const SUB_BITS = 10;
const SUB_COUNT = 1 << SUB_BITS; // 1024
/** Values below 2048 µs are counted exactly. */
const LINEAR = SUB_COUNT * 2;
/** Up to 2^33 µs (about 2.4 hours); larger values are clamped to the top bucket. */
const MAX_EXPONENT = 22;
const SIZE = LINEAR + MAX_EXPONENT * SUB_COUNT;

function indexOf(us: number): number {
  const v = Math.max(0, Math.floor(us));
  if (v < LINEAR) return v;
  const exponent = Math.min(MAX_EXPONENT, Math.floor(Math.log2(v)) - SUB_BITS);
  const mantissa = Math.min(LINEAR - 1, Math.floor(v / 2 ** exponent));
  return LINEAR + (exponent - 1) * SUB_COUNT + (mantissa - SUB_COUNT);
}

/** The highest value (µs) that falls into bucket `index`, as HdrHistogram reports percentiles. */
function highestOf(index: number): number {
  if (index < LINEAR) return index;
  const exponent = Math.floor((index - LINEAR) / SUB_COUNT) + 1;
  const mantissa = ((index - LINEAR) % SUB_COUNT) + SUB_COUNT;
  return (mantissa + 1) * 2 ** exponent - 1;
}

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
  readonly #counts = new Float64Array(SIZE);
  #count = 0;
  #sum = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = 0;

  /** Records one latency, in milliseconds (kept at microsecond resolution). */
  recordMs(ms: number): void {
    const us = ms * 1000;
    const i = indexOf(us);
    this.#counts[i] = (this.#counts[i] ?? 0) + 1;
    this.#count++;
    this.#sum += us;
    if (us < this.#min) this.#min = us;
    if (us > this.#max) this.#max = us;
  }

  get count(): number {
    return this.#count;
  }

  /** The value (ms) at or below which `percentile` % of the recorded values fall. */
  percentileMs(percentile: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil((percentile / 100) * this.#count));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.#counts[i] ?? 0;
      if (seen >= rank) return Math.min(highestOf(i), this.#max) / 1000;
    }
    return this.#max / 1000;
  }

  summary(): LatencySummary {
    const round = (ms: number) => Math.round(ms * 1000) / 1000;
    return {
      count: this.#count,
      min_ms: this.#count === 0 ? 0 : round(this.#min / 1000),
      mean_ms: this.#count === 0 ? 0 : round(this.#sum / this.#count / 1000),
      p50_ms: round(this.percentileMs(50)),
      p90_ms: round(this.percentileMs(90)),
      p95_ms: round(this.percentileMs(95)),
      p99_ms: round(this.percentileMs(99)),
      p999_ms: round(this.percentileMs(99.9)),
      max_ms: round(this.#max / 1000),
    };
  }
}
