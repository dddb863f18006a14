import { beforeAll, describe, expect, it } from 'vitest';
import { SqlValidator } from '../../src/adapter/sql-validator.js';
import { rejection } from '../helpers/rejection.js';

let v: SqlValidator;
beforeAll(async () => {
  v = await SqlValidator.create();
});

describe('SqlValidator', () => {
  it.each([
    ['SELECT reply FROM dbbridge_idempotency', { kind: 'read' as const }],
    [
      'SELECT * FROM agent_execution_logs WHERE EXISTS (SELECT 1 FROM public.dbbridge_idempotency)',
      { kind: 'read' as const },
    ],
    ["UPDATE dbbridge_idempotency SET reply = '{}'", { kind: 'execute' as const, allowDdl: false }],
    [
      'WITH d AS (DELETE FROM dbbridge_idempotency RETURNING 1) SELECT 1',
      { kind: 'execute' as const, allowDdl: true },
    ],
  ])('refuses the recorded replies of exactly-once writes to every request: %s', (sql, policy) => {
    expect(rejection(() => v.check(sql, policy))).toMatchObject({
      code: 'VALIDATION_ERROR',
      message: expect.stringContaining('dbbridge_idempotency'),
    });
  });

  it('lets one SELECT through as a read', () => {
    expect(v.check('SELECT * FROM agent_execution_logs WHERE agent_name = $1', { kind: 'read' })).toBe(
      'read',
    );
    expect(v.check('WITH x AS (SELECT 1) SELECT * FROM x', { kind: 'read' })).toBe('read');
  });

  it('a syntax error is DATABASE_OPERATION_FAILED with SQLSTATE 42601 and the parser message', () => {
    const f = rejection(() => v.check('SELET * FROM agent_execution_logs', { kind: 'read' }));
    expect(f).toMatchObject({
      code: 'DATABASE_OPERATION_FAILED',
      sqlstate: '42601',
      message: 'syntax error at or near "SELET"',
      position: '1',
    });
  });

  it('refuses more than one statement, and none', () => {
    expect(rejection(() => v.check('SELECT 1; SELECT 2', { kind: 'read' })).code).toBe('VALIDATION_ERROR');
    expect(rejection(() => v.check('  ;', { kind: 'read' })).message).toMatch(
      /exactly one SQL statement, got 0/,
    );
  });

  it('a SELECT request cannot delete, not even through WITH, nor create tables with SELECT INTO', () => {
    expect(rejection(() => v.check('DELETE FROM t', { kind: 'read' })).code).toBe('VALIDATION_ERROR');
    expect(
      rejection(() => v.check('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', { kind: 'read' }))
        .code,
    ).toBe('VALIDATION_ERROR');
    expect(rejection(() => v.check('SELECT * INTO t2 FROM t', { kind: 'read' })).code).toBe(
      'VALIDATION_ERROR',
    );
  });

  it('EXECUTE takes DML, refuses session changes always and DDL unless allowed', () => {
    const exec = { kind: 'execute', allowDdl: false } as const;
    expect(v.check('UPDATE t SET a = 1 WHERE b = 2', exec)).toBe('write');
    expect(v.check('INSERT INTO t VALUES (1), (2)', exec)).toBe('write');
    for (const sql of [
      'SET statement_timeout = 0',
      'BEGIN',
      'COMMIT',
      'DISCARD ALL',
      "COPY t FROM PROGRAM 'x'",
      'RESET ALL',
    ]) {
      expect(rejection(() => v.check(sql, { kind: 'execute', allowDdl: true })).code, sql).toBe(
        'VALIDATION_ERROR',
      );
    }
    expect(rejection(() => v.check('DROP TABLE t', exec)).message).toMatch(/DBBRIDGE_ALLOW_DDL/);
    expect(v.check('CREATE TABLE t2 (a int)', { kind: 'execute', allowDdl: true })).toBe('ddl');
  });

  it('refuses NOTIFY even with DDL allowed, as pg_notify (a counterexample found by fuzzing)', () => {
    for (const policy of [
      { kind: 'execute', allowDdl: true },
      { kind: 'transaction', allowDdl: true },
    ] as const) {
      expect(rejection(() => v.check("NOTIFY chan, 'payload'", policy))).toMatchObject({
        code: 'VALIDATION_ERROR',
        message: 'NOTIFY is refused: it sends notifications to other sessions (as pg_notify)',
      });
    }
  });

  it('an exact policy takes only its statement kind', () => {
    expect(v.check('DELETE FROM t WHERE a = 1', { kind: 'exact', node: 'DeleteStmt' })).toBe('write');
    expect(rejection(() => v.check('DROP TABLE t', { kind: 'exact', node: 'DeleteStmt' })).code).toBe(
      'VALIDATION_ERROR',
    );
  });
});
