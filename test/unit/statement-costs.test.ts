import { describe, expect, it } from 'vitest';
import { StatementCosts } from '../../src/adapter/statement-costs.js';

describe('StatementCosts', () => {
  it('a text never seen is not quick; one seen within the limit is', () => {
    const costs = new StatementCosts({ quickMs: 2 });
    expect(costs.isQuick('SELECT 1')).toBe(false);
    costs.record('SELECT 1', 0.3);
    expect(costs.isQuick('SELECT 1')).toBe(true);
    costs.record('SELECT pg_sleep(1)', 1000);
    expect(costs.isQuick('SELECT pg_sleep(1)')).toBe(false);
  });

  it('falls at once to a faster run, climbs a tenth of the way to a slower one', () => {
    const costs = new StatementCosts({ quickMs: 2 });
    costs.record('q', 0.2);
    costs.record('q', 5); // one stall of a busy machine
    expect(costs.estimate('q')).toBeCloseTo(0.68);
    expect(costs.isQuick('q')).toBe(true);
    costs.record('q', 50); // it really turned slow
    expect(costs.isQuick('q')).toBe(false);
    costs.record('q', 0.25);
    expect(costs.estimate('q')).toBe(0.25);
    expect(costs.isQuick('q')).toBe(true);
  });

  it('lets a first answer (round trip included) lower the estimate, but raise it only when far over the limit', () => {
    const costs = new StatementCosts({ quickMs: 2 });
    costs.recordFirst('w', 4); // never seen: counts as it is
    expect(costs.isQuick('w')).toBe(false);
    costs.recordFirst('w', 6); // a slow round trip says nothing of the statement
    expect(costs.estimate('w')).toBe(4);
    costs.recordFirst('w', 1.5); // one fast send shows it is quick
    expect(costs.isQuick('w')).toBe(true);
    costs.recordFirst('w', 15); // still within 10 x the limit: ignored
    expect(costs.estimate('w')).toBe(1.5);
    costs.record('w', 15); // the gap after another answer is its own time
    expect(costs.estimate('w')).toBeCloseTo(2.85);
    expect(costs.isQuick('w')).toBe(false);
    costs.record('w', 0.5);
    for (let i = 0; i < 3; i++) costs.recordFirst('w', 300); // really slow, even alone
    expect(costs.isQuick('w')).toBe(false);
    expect(new StatementCosts({ quickMs: 2, slowMs: 5 }).isQuick('x')).toBe(false);
    const strict = new StatementCosts({ quickMs: 2, slowMs: 5 });
    strict.recordFirst('x', 1);
    strict.recordFirst('x', 60);
    expect(strict.estimate('x')).toBeCloseTo(6.9);
  });

  it('keeps at most maxEntries texts, dropping the least recently used', () => {
    const costs = new StatementCosts({ maxEntries: 3 });
    for (const t of ['a', 'b', 'c']) costs.record(t, 0.1);
    costs.isQuick('a'); // 'a' runs all the time: 'b' is now the least recently used
    costs.record('d', 0.1);
    expect(costs.size).toBe(3);
    expect(costs.estimate('b')).toBeUndefined();
    expect(costs.estimate('a')).toBe(0.1);
    expect(costs.estimate('d')).toBe(0.1);
  });
});
