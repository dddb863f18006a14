import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../scripts/bench/histogram.js';

describe('LatencyHistogram (perf_hooks HdrHistogram)', () => {
  it('reports percentiles to three significant digits and the exact mean', () => {
    const h = new LatencyHistogram();
    for (let ms = 1; ms <= 1000; ms++) h.recordMs(ms);
    const s = h.summary();
    expect(s.count).toBe(1000);
    expect(s.mean_ms).toBe(500.5);
    expect(s.min_ms).toBe(1);
    expect(Math.abs(s.p50_ms - 500) / 500).toBeLessThan(0.001);
    expect(Math.abs(s.p99_ms - 990) / 990).toBeLessThan(0.001);
    expect(Math.abs(s.max_ms - 1000) / 1000).toBeLessThan(0.001);
  });

  it('keeps sub-millisecond values at microsecond resolution', () => {
    const h = new LatencyHistogram();
    for (const ms of [0.25, 0.5, 0.75]) h.recordMs(ms);
    expect(h.percentileMs(50)).toBeCloseTo(0.5, 3);
  });

  it('is empty-safe', () => {
    expect(new LatencyHistogram().summary()).toMatchObject({ count: 0, p50_ms: 0, max_ms: 0 });
  });
});
