import { beforeAll, describe, expect, it } from 'vitest';
import { OPERATION_RULES, toOperation } from '../../src/adapter/operations.js';
import { SqlValidator } from '../../src/adapter/sql-validator.js';
import { WireRequestEnvelope } from '../../src/events/absent.js';
import { OperationType, type RequestPayload } from '../../src/events/request.js';
import { rejection } from '../helpers/rejection.js';

let validator: SqlValidator;
beforeAll(async () => {
  validator = await SqlValidator.create();
});

/** The older Python client: every optional field present, `null` when unset. */
function olderDialect(payload: Record<string, unknown>) {
  return {
    event_id: 'e1',
    event_type: 'DATABASE_QUERY_REQUESTED',
    correlation_id: 'c1',
    timestamp: '2025-10-30T10:00:00.000Z',
    service: 'legacy',
    reply_partition: null,
    deadline: null,
    client_id: null,
    payload: {
      entity_type: null,
      query: null,
      sql: null,
      params: null,
      filters: {},
      where: null,
      limit: null,
      offset: null,
      data: null,
      returning: null,
      options: { timeout_ms: null, max_rows: null, row_format: null },
      transaction_id: null,
      transaction: null,
      statements: null,
      conflict_columns: null,
      ...payload,
    },
  };
}

describe('null means absent', () => {
  it('in every optional field of the request, its payload and its options, in both dialects', () => {
    const parsed = WireRequestEnvelope.parse(
      olderDialect({ operation_type: 'QUERY', query: 'SELECT 1', params: null }),
    );
    expect(parsed.payload).toEqual({
      operation_type: 'QUERY',
      query: 'SELECT 1',
      filters: {},
      options: {},
    });
    expect('reply_partition' in parsed).toBe(false);
    const seed = WireRequestEnvelope.parse(
      olderDialect({ operation_type: 'SELECT', sql: 'SELECT $1', params: [null], filters: null }),
    );
    expect(seed.payload.params).toEqual([null]);
  });

  it('leaves null alone inside data, where and params, where it is SQL NULL', () => {
    const parsed = WireRequestEnvelope.parse(
      olderDialect({
        operation_type: 'UPDATE',
        entity_type: 't',
        data: { a: null },
        filters: { b: null, c: { $ne: null } },
        statements: [{ sql: 'SELECT 1', params: null }],
      }),
    );
    expect(parsed.payload.data).toEqual({ a: null });
    expect(parsed.payload.filters).toEqual({ b: null, c: { $ne: null } });
    expect(parsed.payload.statements).toEqual([{ sql: 'SELECT 1' }]);
  });

  it('a required field stays required', () => {
    expect(
      WireRequestEnvelope.safeParse({ ...olderDialect({ operation_type: 'QUERY' }), service: null }).success,
    ).toBe(false);
  });

  it('`returning: null` is the default (an INSERT returns its key); `returning: []` asks for none', () => {
    const insert = (returning: unknown) =>
      toOperation(
        WireRequestEnvelope.parse(
          olderDialect({ operation_type: 'INSERT', entity_type: 't', data: { a: 1 }, returning }),
        ).payload,
        false,
      );
    expect(insert(null)).toMatchObject({ kind: 'insert', returning: undefined });
    expect(insert([])).toMatchObject({ kind: 'insert', returning: null });
  });
});

describe('toOperation: one rule per operation type', () => {
  it('has a rule for every operation type of both dialects', () => {
    expect(Object.keys(OPERATION_RULES).sort()).toEqual([...OperationType.options].sort());
  });

  it('older dialect writes: SQL in query, the table in entity_type, no data: the SQL runs as exactly that kind', () => {
    const cases = [
      ['INSERT', 'INSERT INTO t (a) VALUES ($1)', { kind: 'exact', node: 'InsertStmt' }],
      [
        'UPSERT',
        'INSERT INTO t (a) VALUES ($1) ON CONFLICT (a) DO NOTHING',
        { node: 'InsertStmt', onConflict: true },
      ],
      ['UPDATE', 'UPDATE t SET a = $1', { kind: 'exact', node: 'UpdateStmt' }],
      ['DELETE', 'DELETE FROM t WHERE a = $1', { kind: 'exact', node: 'DeleteStmt' }],
    ] as const;
    for (const [operation_type, query, policy] of cases) {
      const payload: RequestPayload = { operation_type, query, entity_type: 't', filters: {}, params: [1] };
      const op = toOperation(payload, false);
      expect(op).toMatchObject({ kind: 'sql', sql: query, params: [1], policy });
      if (op.kind !== 'sql') throw new Error('expected sql');
      expect(validator.check(op.sql, op.policy)).toBe('write');
    }
  });

  it('UPSERT SQL must be an INSERT with ON CONFLICT; a kind never passes for another', () => {
    const check = (operation_type: RequestPayload['operation_type'], query: string) => () => {
      const op = toOperation({ operation_type, query, entity_type: 't' }, false);
      if (op.kind !== 'sql') throw new Error('expected sql');
      return validator.check(op.sql, op.policy);
    };
    expect(rejection(check('UPSERT', 'INSERT INTO t (a) VALUES (1)')).message).toMatch(/ON CONFLICT/);
    expect(rejection(check('INSERT', 'DELETE FROM t')).code).toBe('VALIDATION_ERROR');
    expect(rejection(check('DELETE', 'WITH x AS (UPDATE t SET a = 1) DELETE FROM t')).message).toMatch(
      /data-modifying WITH/,
    );
    expect(check('INSERT', 'INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING')()).toBe('write');
  });

  it('SQL together with data is ambiguous and refused', () => {
    expect(
      rejection(() =>
        toOperation(
          { operation_type: 'INSERT', query: 'INSERT INTO t VALUES (1)', entity_type: 't', data: { a: 1 } },
          false,
        ),
      ).message,
    ).toMatch(/either SQL or payload.data/);
  });

  it('limit and offset page a read with SQL; on a write they are refused', () => {
    const op = toOperation({ operation_type: 'QUERY', query: 'SELECT 1;', limit: 1, offset: 2 }, false);
    expect(op).toMatchObject({ kind: 'sql', page: { limit: 1, offset: 2 } });
    expect(validator.paged('SELECT a FROM t ORDER BY a -- last\n;', { limit: 1, offset: 2 })).toBe(
      'SELECT * FROM (SELECT a FROM t ORDER BY a -- last\n\n) AS dbbridge_page LIMIT 1 OFFSET 2',
    );
    expect(validator.paged("  SELECT 'é' ; ", { limit: 0 })).toBe(
      "SELECT * FROM (SELECT 'é' \n) AS dbbridge_page LIMIT 0",
    );
    expect(
      rejection(() => toOperation({ operation_type: 'DELETE', query: 'DELETE FROM t', limit: 1 }, false))
        .message,
    ).toMatch(/limit and offset page a read/);
    expect(
      rejection(() =>
        toOperation(
          { operation_type: 'UPDATE', table: 't', data: { a: 1 }, where: { a: 2 }, offset: 1 },
          false,
        ),
      ).message,
    ).toMatch(/limit and offset page a read/);
  });

  it('transaction operations and EXECUTE', () => {
    expect(toOperation({ operation_type: 'BEGIN' }, false)).toEqual({ kind: 'begin', settings: {} });
    expect(toOperation({ operation_type: 'COMMIT', transaction_id: 'x' }, false)).toEqual({
      kind: 'end',
      action: 'commit',
      transactionId: 'x',
    });
    expect(rejection(() => toOperation({ operation_type: 'ROLLBACK' }, false)).message).toMatch(
      /transaction_id/,
    );
    expect(toOperation({ operation_type: 'CANCEL', cancel_correlation_id: 'c1' }, false)).toEqual({
      kind: 'cancel',
      correlationId: 'c1',
    });
    expect(rejection(() => toOperation({ operation_type: 'CANCEL' }, false)).message).toMatch(
      /cancel_correlation_id/,
    );
    expect(toOperation({ operation_type: 'EXECUTE', sql: 'SELECT 1' }, true)).toMatchObject({
      policy: { kind: 'execute', allowDdl: true },
    });
    expect(rejection(() => toOperation({ operation_type: 'EXECUTE', table: 't' }, false)).message).toBe(
      'EXECUTE needs payload.sql',
    );
  });
});
