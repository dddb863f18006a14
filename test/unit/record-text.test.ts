/** PostgreSQL's text form of a row, as `record_out` writes it (examples taken from PostgreSQL 18). */
import { describe, expect, it } from 'vitest';
import { parseRecordText } from '../../src/adapter/record-text.js';

describe('parseRecordText', () => {
  it.each([
    ['(1,abc,t)', ['1', 'abc', 't']],
    ['(1,,t)', ['1', null, 't']],
    ['(,)', [null, null]],
    ['(1,"")', ['1', '']],
    ['("a ""q"" \\\\ (x), y","ab   ")', ['a "q" \\ (x), y', 'ab   ']],
    ['("{""a b"",""c,d"",NULL}",2)', ['{"a b","c,d",NULL}', '2']],
    ['("line\nbreak",ü✓)', ['line\nbreak', 'ü✓']],
    ['("2026-12-05 03:50:13.123456+00")', ['2026-12-05 03:50:13.123456+00']],
    ['(NULL)', ['NULL']],
  ])('%s', (text, fields) => {
    expect(parseRecordText(text)).toEqual(fields);
  });

  it.each(['', '1,2', '(1,2', '("open)', '(1)x', '("a"b)'])('refuses %j', (text) => {
    expect(() => parseRecordText(text)).toThrow();
  });
});
