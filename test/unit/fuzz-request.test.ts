/**
 * Property-based fuzzing of the request validator (issue 9 §4): what the adapter does with a
 * decoded message before it touches the database (the wire schema with `null` as absent, the
 * bounds of `src/events/limits.ts`, the operation rules). No generated envelope makes it throw
 * anything but a coded refusal; every refusal is a VALIDATION_ERROR; whatever it accepts is within
 * the documented bounds; and a valid request with one field pushed out of bounds is refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RequestRejected } from '../../src/adapter/failures.js';
import { toOperation } from '../../src/adapter/operations.js';
import { WireRequestEnvelope } from '../../src/events/absent.js';
import { jsonDepth, payloadProblem, REQUEST_LIMITS } from '../../src/events/limits.js';
import { OperationType, type RequestEnvelope } from '../../src/events/request.js';
import { fuzz } from '../helpers/fuzz.js';

type Verdict = { accepted: RequestEnvelope } | { refused: string };

/** The adapter's checks of one decoded message, in its order (src/adapter/adapter.ts, `#answer` and `#execute`). */
function validate(json: unknown): Verdict {
  const parsed = WireRequestEnvelope.safeParse(json);
  if (!parsed.success) return { refused: 'VALIDATION_ERROR' };
  if (payloadProblem(parsed.data.payload) !== undefined) return { refused: 'VALIDATION_ERROR' };
  try {
    toOperation(parsed.data.payload, false);
  } catch (error) {
    if (!(error instanceof RequestRejected)) throw error;
    return { refused: error.failure.code };
  }
  return { accepted: parsed.data };
}

/** Values that tend to break validators: edges of every bound, wrong types, odd strings. */
const nasty = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    null,
    '',
    ' ',
    '\u0000',
    'NaN',
    -1,
    -0,
    0,
    1.5,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    1e15,
    1e300,
    -1e300,
    Number.MAX_SAFE_INTEGER,
    REQUEST_LIMITS.maxTimeoutMs + 1,
    'x'.repeat(REQUEST_LIMITS.maxIdLength + 1),
    [],
    {},
    [null],
    { $lt: 1 },
    { __proto__: null },
    '2026-01-01T00:00:00Z',
    'SELECT 1',
  ),
);

const validPayload = fc.oneof(
  fc.record({
    operation_type: fc.constantFrom('SELECT', 'QUERY'),
    sql: fc.constant('SELECT $1::int'),
    params: fc.constant([1]),
  }),
  fc.record({ operation_type: fc.constant('EXECUTE'), sql: fc.constant('UPDATE t SET a = 1 WHERE b = 2') }),
  fc.record({
    operation_type: fc.constant('INSERT'),
    table: fc.constant('agent_execution_logs'),
    data: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), {
      minKeys: 1,
      maxKeys: 4,
    }),
  }),
  fc.record({
    operation_type: fc.constant('UPDATE'),
    table: fc.constant('t'),
    data: fc.constant({ a: 1 }),
    where: fc.constant({ id: { $gte: 1 } }),
  }),
  fc.record({
    operation_type: fc.constant('DELETE'),
    table: fc.constant('t'),
    where: fc.constant({ id: 1 }),
  }),
  fc.record({ operation_type: fc.constant('BEGIN') }),
  fc.record({ operation_type: fc.constant('COMMIT'), transaction_id: fc.uuid() }),
  fc.record({
    operation_type: fc.constant('BATCH'),
    statements: fc.array(fc.record({ sql: fc.constant('SELECT 1'), params: fc.constant([]) }), {
      minLength: 1,
      maxLength: 3,
    }),
  }),
  fc.record({ operation_type: fc.constant('CANCEL'), cancel_correlation_id: fc.uuid() }),
);

const validEnvelope = fc.record(
  {
    event_id: fc.uuid(),
    event_type: fc.constant('DATABASE_QUERY_REQUESTED'),
    correlation_id: fc.uuid(),
    timestamp: fc.constant('2026-12-05T01:00:00.000Z'),
    service: fc.constantFrom('svc', 'agent-router'),
    payload: validPayload,
    reply_partition: fc.nat({ max: 23 }),
    deadline: fc.constant('2026-12-05T01:00:10.000Z'),
    client_id: fc.constant('client-1'),
    idempotency_key: fc.constant('key-1'),
  },
  { requiredKeys: ['event_id', 'event_type', 'correlation_id', 'timestamp', 'service', 'payload'] },
);

/** Paths into an envelope where a field may be replaced. */
const PATHS = [
  ['event_id'],
  ['event_type'],
  ['correlation_id'],
  ['timestamp'],
  ['service'],
  ['payload'],
  ['reply_partition'],
  ['deadline'],
  ['client_id'],
  ['idempotency_key'],
  ['payload', 'operation_type'],
  ['payload', 'sql'],
  ['payload', 'query'],
  ['payload', 'params'],
  ['payload', 'table'],
  ['payload', 'data'],
  ['payload', 'where'],
  ['payload', 'filters'],
  ['payload', 'returning'],
  ['payload', 'limit'],
  ['payload', 'offset'],
  ['payload', 'options'],
  ['payload', 'options', 'timeout_ms'],
  ['payload', 'options', 'max_rows'],
  ['payload', 'options', 'row_format'],
  ['payload', 'transaction_id'],
  ['payload', 'transaction'],
  ['payload', 'statements'],
  ['payload', 'conflict_columns'],
  ['payload', 'cancel_correlation_id'],
] as const;

function withField(envelope: Record<string, unknown>, path: readonly string[], value: unknown) {
  const copy = structuredClone(envelope);
  let node: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1) as string] = value;
  return copy;
}

/** Bounds that must hold for anything accepted, checked independently of the schema. */
function expectWithinBounds(r: RequestEnvelope): void {
  const L = REQUEST_LIMITS;
  for (const id of [r.event_id, r.correlation_id, r.service, r.timestamp, r.client_id, r.idempotency_key]) {
    if (id !== undefined) expect(id.length).toBeLessThanOrEqual(L.maxIdLength);
  }
  expect(r.correlation_id.length).toBeGreaterThan(0);
  expect(OperationType.options).toContain(r.payload.operation_type);
  if (r.reply_partition !== undefined) {
    expect(Number.isSafeInteger(r.reply_partition) && r.reply_partition >= 0).toBe(true);
  }
  const o = r.payload.options;
  if (o?.timeout_ms !== undefined) {
    expect(Number.isSafeInteger(o.timeout_ms) && o.timeout_ms > 0 && o.timeout_ms <= L.maxTimeoutMs).toBe(
      true,
    );
  }
  if (o?.max_rows !== undefined) expect(Number.isSafeInteger(o.max_rows) && o.max_rows > 0).toBe(true);
  for (const n of [r.payload.limit, r.payload.offset]) {
    if (n !== undefined) expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
  }
  const statements = [
    { sql: r.payload.sql, params: r.payload.params },
    { sql: r.payload.query, params: undefined },
    ...(r.payload.statements ?? []),
  ];
  if (r.payload.statements !== undefined) {
    expect(r.payload.statements.length).toBeGreaterThan(0);
    expect(r.payload.statements.length).toBeLessThanOrEqual(L.maxStatements);
  }
  for (const s of statements) {
    if (s.sql !== undefined) {
      expect(typeof s.sql).toBe('string');
      expect(s.sql.length).toBeLessThanOrEqual(L.maxSqlLength);
      expect(s.sql.includes('\u0000')).toBe(false);
    }
    if (s.params !== undefined) {
      expect(Array.isArray(s.params)).toBe(true);
      expect(s.params.length).toBeLessThanOrEqual(L.maxParams);
      for (const p of s.params) expect(jsonDepth(p)).toBeLessThanOrEqual(L.maxParamDepth);
    }
  }
  for (const record of [r.payload.data, r.payload.where, r.payload.filters]) {
    if (record === undefined) continue;
    expect(record !== null && typeof record === 'object' && !Array.isArray(record)).toBe(true);
    expect(jsonDepth(record)).toBeLessThanOrEqual(L.maxParamDepth + 1);
  }
}

describe('fuzzing the request validator (fast-check, fixed seed)', () => {
  it('takes any JSON value without throwing: accepted within bounds, or a VALIDATION_ERROR', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (json) => {
        const verdict = validate(json);
        if ('refused' in verdict) expect(verdict.refused).toBe('VALIDATION_ERROR');
        else expectWithinBounds(verdict.accepted);
      }),
      fuzz(500),
    );
  });

  it('takes any envelope with any field replaced (wrong types, edges of every bound) without throwing', () => {
    let accepted = 0;
    fc.assert(
      fc.property(
        validEnvelope,
        fc.array(fc.tuple(fc.constantFrom(...PATHS), nasty), { minLength: 1, maxLength: 4 }),
        (envelope, changes) => {
          let json: Record<string, unknown> = envelope;
          for (const [path, value] of changes) json = withField(json, path, value);
          const verdict = validate(json);
          if ('refused' in verdict) expect(verdict.refused).toBe('VALIDATION_ERROR');
          else {
            accepted++;
            expectWithinBounds(verdict.accepted);
          }
        },
      ),
      fuzz(1500),
    );
    // Not all refused: the generator reaches the accepting side too (null is absent, for example).
    expect(accepted).toBeGreaterThan(0);
  });

  it('accepts the valid envelopes it starts from, also with null for every absent optional field', () => {
    fc.assert(
      fc.property(validEnvelope, fc.boolean(), (envelope, nulls) => {
        const json = nulls
          ? { ...envelope, client_id: null, deadline: null, payload: { ...envelope.payload, options: null } }
          : envelope;
        const verdict = validate(json);
        expect(verdict).toHaveProperty('accepted');
      }),
      fuzz(300),
    );
  });

  const outOfBounds: readonly [readonly string[], fc.Arbitrary<unknown>][] = [
    [['correlation_id'], fc.string({ minLength: REQUEST_LIMITS.maxIdLength + 1, maxLength: 400 })],
    [['event_id'], fc.string({ minLength: REQUEST_LIMITS.maxIdLength + 1, maxLength: 400 })],
    [['reply_partition'], fc.oneof(fc.integer({ max: -1 }), fc.double({ noInteger: true, noNaN: true }))],
    [
      ['payload', 'options', 'timeout_ms'],
      fc.oneof(fc.integer({ min: REQUEST_LIMITS.maxTimeoutMs + 1 }), fc.integer({ max: 0 })),
    ],
    [
      ['payload', 'options', 'max_rows'],
      fc.oneof(fc.integer({ max: 0 }), fc.constant(2 ** 60), fc.constant(1.5)),
    ],
    [
      ['payload', 'sql'],
      fc.constantFrom('SELECT 1\u0000', 'x'.repeat(REQUEST_LIMITS.maxSqlLength + 1), '', '   '),
    ],
    [
      ['payload', 'params'],
      fc
        .integer({ min: REQUEST_LIMITS.maxParams + 1, max: REQUEST_LIMITS.maxParams + 10 })
        .map((n) => Array.from({ length: n }, () => 0)),
    ],
    [
      ['payload', 'params'],
      fc.integer({ min: REQUEST_LIMITS.maxParamDepth + 1, max: 5000 }).map((depth) => {
        let v: unknown = 1;
        for (let i = 0; i < depth; i++) v = [v];
        return [v];
      }),
    ],
    [['payload', 'statements'], fc.constant([])],
    [
      ['payload', 'operation_type'],
      fc.string().filter((s) => !(OperationType.options as readonly string[]).includes(s)),
    ],
    [['idempotency_key'], fc.constantFrom('has space', '', 'tab\there', 'é')],
    [['deadline'], fc.constantFrom('tomorrow', '2026-13-01T00:00:00Z', '1')],
  ];

  it('refuses a valid request with one field pushed out of its bounds, with a VALIDATION_ERROR', () => {
    fc.assert(
      fc.property(
        fc
          .constantFrom(...outOfBounds)
          .chain(([path, value]) => fc.tuple(fc.constant(path), value, fc.constantFrom('SELECT', 'EXECUTE'))),
        ([path, value, operation]) => {
          const envelope = {
            event_id: 'e-1',
            event_type: 'DATABASE_QUERY_REQUESTED',
            correlation_id: 'c-1',
            timestamp: '2026-12-05T01:00:00.000Z',
            service: 'svc',
            payload: { operation_type: operation, sql: 'SELECT 1' },
          };
          expect(validate(envelope)).toHaveProperty('accepted');
          expect(validate(withField(envelope, path, value))).toEqual({ refused: 'VALIDATION_ERROR' });
        },
      ),
      fuzz(80),
    );
  });
});
