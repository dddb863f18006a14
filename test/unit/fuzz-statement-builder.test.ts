/**
 * Property-based fuzzing of the statement builder (issue 9 §4): arbitrary table, column and
 * where-key names (quotes, semicolons, comments, unicode, keywords) that exist in the catalog, and
 * arbitrary values, never yield SQL outside its intended shape. Each built statement is parsed with
 * PostgreSQL's own parser (libpg-query): exactly one statement of the expected kind, on exactly the
 * expected table, naming only that table's columns, with only the expected operators, every value a
 * parameter ($1..$n, each once, n = the values sent) and no other constant than LIMIT / OFFSET.
 * Names the catalog does not have, and unknown operators, are refused with a VALIDATION_ERROR.
 */
import fc from 'fast-check';
import { loadModule, parseSync } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ColumnMeta, TableMeta } from '../../src/adapter/catalog.js';
import { RequestRejected } from '../../src/adapter/failures.js';
import { toOperation } from '../../src/adapter/operations.js';
import { buildStatement, type Statement } from '../../src/adapter/statement-builder.js';
import { WHERE_OPERATORS } from '../../src/events/request.js';
import { fuzz } from '../helpers/fuzz.js';

beforeAll(async () => {
  await loadModule();
});

/** A name PostgreSQL can hold in its catalog: 1 to 63 bytes of UTF-8, no NUL. */
const nameArb = fc
  .oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 24 }),
    fc.constantFrom(
      '"',
      '""',
      '"; DROP TABLE agent_execution_logs; --',
      "a' OR '1'='1",
      '$1',
      'excluded',
      '*',
      ' ',
      'select',
      'a"b',
      '\\',
      'U&"\\0041"',
      '/*',
      '-- x',
      'public',
      'a.b',
      'Ünïcödé',
      '🙂',
    ),
  )
  .filter((n) => !n.includes('\u0000') && Buffer.byteLength(n) <= 63);

const valueArb = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom("'; DROP TABLE t; --", '$1', '*/', null),
);

/** A catalog of one table with 1 to 6 distinct columns, some JSON. */
const tableArb = fc
  .record({
    schema: nameArb,
    name: nameArb,
    columns: fc.uniqueArray(fc.tuple(nameArb, fc.boolean()), {
      minLength: 1,
      maxLength: 6,
      selector: ([n]) => n,
    }),
    pkCount: fc.nat({ max: 2 }),
  })
  .map(({ schema, name, columns, pkCount }): TableMeta => {
    const map = new Map<string, ColumnMeta>(
      columns.map(([n, json]) => [n, { name: n, type: json ? 'jsonb' : 'text', isJson: json }]),
    );
    return { schema, name, columns: map, primaryKey: columns.slice(0, pkCount).map(([n]) => n) };
  });

/** A where condition: a literal, null, or an operator object. */
const conditionArb = fc.oneof(
  valueArb,
  fc.dictionary(
    fc.constantFrom(...WHERE_OPERATORS),
    fc.oneof(valueArb, fc.array(valueArb, { maxLength: 3 })),
    { minKeys: 1, maxKeys: 3 },
  ),
);

const SQL_OPERATORS = new Set(['=', '<>', '<', '<=', '>', '>=', '~~', '~~*']);
const ALLOWED_NODES = new Set([
  'InsertStmt',
  'UpdateStmt',
  'DeleteStmt',
  'SelectStmt',
  'RangeVar',
  'ResTarget',
  'ColumnRef',
  'String',
  'A_Star',
  'ParamRef',
  'A_Expr',
  'BoolExpr',
  'NullTest',
  'List',
  'A_Const',
  'IndexElem',
]);
const KIND = {
  insert: 'InsertStmt',
  update: 'UpdateStmt',
  delete: 'DeleteStmt',
  select: 'SelectStmt',
} as const;

/** Everything the parse tree says about a built statement's shape; throws when it is not the intended one. */
function expectShape(
  statement: Statement,
  table: TableMeta,
  kind: keyof typeof KIND,
  page: { limit?: number; offset?: number },
) {
  const tree = parseSync(statement.text) as { stmts: { stmt: Record<string, unknown> }[] };
  expect(tree.stmts).toHaveLength(1);
  const root = tree.stmts[0]?.stmt as Record<string, unknown>;
  expect(Object.keys(root)).toEqual([KIND[kind]]);
  const relations: Record<string, unknown>[] = [];
  const columns: string[] = [];
  const params: number[] = [];
  const constants: unknown[] = [];
  const stack: [unknown, string][] = [[root, '']];
  while (stack.length > 0) {
    const [value, parentKey] = stack.pop() as [unknown, string];
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      for (const item of value) stack.push([item, parentKey]);
      continue;
    }
    const node = value as Record<string, unknown>;
    for (const [key, child] of Object.entries(node)) {
      if (/^[A-Z]/.test(key)) {
        expect(ALLOWED_NODES, `node ${key} in ${statement.text}`).toContain(key);
        const body = child as Record<string, unknown>;
        if (key === 'ParamRef') params.push(Number(body.number));
        if (key === 'A_Const') {
          expect(['limitCount', 'limitOffset'], statement.text).toContain(parentKey);
          constants.push(body);
        }
        if (key === 'A_Expr') {
          const op = (body.name as { String: { sval: string } }[]).map((n) => n.String.sval).join('.');
          expect(SQL_OPERATORS, statement.text).toContain(op);
          // The right side is always one parameter.
          expect(Object.keys(body.rexpr as object), statement.text).toEqual(['ParamRef']);
        }
        if (key === 'ColumnRef') {
          const fields = (body.fields as Record<string, { sval?: string }>[]).map((f) =>
            'A_Star' in f ? '*' : String(f.String?.sval),
          );
          // A column of the table, `*` (RETURNING *), or EXCLUDED.column of an upsert.
          const name = fields.length === 2 && fields[0] === 'excluded' ? fields[1] : fields[0];
          expect(
            fields.length === 1 || (fields.length === 2 && fields[0] === 'excluded'),
            statement.text,
          ).toBe(true);
          if (name !== '*') columns.push(String(name));
        }
        if (key === 'ResTarget' && typeof body.name === 'string') columns.push(body.name);
        if (key === 'IndexElem') columns.push(String(body.name));
      }
      if (key === 'relation' || key === 'RangeVar') relations.push(child as Record<string, unknown>);
      stack.push([child, key]);
    }
  }
  expect(
    relations.map((r) => [r.schemaname, r.relname]),
    statement.text,
  ).toEqual([[table.schema, table.name]]);
  for (const c of columns) expect(table.columns.has(c), `${c} in ${statement.text}`).toBe(true);
  // Every value is a parameter: $1..$n, each once, n = values sent.
  expect([...params].sort((a, b) => a - b)).toEqual(statement.values.map((_, i) => i + 1));
  const expectedConstants = [page.limit, page.offset].filter((n) => n !== undefined).length;
  expect(constants).toHaveLength(kind === 'select' ? expectedConstants : 0);
}

async function outcome(payload: Record<string, unknown>, table: TableMeta) {
  const lookup = { table: async (name: string) => (name === table.name ? table : undefined) };
  try {
    const op = toOperation(payload as never, false);
    if (!('table' in op)) throw new Error('expected a table operation');
    return { statement: await buildStatement(op, lookup), kind: op.kind };
  } catch (error) {
    if (error instanceof RequestRejected) return { refused: error.failure.code };
    throw error;
  }
}

/** Names of the table's columns, or (sometimes) a name it does not have. */
const columnOf = (table: TableMeta, stranger: boolean) =>
  stranger
    ? fc.oneof(fc.constantFrom(...table.columns.keys()), nameArb)
    : fc.constantFrom(...table.columns.keys());

function payloadArb(stranger: boolean) {
  return tableArb.chain((table) => {
    const cols = columnOf(table, stranger);
    const data = fc.dictionary(cols, valueArb, { minKeys: 1, maxKeys: 4 });
    const where = fc.dictionary(cols, conditionArb, { minKeys: 1, maxKeys: 3 });
    const returning = fc.oneof(
      fc.constant(undefined),
      fc.constant('*'),
      fc.array(cols, { minLength: 1, maxLength: 3 }),
    );
    const tableName = stranger ? fc.oneof(fc.constant(table.name), nameArb) : fc.constant(table.name);
    const payload = fc.oneof(
      fc.record(
        { operation_type: fc.constant('INSERT'), table: tableName, data, returning },
        { requiredKeys: ['operation_type', 'table', 'data'] },
      ),
      fc.record(
        {
          operation_type: fc.constant('UPSERT'),
          entity_type: tableName,
          data,
          conflict_columns: fc.array(cols, { minLength: 1, maxLength: 2 }),
        },
        { requiredKeys: ['operation_type', 'entity_type', 'data', 'conflict_columns'] },
      ),
      fc.record(
        { operation_type: fc.constant('UPDATE'), table: tableName, data, where, returning },
        { requiredKeys: ['operation_type', 'table', 'data', 'where'] },
      ),
      fc.record(
        { operation_type: fc.constant('DELETE'), table: tableName, where, returning },
        { requiredKeys: ['operation_type', 'table', 'where'] },
      ),
      fc.record(
        {
          operation_type: fc.constant('QUERY'),
          entity_type: tableName,
          filters: where,
          limit: fc.nat(),
          offset: fc.nat({ max: 2 ** 40 }),
        },
        { requiredKeys: ['operation_type', 'entity_type'] },
      ),
    );
    return fc.tuple(fc.constant(table), payload);
  });
}

describe('fuzzing the statement builder (fast-check, fixed seed)', () => {
  it('builds exactly one statement of the intended shape from any names the catalog has and any values', async () => {
    let built = 0;
    await fc.assert(
      fc.asyncProperty(payloadArb(false), async ([table, payload]) => {
        const result = await outcome(payload, table);
        if ('refused' in result) {
          // Only refusals the request earns whatever its names: an upsert whose conflict columns are
          // all it sets, a null where an operator takes none, $in without an array.
          expect(result.refused).toBe('VALIDATION_ERROR');
          return;
        }
        built++;
        const page = payload as { limit?: number; offset?: number };
        expectShape(result.statement, table, result.kind as keyof typeof KIND, page);
      }),
      fuzz(600),
    );
    expect(built).toBeGreaterThan(300);
  });

  it('refuses names the catalog does not have and unknown operators, and otherwise keeps the shape', async () => {
    await fc.assert(
      fc.asyncProperty(
        payloadArb(true),
        fc.option(fc.string({ minLength: 1, maxLength: 6 }).map((s) => `$${s}`)),
        async ([table, payload], badOperator) => {
          const p = payload as Record<string, unknown>;
          if (badOperator !== null && !(WHERE_OPERATORS as readonly string[]).includes(badOperator)) {
            const where = (p.where ?? p.filters) as Record<string, unknown> | undefined;
            const first = where === undefined ? undefined : Object.keys(where)[0];
            if (where !== undefined && first !== undefined) where[first] = { [badOperator]: 1 };
          }
          const result = await outcome(p, table);
          if ('refused' in result) expect(result.refused).toBe('VALIDATION_ERROR');
          else
            expectShape(
              result.statement,
              table,
              result.kind as keyof typeof KIND,
              p as { limit?: number; offset?: number },
            );
        },
      ),
      fuzz(600),
    );
  });
});
