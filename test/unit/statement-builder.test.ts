import { describe, expect, it } from 'vitest';
import type { ColumnMeta, TableMeta } from '../../src/adapter/catalog.js';
import { toOperation } from '../../src/adapter/operations.js';
import { buildStatement, type TableLookup } from '../../src/adapter/statement-builder.js';
import type { RequestPayload } from '../../src/events/request.js';
import { asyncRejection } from '../helpers/rejection.js';

const col = (name: string, type = 'text'): [string, ColumnMeta] => [
  name,
  { name, type, isJson: type === 'jsonb' },
];
const logs: TableMeta = {
  schema: 'public',
  name: 'agent_execution_logs',
  columns: new Map([
    col('execution_id', 'uuid'),
    col('agent_name'),
    col('status'),
    col('quality_score', 'numeric'),
    col('metadata', 'jsonb'),
    col('completed_at', 'timestamptz'),
  ]),
  primaryKey: ['execution_id'],
};
const lookup: TableLookup = { table: async (name) => (name === logs.name ? logs : undefined) };

async function build(payload: RequestPayload) {
  const op = toOperation(payload, false);
  if (!('table' in op)) throw new Error('expected a table operation');
  return buildStatement(op, lookup);
}

function failure(payload: RequestPayload) {
  return asyncRejection(() => build(payload));
}

describe('statement builder', () => {
  it('INSERT quotes identifiers, passes values as parameters, returns the primary key by default', async () => {
    const s = await build({
      operation_type: 'INSERT',
      table: 'agent_execution_logs',
      data: { agent_name: 'a', metadata: { k: [1] } },
    });
    expect(s.text).toBe(
      'INSERT INTO "public"."agent_execution_logs" ("agent_name", "metadata") VALUES ($1, $2) RETURNING "execution_id"',
    );
    expect(s.values).toEqual(['a', '{"k":[1]}']);
  });

  it('UPDATE with operators, IS NULL, $in, and returning *', async () => {
    const s = await build({
      operation_type: 'UPDATE',
      table: 'agent_execution_logs',
      data: { status: 'success' },
      where: {
        quality_score: { $gte: 0.5, $lt: 0.9 },
        completed_at: null,
        agent_name: { $in: ['a', 'b'] },
        status: { $ne: null },
      },
      returning: '*',
    });
    expect(s.text).toBe(
      'UPDATE "public"."agent_execution_logs" SET "status" = $1 WHERE "quality_score" >= $2 AND "quality_score" < $3 AND "completed_at" IS NULL AND "agent_name" = ANY($4) AND "status" IS NOT NULL RETURNING *',
    );
    expect(s.values).toEqual(['success', 0.5, 0.9, ['a', 'b']]);
  });

  it('DELETE with $nin and $ilike', async () => {
    const s = await build({
      operation_type: 'DELETE',
      table: 'agent_execution_logs',
      where: { agent_name: { $nin: ['x'] }, status: { $ilike: 'S%' } },
    });
    expect(s.text).toBe(
      'DELETE FROM "public"."agent_execution_logs" WHERE "agent_name" <> ALL($1) AND "status" ILIKE $2',
    );
  });

  it('unknown tables, columns and operators are validation errors that never reach SQL', async () => {
    expect(await failure({ operation_type: 'INSERT', table: 'nope', data: { a: 1 } })).toMatchObject({
      code: 'VALIDATION_ERROR',
    });
    const f = await failure({
      operation_type: 'INSERT',
      table: 'agent_execution_logs',
      data: { 'x"; DROP TABLE y; --': 1 },
    });
    expect(f.code).toBe('VALIDATION_ERROR');
    expect(f.message).toMatch(/unknown column/);
    expect(
      (
        await failure({
          operation_type: 'DELETE',
          table: 'agent_execution_logs',
          where: { status: { $regex: 'x' } },
        })
      ).message,
    ).toMatch(/unknown where operator/);
  });

  it('UPDATE and DELETE with an empty where are refused', async () => {
    expect(
      (await failure({ operation_type: 'DELETE', table: 'agent_execution_logs', where: {} })).message,
    ).toMatch(/empty where/);
    expect(
      (await failure({ operation_type: 'UPDATE', table: 'agent_execution_logs', data: { status: 'x' } }))
        .code,
    ).toBe('VALIDATION_ERROR');
  });

  it('the older dialect maps: QUERY + entity_type + filters + limit/offset, UPSERT on the primary key', async () => {
    const q = await build({
      operation_type: 'QUERY',
      entity_type: 'agent_execution_logs',
      filters: { status: 'success' },
      limit: 5,
      offset: 10,
    });
    expect(q.text).toBe(
      'SELECT * FROM "public"."agent_execution_logs" WHERE "status" = $1 LIMIT 5 OFFSET 10',
    );
    expect(q.readOnly).toBe(true);
    const u = await build({
      operation_type: 'UPSERT',
      entity_type: 'agent_execution_logs',
      data: { execution_id: 'e', status: 's' },
    });
    expect(u.text).toBe(
      'INSERT INTO "public"."agent_execution_logs" ("execution_id", "status") VALUES ($1, $2) ON CONFLICT ("execution_id") DO UPDATE SET "status" = EXCLUDED."status" RETURNING "execution_id"',
    );
    expect(toOperation({ operation_type: 'QUERY', query: 'SELECT 1' }, false)).toMatchObject({
      kind: 'sql',
      policy: { kind: 'read' },
    });
  });
});
