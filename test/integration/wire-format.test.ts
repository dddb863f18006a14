/**
 * The wire format is the seed's: a request written by hand in the seed's JSON gets a seed-format
 * reply, and the older Python dialect is understood too.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompletedEnvelope, FailedEnvelope } from '../../src/events/reply.js';
import { type Bridge, startBridge } from '../helpers/bridge.js';
import { rawKafka } from '../helpers/raw-kafka.js';

let bridge: Bridge;
let raw: Awaited<ReturnType<typeof rawKafka>>;
let replies: Awaited<ReturnType<Awaited<ReturnType<typeof rawKafka>>['collect']>>;
const agentName = `wire-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  bridge = await startBridge('wire');
  raw = await rawKafka('wire');
  replies = await raw.collect([bridge.topics.completed, bridge.topics.failed]);
  await bridge.pg.query(
    `INSERT INTO agent_routing_decisions (correlation_id, user_request, selected_agent, confidence_score, routing_strategy, alternatives, matched_triggers)
     VALUES ($1, 'hand-written', $2, 0.9234, 'enhanced_fuzzy_matching', '[{"agent": "x", "confidence": 0.5}]', ARRAY['a','b'])`,
    [randomUUID(), agentName],
  );
});

afterAll(async () => {
  await raw?.close();
  await bridge?.close();
});

function seedRequest(payload: Record<string, unknown>, correlationId = randomUUID()) {
  return {
    correlationId,
    json: JSON.stringify({
      event_id: randomUUID(),
      event_type: 'DATABASE_QUERY_REQUESTED',
      correlation_id: correlationId,
      timestamp: new Date().toISOString(),
      service: 'omniclaude',
      payload,
    }),
  };
}

describe('seed JSON by hand', () => {
  it('a SELECT request gets a DATABASE_QUERY_COMPLETED reply with natural JSON rows', async () => {
    const { correlationId, json } = seedRequest({
      operation_type: 'SELECT',
      sql: 'SELECT selected_agent, confidence_score, alternatives, matched_triggers, created_at, routing_time_ms FROM agent_routing_decisions WHERE selected_agent = $1',
      params: [agentName],
      options: { timeout_ms: 10000, max_rows: 1000 },
    });
    await raw.send(bridge.topics.requested, json, { key: correlationId });
    const reply = await replies.waitFor((m) => m.value.correlation_id === correlationId);
    expect(reply.topic).toBe(bridge.topics.completed);
    const envelope = CompletedEnvelope.parse(reply.value);
    expect(envelope).toMatchObject({
      event_type: 'DATABASE_QUERY_COMPLETED',
      correlation_id: correlationId,
      service: 'database-adapter-effect',
      payload: {
        operation_type: 'SELECT',
        row_count: 1,
        metadata: { cached: false, circuit_breaker_state: 'CLOSED' },
      },
    });
    expect(typeof envelope.event_id).toBe('string');
    expect(typeof envelope.payload.execution_time_ms).toBe('number');
    const row = envelope.payload.rows[0] as Record<string, unknown>;
    // Natural JSON: a numeric is a number (the seed formats it with :.2%), jsonb is parsed, arrays are arrays.
    expect(row.confidence_score).toBe(0.9234);
    expect(row.alternatives).toEqual([{ agent: 'x', confidence: 0.5 }]);
    expect(row.matched_triggers).toEqual(['a', 'b']);
    expect(row.routing_time_ms).toBe(0);
    expect(new Date(row.created_at as string).getTime()).not.toBeNaN();
    // The reply to a request without reply_partition is keyed by correlation id: any reader of the topic sees it.
    expect(envelope.payload.columns).toBeUndefined();
  });

  it('a syntax error gets a DATABASE_QUERY_FAILED reply in the seed format, with `error` for older readers', async () => {
    const { correlationId, json } = seedRequest({
      operation_type: 'SELECT',
      sql: 'SELET * FROM agent_execution_logs',
    });
    await raw.send(bridge.topics.requested, json);
    const reply = await replies.waitFor((m) => m.value.correlation_id === correlationId);
    expect(reply.topic).toBe(bridge.topics.failed);
    const envelope = FailedEnvelope.parse(reply.value);
    expect(envelope.payload).toMatchObject({
      operation_type: 'SELECT',
      error_code: 'DATABASE_OPERATION_FAILED',
      error_message: 'syntax error at or near "SELET"',
      error: 'syntax error at or near "SELET"',
      error_type: 'PostgresError',
      sqlstate: '42601',
      metadata: { sql: 'SELET * FROM agent_execution_logs', circuit_breaker_state: 'CLOSED' },
    });
  });

  it('the seed Insert and Update requests', async () => {
    const executionId = randomUUID();
    const insert = seedRequest({
      operation_type: 'INSERT',
      table: 'agent_execution_logs',
      data: { execution_id: executionId, agent_name: agentName, status: 'in_progress' },
      returning: 'execution_id',
      options: { timeout_ms: 5000 },
    });
    await raw.send(bridge.topics.requested, insert.json);
    const inserted = await replies.waitFor((m) => m.value.correlation_id === insert.correlationId);
    expect(CompletedEnvelope.parse(inserted.value).payload).toMatchObject({
      rows: [{ execution_id: executionId }],
      row_count: 1,
    });

    const update = seedRequest({
      operation_type: 'UPDATE',
      table: 'agent_execution_logs',
      data: { status: 'success', quality_score: 0.95 },
      where: { execution_id: executionId },
      returning: '*',
      options: { timeout_ms: 5000 },
    });
    await raw.send(bridge.topics.requested, update.json);
    const updated = await replies.waitFor((m) => m.value.correlation_id === update.correlationId);
    const payload = CompletedEnvelope.parse(updated.value).payload;
    expect(payload.rows).toHaveLength(1);
    expect(payload.rows[0]).toMatchObject({
      execution_id: executionId,
      status: 'success',
      quality_score: 0.95,
      agent_name: agentName,
    });
  });

  it('the older dialect: QUERY with payload.query, QUERY with entity_type + filters + limit, UPSERT', async () => {
    const q = seedRequest({ operation_type: 'QUERY', query: 'SELECT $1::int + 1 AS n', params: [41] });
    await raw.send(bridge.topics.requested, q.json);
    expect(
      CompletedEnvelope.parse(
        (await replies.waitFor((m) => m.value.correlation_id === q.correlationId)).value,
      ).payload.rows,
    ).toEqual([{ n: 42 }]);

    const t = seedRequest({
      operation_type: 'QUERY',
      entity_type: 'agent_routing_decisions',
      filters: { selected_agent: agentName },
      limit: 5,
    });
    await raw.send(bridge.topics.requested, t.json);
    const tableRows = CompletedEnvelope.parse(
      (await replies.waitFor((m) => m.value.correlation_id === t.correlationId)).value,
    ).payload.rows;
    expect(tableRows).toHaveLength(1);
    expect(tableRows[0]).toMatchObject({ selected_agent: agentName, user_request: 'hand-written' });

    const id = randomUUID();
    for (const status of ['first', 'second']) {
      const u = seedRequest({
        operation_type: 'UPSERT',
        entity_type: 'agent_execution_logs',
        data: { execution_id: id, agent_name: agentName, correlation_id: id, status },
      });
      await raw.send(bridge.topics.requested, u.json);
      await replies.waitFor((m) => m.value.correlation_id === u.correlationId);
    }
    expect(
      (await bridge.pg.query('SELECT status FROM agent_execution_logs WHERE execution_id = $1', [id])).rows,
    ).toEqual([{ status: 'second' }]);

    const bad = seedRequest({ operation_type: 'QUERY', query: 'SELECT * FROM no_such_table' });
    await raw.send(bridge.topics.requested, bad.json);
    const failed = FailedEnvelope.parse(
      (await replies.waitFor((m) => m.value.correlation_id === bad.correlationId)).value,
    );
    expect(failed.payload).toMatchObject({
      operation_type: 'QUERY',
      error_code: 'DATABASE_OPERATION_FAILED',
      sqlstate: '42P01',
    });
    expect(failed.payload.error).toBe('relation "no_such_table" does not exist');
  });
});

describe('garbage on the request topic', () => {
  it('is answered when a correlation id can be read, skipped otherwise, and never stops the adapter', async () => {
    const before = bridge.adapter.stats;
    await raw.send(bridge.topics.requested, Buffer.from([0xff, 0x00, 0x13, 0x37]));
    await raw.send(bridge.topics.requested, '{"no": "correlation id"}');
    await raw.send(bridge.topics.requested, 'null');
    const readable = randomUUID();
    await raw.send(
      bridge.topics.requested,
      JSON.stringify({ correlation_id: readable, payload: { operation_type: 'DROP' } }),
    );
    const truncated = randomUUID();
    await raw.send(
      bridge.topics.requested,
      `{"event_id": "x", "correlation_id": "${truncated}", "payload": {"sql": "SELE`,
    );

    for (const id of [readable, truncated]) {
      const reply = await replies.waitFor((m) => m.value.correlation_id === id);
      expect(reply.topic).toBe(bridge.topics.failed);
      expect(FailedEnvelope.parse(reply.value).payload.error_code).toBe('VALIDATION_ERROR');
    }
    // The adapter still answers real requests afterwards.
    const ok = seedRequest({ operation_type: 'SELECT', sql: 'SELECT 1 AS one' });
    await raw.send(bridge.topics.requested, ok.json);
    expect(
      CompletedEnvelope.parse(
        (await replies.waitFor((m) => m.value.correlation_id === ok.correlationId)).value,
      ).payload.rows,
    ).toEqual([{ one: 1 }]);
    const after = bridge.adapter.stats;
    expect(after.malformed - before.malformed).toBe(3);
    expect(after.failed - before.failed).toBe(2);
  });
});

/** The older Python client: every optional field present, `null` when unset. */
function olderRequest(payload: Record<string, unknown>) {
  return seedRequest({
    entity_type: null,
    query: null,
    params: null,
    filters: {},
    limit: null,
    offset: null,
    data: null,
    returning: null,
    options: null,
    ...payload,
  });
}

async function roundTrip(request: { correlationId: string; json: string }) {
  await raw.send(bridge.topics.requested, request.json);
  return replies.waitFor((m) => m.value.correlation_id === request.correlationId);
}

describe('the older Python dialect, with null for every unset field', () => {
  it('QUERY with SQL: null fields are absent; limit and offset page the rows', async () => {
    const sql = 'SELECT n FROM generate_series(1, 5) AS n ORDER BY n';
    const all = await roundTrip(olderRequest({ operation_type: 'QUERY', query: sql }));
    expect(all.topic).toBe(bridge.topics.completed);
    expect(CompletedEnvelope.parse(all.value).payload.rows).toEqual([1, 2, 3, 4, 5].map((n) => ({ n })));
    const one = await roundTrip(olderRequest({ operation_type: 'QUERY', query: sql, limit: 1 }));
    expect(CompletedEnvelope.parse(one.value).payload).toMatchObject({ rows: [{ n: 1 }], row_count: 1 });
    const page = await roundTrip(
      olderRequest({ operation_type: 'QUERY', query: `${sql} -- trailing comment`, limit: 2, offset: 3 }),
    );
    expect(CompletedEnvelope.parse(page.value).payload.rows).toEqual([{ n: 4 }, { n: 5 }]);
    const table = await roundTrip(
      olderRequest({
        operation_type: 'QUERY',
        entity_type: 'agent_routing_decisions',
        filters: { selected_agent: agentName },
        limit: 1,
      }),
    );
    expect(CompletedEnvelope.parse(table.value).payload.rows).toHaveLength(1);
  });

  it('INSERT, UPSERT, UPDATE and DELETE with SQL in query and the table in entity_type run that SQL and reply rows_affected', async () => {
    const id = randomUUID();
    const write = async (operation_type: string, query: string, params: unknown[]) => {
      const reply = await roundTrip(
        olderRequest({ operation_type, query, params, entity_type: 'agent_execution_logs' }),
      );
      expect(reply.topic, JSON.stringify(reply.value)).toBe(bridge.topics.completed);
      return CompletedEnvelope.parse(reply.value).payload;
    };
    const status = async () =>
      (await bridge.pg.query('SELECT status FROM agent_execution_logs WHERE execution_id = $1', [id])).rows;

    expect(
      await write(
        'INSERT',
        'INSERT INTO agent_execution_logs (execution_id, correlation_id, agent_name, status) VALUES ($1, $1, $2, $3)',
        [id, agentName, 'in_progress'],
      ),
    ).toMatchObject({ operation_type: 'INSERT', row_count: 1, rows_affected: 1, rows: [] });
    expect(await status()).toEqual([{ status: 'in_progress' }]);

    const upsert = await write(
      'UPSERT',
      `INSERT INTO agent_execution_logs (execution_id, correlation_id, agent_name, status) VALUES ($1, $1, $2, $3)
       ON CONFLICT (execution_id) DO UPDATE SET status = EXCLUDED.status RETURNING status`,
      [id, agentName, 'upserted'],
    );
    expect(upsert).toMatchObject({ rows: [{ status: 'upserted' }], rows_affected: 1 });

    expect(
      await write('UPDATE', 'UPDATE agent_execution_logs SET status = $2 WHERE execution_id = $1', [
        id,
        'success',
      ]),
    ).toMatchObject({ rows_affected: 1 });
    expect(await status()).toEqual([{ status: 'success' }]);

    expect(
      await write('DELETE', 'DELETE FROM agent_execution_logs WHERE execution_id = $1', [id]),
    ).toMatchObject({ rows_affected: 1, row_count: 1 });
    expect(await status()).toEqual([]);
  });

  it('SQL of the wrong kind is refused, and every failed reply of a request with SQL names it in metadata.sql', async () => {
    const cases = [
      { operation_type: 'UPSERT', query: "INSERT INTO agent_execution_logs (agent_name) VALUES ('x')" },
      { operation_type: 'DELETE', query: 'UPDATE agent_execution_logs SET status = status' },
      { operation_type: 'QUERY', query: 'SELECT 1', limit: -1 },
      { operation_type: 'INSERT', query: 'INSERT INTO no_such_table VALUES (1)' },
    ];
    for (const payload of cases) {
      const reply = await roundTrip(olderRequest({ ...payload, entity_type: 'agent_execution_logs' }));
      expect(reply.topic).toBe(bridge.topics.failed);
      const failed = FailedEnvelope.parse(reply.value).payload;
      expect(failed.metadata.sql, JSON.stringify(failed)).toBe(payload.query);
      expect(failed.error).toBe(failed.error_message);
    }
    const batch = seedRequest({
      operation_type: 'BATCH',
      statements: [{ sql: 'SELECT 1' }, { sql: 'SELECT 1/0' }],
    });
    const failedBatch = FailedEnvelope.parse((await roundTrip(batch)).value).payload;
    expect(failedBatch).toMatchObject({ statement_index: 1, metadata: { sql: 'SELECT 1/0' } });
  });
});

describe("seed-format values are PostgreSQL's, unaltered", () => {
  it('numeric and int8 are exact JSON number literals; NaN and infinities are strings; execution_time_ms is whole', async () => {
    const reply = await roundTrip(
      seedRequest({
        operation_type: 'SELECT',
        sql: `SELECT 123456789012345678901234567890.123456789::numeric AS wide, 0.9200::numeric(6,4) AS scaled,
                     42::int8 AS small, 9223372036854775807::int8 AS big, 'NaN'::numeric AS nan,
                     '-Infinity'::float8 AS minf, 1.0000001::float4 AS f4,
                     'infinity'::timestamptz AS inf_ts, '0044-03-15 12:00:00+00 BC'::timestamptz AS bc`,
      }),
    );
    expect(reply.text).toContain(
      '{"wide":123456789012345678901234567890.123456789,"scaled":0.9200,"small":42,"big":9223372036854775807,' +
        '"nan":"NaN","minf":"-Infinity","f4":1.0000001,"inf_ts":"infinity","bc":"-000043-03-15T12:00:00+00:00"}',
    );
    const payload = CompletedEnvelope.parse(reply.value).payload;
    expect(Number.isInteger(payload.execution_time_ms)).toBe(true);
    expect(payload.execution_time_precise_ms).toBeGreaterThanOrEqual(0);
    expect(payload.rows_affected).toBeUndefined();
  });
});
