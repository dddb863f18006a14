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
  it("turns PostgreSQL text into natural JSON per type; numbers are PostgreSQL's own digits on the wire", () => {
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
      { name: 'wide', type_oid: 1700 },
      { name: 'f4', type_oid: 700 },
      { name: 'f8', type_oid: 701 },
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
        '123456789012345678901234567890.123456789',
        '1.0000001',
        '1e+300',
      ],
    ]);
    expect(JSON.stringify(row)).toBe(
      '{"n":0.9200,"i8":42,"big":9223372036854775807,"b":true,"j":{"a":[1]},' +
        '"ts":"2025-10-30T10:00:00.123456+02:00","arr":["a","b c",null],"nums":[1.5,2],"u":"a1b2",' +
        '"nul":null,"wide":123456789012345678901234567890.123456789,"f4":1.0000001,"f8":1e+300}',
    );
  });

  it('NaN and ±Infinity of float and numeric columns are the strings PostgreSQL writes', () => {
    const columns = [700, 701, 1700, 1231].map((type_oid, i) => ({ name: `c${i}`, type_oid }));
    const rows = naturalRows(columns, [
      ['NaN', 'Infinity', '-Infinity', '{NaN,1.5,Infinity}'],
      ['-0', '-1.5e-07', '-12.50', '{}'],
    ]);
    expect(JSON.stringify(rows)).toBe(
      '[{"c0":"NaN","c1":"Infinity","c2":"-Infinity","c3":["NaN",1.5,"Infinity"]},' +
        '{"c0":-0,"c1":-1.5e-07,"c2":-12.50,"c3":[]}]',
    );
  });

  it('timestamps and dates are ISO 8601; infinity stays; BC and years past 9999 use expanded years', () => {
    const column = (type_oid: number) => [{ name: 'v', type_oid }];
    const iso = (type_oid: number, text: string) => naturalRows(column(type_oid), [[text]])[0]?.v;
    expect(iso(1184, '2025-10-30 10:00:00+00')).toBe('2025-10-30T10:00:00+00:00');
    expect(iso(1184, '2025-10-30 10:00:00.5+05:30')).toBe('2025-10-30T10:00:00.5+05:30');
    expect(iso(1184, '1900-01-01 00:00:00+00:53:28')).toBe('1900-01-01T00:00:00+00:53:28');
    expect(iso(1114, '2025-10-30 10:00:00.123456')).toBe('2025-10-30T10:00:00.123456');
    expect(iso(1184, 'infinity')).toBe('infinity');
    expect(iso(1114, '-infinity')).toBe('-infinity');
    expect(iso(1184, '0044-03-15 12:00:00+00 BC')).toBe('-000043-03-15T12:00:00+00:00');
    expect(iso(1184, '0001-01-01 00:00:00+00 BC')).toBe('+000000-01-01T00:00:00+00:00');
    expect(iso(1184, '10000-01-01 00:00:00+00')).toBe('+010000-01-01T00:00:00+00:00');
    expect(iso(1082, '0044-03-15 BC')).toBe('-000043-03-15');
    expect(iso(1082, '2025-10-30')).toBe('2025-10-30');
    expect(iso(1266, '10:00:00+02')).toBe('10:00:00+02:00');
    // ECMAScript reads the expanded years as the same instants.
    expect(new Date('-000043-03-15T12:00:00+00:00').getUTCFullYear()).toBe(-43);
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
