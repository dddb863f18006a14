/** The bounds of a request, checked with no I/O: what the adapter refuses before using a field. */
import { describe, expect, it } from 'vitest';
import { ConnectionLost, toFailure } from '../../src/adapter/error-mapping.js';
import { jsonDepth, payloadProblem, REQUEST_LIMITS, statementProblem } from '../../src/events/limits.js';
import { RequestEnvelope } from '../../src/events/request.js';

const nested = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { k: v };
  return v;
};

function envelope(change: Record<string, unknown> = {}, options?: Record<string, unknown>) {
  return {
    event_id: 'e-1',
    event_type: 'DATABASE_QUERY_REQUESTED',
    correlation_id: 'c-1',
    timestamp: '2026-01-01T00:00:00Z',
    service: 'unit',
    payload: { operation_type: 'SELECT', sql: 'SELECT 1', ...(options ? { options } : {}) },
    ...change,
  };
}

const valid = (value: unknown) => RequestEnvelope.safeParse(value).success;

describe('request envelope bounds', () => {
  it.each([
    ['max_rows 2**32 (clamped by the adapter, not refused)', envelope({}, { max_rows: 2 ** 32 }), true],
    ['max_rows 1e15', envelope({}, { max_rows: 1e15 }), true],
    ['max_rows 1e300 (not a safe integer)', envelope({}, { max_rows: 1e300 }), false],
    ['max_rows 0', envelope({}, { max_rows: 0 }), false],
    ['max_rows -1', envelope({}, { max_rows: -1 }), false],
    ['max_rows 1.5', envelope({}, { max_rows: 1.5 }), false],
    ['timeout_ms one hour', envelope({}, { timeout_ms: REQUEST_LIMITS.maxTimeoutMs }), true],
    ['timeout_ms one hour + 1', envelope({}, { timeout_ms: REQUEST_LIMITS.maxTimeoutMs + 1 }), false],
    ['timeout_ms 0', envelope({}, { timeout_ms: 0 }), false],
    ['reply_partition 0', envelope({ reply_partition: 0 }), true],
    ['reply_partition -1', envelope({ reply_partition: -1 }), false],
    ['reply_partition 1.5', envelope({ reply_partition: 1.5 }), false],
    ['reply_partition "3"', envelope({ reply_partition: '3' }), false],
    [
      'correlation_id at the limit',
      envelope({ correlation_id: 'c'.repeat(REQUEST_LIMITS.maxIdLength) }),
      true,
    ],
    [
      'correlation_id beyond the limit',
      envelope({ correlation_id: 'c'.repeat(REQUEST_LIMITS.maxIdLength + 1) }),
      false,
    ],
    ['event_id beyond the limit', envelope({ event_id: 'e'.repeat(REQUEST_LIMITS.maxIdLength + 1) }), false],
    [
      'client_id beyond the limit',
      envelope({ client_id: 'x'.repeat(REQUEST_LIMITS.maxIdLength + 1) }),
      false,
    ],
    ['service beyond the limit', envelope({ service: 's'.repeat(REQUEST_LIMITS.maxIdLength + 1) }), false],
  ])('%s', (_name, value, ok) => {
    expect(valid(value)).toBe(ok);
  });
});

describe('statementProblem', () => {
  it('takes 65,535 parameters and refuses 65,536', () => {
    expect(statementProblem('SELECT 1', new Array(REQUEST_LIMITS.maxParams).fill(1))).toBeUndefined();
    expect(statementProblem('SELECT 1', new Array(REQUEST_LIMITS.maxParams + 1).fill(1))).toMatch(
      /65536 parameters; PostgreSQL takes at most 65535/,
    );
  });

  it('refuses a NUL in the text and text beyond the length limit', () => {
    expect(statementProblem('SELECT 1\u0000', [])).toMatch(/NUL/);
    expect(statementProblem('x'.repeat(REQUEST_LIMITS.maxSqlLength), [])).toBeUndefined();
    expect(statementProblem('x'.repeat(REQUEST_LIMITS.maxSqlLength + 1), [])).toMatch(/characters/);
  });

  it('refuses a parameter nested deeper than the limit, and names it', () => {
    expect(statementProblem('SELECT $1', [nested(REQUEST_LIMITS.maxParamDepth)])).toBeUndefined();
    expect(
      statementProblem('SELECT $2', [1, nested(REQUEST_LIMITS.maxParamDepth + 1)], 'statements[4]'),
    ).toBe(`statements[4].params[1] is nested deeper than ${REQUEST_LIMITS.maxParamDepth} levels`);
  });
});

describe('payloadProblem', () => {
  it('finds the BATCH statement beyond the bounds', () => {
    const statements = [{ sql: 'SELECT 1' }, { sql: 'SELECT $1', params: new Array(70_000).fill(0) }];
    expect(payloadProblem({ statements })).toMatch(/^statements\[1\]\.params has 70000 parameters/);
  });

  it('refuses data with more columns than parameters can carry, and deeply nested data', () => {
    const wide = Object.fromEntries(
      Array.from({ length: REQUEST_LIMITS.maxParams + 1 }, (_, i) => [`c${i}`, i]),
    );
    expect(payloadProblem({ data: wide })).toMatch(/^data has more than 65535 columns/);
    expect(payloadProblem({ where: { a: nested(500) } })).toMatch(/^where is nested deeper/);
    expect(
      payloadProblem({ data: { a: 1, b: [1, { c: 2 }] }, where: { id: { $in: [1, 2] } } }),
    ).toBeUndefined();
  });
});

describe('jsonDepth', () => {
  it('measures nesting without recursion, even 100,000 deep', () => {
    expect(jsonDepth(1)).toBe(0);
    expect(jsonDepth([])).toBe(1);
    expect(jsonDepth({ a: [1, [2]] })).toBe(3);
    expect(jsonDepth(nested(100_000))).toBe(100_000);
    expect(jsonDepth(nested(100_000), 10)).toBe(11);
  });
});

describe('what counts as the database being down', () => {
  const pgError = (code: string, severity: string) =>
    Object.assign(new Error(`pg ${code}`), { code, severity });

  it('a protocol violation (08P01) caused by the request is not a connection failure', () => {
    expect(toFailure(pgError('08P01', 'ERROR'), 'execute')).toMatchObject({
      code: 'DATABASE_OPERATION_FAILED',
      errorType: 'ProtocolViolation',
      sqlstate: '08P01',
      retryable: false,
    });
  });

  it('a server shutting down, a refused or a lost connection are', () => {
    expect(toFailure(pgError('57P01', 'FATAL'), 'execute').code).toBe('DATABASE_CONNECTION_FAILED');
    expect(toFailure(pgError('08006', 'FATAL'), 'execute').code).toBe('DATABASE_CONNECTION_FAILED');
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(toFailure(refused, 'connect').code).toBe('DATABASE_CONNECTION_FAILED');
    expect(toFailure(new Error('Connection terminated unexpectedly'), 'execute').code).toBe(
      'DATABASE_CONNECTION_FAILED',
    );
  });

  it('a connection whose pipelined answers never all came is lost: retryable, maybe executed', () => {
    expect(
      toFailure(new ConnectionLost('the connection did not settle after the statement'), 'execute'),
    ).toMatchObject({
      code: 'DATABASE_CONNECTION_FAILED',
      retryable: true,
      executed: true,
    });
  });
});
