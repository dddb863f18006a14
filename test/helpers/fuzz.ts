import fc from 'fast-check';

/**
 * Property-based tests run with one fixed seed, so CI sees the same inputs every time and a failure
 * can be replayed: `DBBRIDGE_FUZZ_SEED` picks another seed (fast-check prints the seed and path of a
 * counterexample), `DBBRIDGE_FUZZ_RUNS` multiplies the runs of every property (default 1: a few
 * seconds in all).
 */
export const FUZZ_SEED = Number(process.env.DBBRIDGE_FUZZ_SEED ?? 0x0dbb_1d9e);
const SCALE = Number(process.env.DBBRIDGE_FUZZ_RUNS ?? 1);

export function fuzz<T>(numRuns: number): fc.Parameters<T> {
  return { seed: FUZZ_SEED, numRuns: Math.max(1, Math.round(numRuns * SCALE)) };
}

/** Whitespace and comments between tokens, as PostgreSQL's scanner takes them. */
export const separator = fc.constantFrom(
  ' ',
  '  ',
  '\n',
  '\t',
  '\r\n',
  ' /* c */ ',
  '/**/',
  ' -- c\n',
  ' /* nested /* c */ still */ ',
  '\f',
);

/**
 * A statement from parts: plain strings are kept as they are, `kw(...)` parts come in random case,
 * and random whitespace or comments go between parts.
 */
export function statement(...parts: (string | fc.Arbitrary<string>)[]): fc.Arbitrary<string> {
  const arbs = parts.map((p) => (typeof p === 'string' ? fc.constant(p) : p));
  return fc
    .tuple(fc.tuple(...arbs), fc.array(separator, { minLength: parts.length, maxLength: parts.length }))
    .map(([tokens, seps]) => tokens.map((t, i) => (i === 0 ? t : `${seps[i] ?? ' '}${t}`)).join(''));
}

/** A keyword (or several, space-separated) in random case. */
export function kw(words: string): fc.Arbitrary<string> {
  return fc.mixedCase(fc.constant(words));
}
