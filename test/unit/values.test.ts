import { describe, expect, it } from 'vitest';
import { decodeTextRows, encodeParam, naturalRows } from '../../src/events/values.js';

describe('encodeParam', () => {
  it('keeps JSON values and encodes what JSON cannot hold as pg would send it', () => {
    expect(encodeParam('x')).toBe('x');
    expect(encodeParam(1.5)).toBe(1.5);
    expect(encodeParam(true)).toBe(true);
    expect(encodeParam(undefined)).toBe(null);
    expect(encodeParam(['a', null, 2])).toEqual(['a', null, 2]);
    expect(encodeParam(12345678901234567890n)).toBe('12345678901234567890');
    expect(encodeParam(Buffer.from([0, 255, 16]))).toBe('\\x00ff10');
    expect(encodeParam({ a: [1, { b: 2 }] })).toBe('{"a":[1,{"b":2}]}');
    expect(encodeParam(Number.NaN)).toBe('NaN');
    const d = new Date('2025-10-30T10:00:00.123Z');
    const encoded = encodeParam(d) as string;
    expect(new Date(encoded).getTime()).toBe(d.getTime());
    expect(encodeParam([d, d])).toMatch(/^\{"[^"]+","[^"]+"\}$/);
  });
});

describe('naturalRows (seed format)', () => {
  it('turns PostgreSQL text into natural JSON per type', () => {
    const columns = [
      { name: 'n', type_oid: 1700 },
      { name: 'i8', type_oid: 20 },
      { name: 'big', type_oid: 20 },
      { name: 'b', type_oid: 16 },
      { name: 'j', type_oid: 3802 },
      { name: 'ts', type_oid: 1184 },
      { name: 'arr', type_oid: 1009 },
      { name: 'nums', type_oid: 1231 },
      { name: 'u', type_oid: 2950 },
      { name: 'nul', type_oid: 25 },
    ];
    const [row] = naturalRows(columns, [
      [
        '0.9200',
        '42',
        '9223372036854775807',
        't',
        '{"a": [1]}',
        '2025-10-30 10:00:00.123456+02',
        '{a,"b c",NULL}',
        '{1.5,2}',
        'a1b2',
        null,
      ],
    ]);
    expect(row).toEqual({
      n: 0.92,
      i8: 42,
      big: '9223372036854775807',
      b: true,
      j: { a: [1] },
      ts: '2025-10-30T10:00:00.123456+02:00',
      arr: ['a', 'b c', null],
      nums: [1.5, 2],
      u: 'a1b2',
      nul: null,
    });
  });

  it('a later column of the same name wins, as in pg', () => {
    const rows = naturalRows(
      [
        { name: 'id', type_oid: 23 },
        { name: 'id', type_oid: 23 },
      ],
      [['1', '2']],
    );
    expect(rows).toEqual([{ id: 2 }]);
  });
});

describe('decodeTextRows (pg values)', () => {
  it('decodes with pg-types: Date, strings for int8/numeric, Buffer, arrays', () => {
    const [row] = decodeTextRows(
      [
        { name: 'ts', type_oid: 1184 },
        { name: 'i8', type_oid: 20 },
        { name: 'n', type_oid: 1700 },
        { name: 'by', type_oid: 17 },
        { name: 'ints', type_oid: 1007 },
        { name: 'j', type_oid: 114 },
      ],
      [['2025-10-30 10:00:00+00', '9007199254740993', '0.9200', '\\x00ff', '{1,2,NULL}', '[1,"x"]']],
    );
    expect(row?.ts).toEqual(new Date('2025-10-30T10:00:00Z'));
    expect(row?.i8).toBe('9007199254740993');
    expect(row?.n).toBe('0.9200');
    expect(row?.by).toEqual(Buffer.from([0, 255]));
    expect(row?.ints).toEqual([1, 2, null]);
    expect(row?.j).toEqual([1, 'x']);
  });
});
