import { prepareValue } from 'pg/lib/utils.js';
import pgTypes from 'pg-types';
import { parse as parseArrayLiteral } from 'postgres-array';
import type { ColumnInfo } from './reply.js';

/**
 * How values cross the bus. Parameters travel as JSON; anything JSON cannot hold (Date, bigint,
 * Buffer, arrays of those) is encoded to the text `pg` itself would send. Results travel either as
 * natural JSON objects (the seed's format) or as PostgreSQL text values with type OIDs, which the
 * client decodes with `pg-types`, the parsers `pg` uses, so rows equal what `pg` returns.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

function isJsonNative(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJsonNative);
  return false;
}

/** Encodes one query parameter for the wire, with `pg`'s semantics. */
export function encodeParam(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (isJsonNative(value)) return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return String(value); // NaN, Infinity: as pg sends them
  if (value instanceof Uint8Array)
    return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
  // Date, arrays holding non-JSON values, objects with toPostgres, plain objects (JSON text for json/jsonb).
  return prepareValue(value);
}

export function encodeParams(params: readonly unknown[] | undefined): unknown[] {
  return params === undefined ? [] : params.map(encodeParam);
}

// ---------------------------------------------------------------------------------------------
// Results: PostgreSQL text -> natural JSON (adapter side, seed format)

type TextConverter = (text: string) => unknown;

const asText: TextConverter = (text) => text;
const asInt: TextConverter = (text) => Number.parseInt(text, 10);
const asBool: TextConverter = (text) => text === 't';
const asJson: TextConverter = (text) => JSON.parse(text);

/** `JSON.rawJSON` (Node 21+): a value that `JSON.stringify` writes as the given literal, unchanged. */
const rawJson = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON;
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * int8, numeric, float4 and float8: the JSON number literal of PostgreSQL's own text, digit for
 * digit (no trip through a double), so a reader that parses decimals exactly gets PostgreSQL's
 * value. `NaN`, `Infinity` and `-Infinity`, which no JSON number can hold, are the JSON strings
 * `"NaN"`, `"Infinity"` and `"-Infinity"` (PostgreSQL's text), for every float and numeric column.
 */
const asExactNumber: TextConverter = (text) => {
  if (!JSON_NUMBER.test(text)) return text;
  if (rawJson !== undefined) return rawJson(text);
  const n = Number(text); // runtimes without JSON.rawJSON: exact up to 2^53 and 17 digits only
  return Number.isFinite(n) ? n : text;
};

/**
 * Timestamps (and dates) as ISO 8601: `2025-10-30 10:00:00.5+02` -> `2025-10-30T10:00:00.5+02:00`,
 * full precision, the offset as hours:minutes (PostgreSQL's seconds, if any, kept). Years outside
 * 0001-9999 use ISO 8601's expanded form with a sign and six digits, as ECMAScript's `Date` reads
 * it, and astronomical numbering for BC (1 BC is `+000000`, 44 BC is `-000043`).
 * `infinity` and `-infinity` have no ISO form: they stay PostgreSQL's strings.
 */
const asIsoTimestamp: TextConverter = (text) => {
  const match = /^(\d{4,})-(\d\d-\d\d)(?: (\d\d:\d\d:\d\d(?:\.\d+)?))?([+-]\d\d(?::\d\d){0,2})?( BC)?$/.exec(
    text,
  );
  if (match === null) return text; // infinity, -infinity
  const [, yearText, monthDay, time, offset, bc] = match as unknown as [
    string,
    string,
    string,
    string?,
    string?,
    string?,
  ];
  let year = Number(yearText);
  if (bc !== undefined) year = 1 - year;
  const yearOut =
    year >= 1 && year <= 9999
      ? yearText.padStart(4, '0')
      : `${year < 0 ? '-' : '+'}${String(Math.abs(year)).padStart(6, '0')}`;
  const zone = offset === undefined ? '' : offset.length === 3 ? `${offset}:00` : offset;
  return `${yearOut}-${monthDay}${time === undefined ? '' : `T${time}`}${zone}`;
};
/** time with time zone: `10:00:00+02` -> `10:00:00+02:00`. */
const asIsoTimeTz: TextConverter = (text) => (/[+-]\d\d$/.test(text) ? `${text}:00` : text);

const NATURAL_SCALARS = new Map<number, TextConverter>([
  [16, asBool],
  [20, asExactNumber],
  [21, asInt],
  [23, asInt],
  [26, asInt],
  [700, asExactNumber],
  [701, asExactNumber],
  [1700, asExactNumber],
  [114, asJson],
  [3802, asJson],
  [1114, asIsoTimestamp],
  [1184, asIsoTimestamp],
  [1082, asIsoTimestamp],
  [1266, asIsoTimeTz],
]);

/** Array type OID -> element type OID, for the element types that convert. */
const ARRAY_ELEMENTS = new Map<number, number>([
  [1000, 16],
  [1016, 20],
  [1005, 21],
  [1007, 23],
  [1028, 26],
  [1021, 700],
  [1022, 701],
  [1231, 1700],
  [199, 114],
  [3807, 3802],
  [1115, 1114],
  [1185, 1184],
  [1009, 25],
  [1015, 1043],
  [1014, 1042],
  [2951, 2950],
  [1182, 1082],
  [1270, 1266],
  [1001, 17],
]);

const naturalConverters = new Map<number, TextConverter>();

/** The converter from PostgreSQL text to a natural JSON value, for one type OID. Unknown types stay text. */
export function naturalConverter(typeOid: number): TextConverter {
  let converter = naturalConverters.get(typeOid);
  if (converter !== undefined) return converter;
  const element = ARRAY_ELEMENTS.get(typeOid);
  if (element !== undefined) {
    const convertElement = NATURAL_SCALARS.get(element) ?? asText;
    converter = (text) => parseArrayLiteral(text, (v) => (v === null ? null : convertElement(v)));
  } else {
    converter = NATURAL_SCALARS.get(typeOid) ?? asText;
  }
  naturalConverters.set(typeOid, converter);
  return converter;
}

/** Builds seed-format row objects from text rows. Like `pg`, a later column wins over an earlier one of the same name. */
export function naturalRows(
  columns: readonly ColumnInfo[],
  textRows: readonly (readonly (string | null)[])[],
) {
  const converters = columns.map((c) => naturalConverter(c.type_oid));
  return textRows.map((row) => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < columns.length; i++) {
      const value = row[i] ?? null;
      out[(columns[i] as ColumnInfo).name] = value === null ? null : (converters[i] as TextConverter)(value);
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Results: PostgreSQL text -> the values `pg` returns (client side)

export type TypeParserLookup = (typeOid: number) => (text: string) => unknown;

/** The type parsers `pg` uses by default (including any `pg.types.setTypeParser` overrides in this process). */
export const pgTypeParser: TypeParserLookup = (oid) => pgTypes.getTypeParser(oid, 'text');

/** Decodes text rows into objects exactly as `pg` builds them. */
export function decodeTextRows(
  columns: readonly ColumnInfo[],
  textRows: readonly (readonly (string | null)[])[],
  lookup: TypeParserLookup = pgTypeParser,
): Record<string, unknown>[] {
  const parsers = columns.map((c) => lookup(c.type_oid));
  const names = columns.map((c) => c.name);
  return textRows.map((row) => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < names.length; i++) {
      const value = row[i] ?? null;
      out[names[i] as string] = value === null ? null : (parsers[i] as (t: string) => unknown)(value);
    }
    return out;
  });
}
