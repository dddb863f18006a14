/**
 * Values keep their types: rows through dbbridge equal (deep equality) what `pg` returns for the same
 * query, and parameters round-trip: Date, bigint, Buffer, objects for jsonb, arrays.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseEventClient } from '../../src/index.js';
import { type Bridge, startBridge } from '../helpers/bridge.js';

let bridge: Bridge;
let db: DatabaseEventClient;
const table = `dbbridge_types_${randomUUID().slice(0, 8)}`;
const mood = `${table}_mood`;

const COLUMNS = `
  id serial PRIMARY KEY, src text,
  c_int2 smallint, c_int4 integer, c_int8 bigint, c_numeric numeric, c_numeric_scale numeric(12,4),
  c_float4 real, c_float8 double precision, c_bool boolean,
  c_text text, c_varchar varchar(20), c_char char(3), c_uuid uuid,
  c_date date, c_timestamp timestamp, c_timestamptz timestamptz, c_time time, c_timetz timetz, c_interval interval,
  c_json json, c_jsonb jsonb, c_bytea bytea,
  c_text_arr text[], c_int_arr integer[], c_int8_arr bigint[], c_numeric_arr numeric[], c_tstz_arr timestamptz[],
  c_jsonb_arr jsonb[], c_uuid_arr uuid[], c_bool_arr boolean[], c_bytea_arr bytea[],
  c_inet inet, c_cidr cidr, c_macaddr macaddr, c_money money, c_point point, c_range int4range,
  c_tsvector tsvector, c_bit bit(4), c_varbit varbit, c_oid oid, c_mood ${mood}, c_xml xml`;

const NAMES = COLUMNS.split(',')
  .map((c) => c.trim().split(/\s+/)[0] as string)
  .filter((c) => c.startsWith('c_'));

const when = new Date('2025-10-30T10:00:00.123Z');
const VALUES: unknown[] = [
  12,
  -2147483648,
  9007199254740993n,
  '123456789012345678901234567890.123456789',
  0.9234,
  1.5,
  1.0000001,
  true,
  'héllo \u{1F600} "quoted" \\ back',
  'varchar',
  'ab',
  randomUUID(),
  '2025-10-30',
  when,
  when,
  '10:00:00.5',
  '10:00:00+02',
  '1 day 02:03:04',
  { a: [1, 'two', null], nested: { deep: true } },
  { routing: 'x', alternatives: [{ agent: 'a', confidence: 0.85 }] },
  Buffer.from([0, 1, 2, 254, 255]),
  ['a', 'b,c', 'd "e"', null],
  [1, 2, null, 4],
  [1n, 9007199254740993n],
  ['1.10', '2.5'],
  [when, new Date('2024-01-01T00:00:00Z')],
  ['{"k": 1}', '[1,2]'],
  [randomUUID()],
  [true, false, null],
  [Buffer.from('hi'), Buffer.from([255])],
  '192.168.0.1',
  '10.0.0.0/8',
  '08:00:2b:01:02:03',
  '12.34',
  '(1.5,2)',
  '[1,10)',
  'fat cat rat',
  '1010',
  '101',
  1234,
  'happy',
  '<a>x</a>',
];

beforeAll(async () => {
  bridge = await startBridge('types');
  db = await bridge.client();
  await bridge.pg.query(`CREATE TYPE ${mood} AS ENUM ('sad', 'happy')`);
  await bridge.pg.query(`CREATE TABLE ${table} (${COLUMNS})`);
});

afterAll(async () => {
  await bridge?.pg.query(`DROP TABLE IF EXISTS ${table}`);
  await bridge?.pg.query(`DROP TYPE IF EXISTS ${mood}`);
  await bridge?.close();
});

describe('a matrix of column types', () => {
  const insertSql = (src: string) =>
    `INSERT INTO ${table} (src, ${NAMES.join(', ')}) VALUES ('${src}', ${NAMES.map((_, i) => `$${i + 1}`).join(', ')})`;

  it('parameters written through dbbridge store exactly what pg stores', async () => {
    expect(VALUES).toHaveLength(NAMES.length);
    expect(await db.execute(insertSql('bridge'), VALUES)).toBe(1);
    await bridge.pg.query(insertSql('pg'), VALUES);
    const { rows } = await bridge.pg.query(`SELECT * FROM ${table} ORDER BY src`);
    const [viaBridge, viaPg] = rows;
    expect({ ...viaBridge, id: 0, src: '' }).toEqual({ ...viaPg, id: 0, src: '' });
  });

  it('rows read through dbbridge deep-equal rows read through pg', async () => {
    const sql = `SELECT * FROM ${table} ORDER BY id`;
    const viaBridge = await db.query(sql);
    const viaPg = (await bridge.pg.query(sql)).rows;
    expect(viaBridge).toHaveLength(2);
    expect(viaBridge).toEqual(viaPg);
    const row = viaBridge[0] as Record<string, unknown>;
    expect(row.c_timestamptz).toBeInstanceOf(Date);
    expect(row.c_int8).toBe('9007199254740993');
    expect(row.c_numeric).toBe('123456789012345678901234567890.123456789');
    expect(row.c_bytea).toEqual(Buffer.from([0, 1, 2, 254, 255]));
    expect(row.c_jsonb).toEqual({ routing: 'x', alternatives: [{ agent: 'a', confidence: 0.85 }] });
    expect(row.c_text_arr).toEqual(['a', 'b,c', 'd "e"', null]);
    expect(row.c_xml).toBe('<a>x</a>');
  });

  it('NULL in every column stays null', async () => {
    await bridge.pg.query(`INSERT INTO ${table} (src) VALUES ('nulls')`);
    const sql = `SELECT * FROM ${table} WHERE src = 'nulls'`;
    const [row] = await db.query(sql);
    expect(row).toEqual((await bridge.pg.query(sql)).rows[0]);
    for (const name of NAMES) expect(row?.[name]).toBeNull();
  });

  it('parameters round-trip through SELECT: Date, bigint, Buffer, objects for jsonb, arrays', async () => {
    const sql =
      'SELECT $1::timestamptz AS d, $2::int8 AS b, $3::bytea AS buf, $4::jsonb AS j, $5::int[] AS a, $6::text[] AS t, $7::numeric AS n';
    const params = [
      when,
      2n ** 62n,
      Buffer.from('bytes'),
      { x: [1, { y: 'z' }] },
      [1, 2, 3],
      ['x', null],
      '0.1',
    ];
    const viaBridge = await db.query(sql, params);
    expect(viaBridge).toEqual((await bridge.pg.query(sql, params)).rows);
    expect(viaBridge[0]?.d).toEqual(when);
  });

  it('seed-format readers get natural JSON for the same row (numbers usable as numbers)', async () => {
    const result = await db.request({
      operation_type: 'SELECT',
      sql: `SELECT c_float8, c_numeric_scale, c_int8, c_jsonb FROM ${table} WHERE src = 'bridge'`,
      options: { row_format: 'objects' },
    });
    expect(result.fields).toEqual([]);
    expect(result.rows[0]).toMatchObject({ c_float8: 1.0000001, c_numeric_scale: 0.9234 });
    // A JSON number literal of PostgreSQL's digits (wire-format.test.ts checks the reply text);
    // JSON.parse makes it the nearest double: exact int8 in TypeScript is the default row format's.
    expect(result.rows[0]?.c_int8).toBe(Number(9007199254740993n));
  });
});

describe('all columns of the three omninode_bridge tables', () => {
  it('SELECT * of fully populated rows equals pg', async () => {
    const tag = randomUUID();
    const [decision] = (
      await bridge.pg.query(
        `INSERT INTO agent_routing_decisions (correlation_id, session_id, user_request, user_request_hash, context_snapshot,
           selected_agent, confidence_score, routing_strategy, trigger_confidence, context_confidence, capability_confidence,
           historical_confidence, alternatives, alternatives_count, reasoning, matched_triggers, matched_capabilities,
           routing_time_ms, cache_hit, cache_key, selection_validated, actual_success, actual_quality_score, prediction_error,
           metadata, validated_at)
         VALUES ($1, $1, 'req', 'hash', '{"ctx": 1}', 'agent-x', 0.9, 'strategy', 0.1, 0.2, 0.3, 0.4,
           '[{"agent": "y"}]', 1, 'because', ARRAY['t1'], ARRAY['c1','c2'], 42, true, 'key', true, false, 0.5, 0.05,
           '{"m": true}', now()) RETURNING id`,
        [tag],
      )
    ).rows;
    await bridge.pg.query(
      `INSERT INTO agent_manifest_injections (correlation_id, session_id, routing_decision_id, agent_name, agent_version,
         manifest_version, generation_source, is_fallback, sections_included, sections_requested, patterns_count,
         infrastructure_services, models_count, database_schemas_count, debug_intelligence_successes,
         debug_intelligence_failures, collections_queried, query_times, total_query_time_ms, cache_hit, cache_age_seconds,
         full_manifest_snapshot, formatted_manifest_text, manifest_size_bytes, intelligence_available, query_failures,
         warnings, agent_execution_success, agent_execution_time_ms, agent_quality_score, metadata, executed_at,
         completed_at, processed)
       VALUES ($1, $1, $2, 'agent-x', '1.2.3', '2.0', 'src', false, ARRAY['a'], ARRAY['a','b'], 3, 1, 2, 3, 4, 5,
         '{"c": [1]}', '{"q": 12.5}', 250, true, 60, '{"snap": {"deep": [1,2]}}', 'text', 1024, true, '{}',
         ARRAY['w'], true, 900, 0.8765, '{}', now(), now(), true)`,
      [tag, decision?.id],
    );
    await bridge.pg.query(
      `INSERT INTO agent_execution_logs (correlation_id, session_id, agent_name, user_prompt, status, quality_score,
         error_message, error_type, duration_ms, project_path, project_name, claude_session_id, terminal_id, metadata,
         completed_at, started_at, processed)
       VALUES ($1, $1, 'agent-x', 'prompt', 'success', 0.95, 'none', 'none', 1500, '/p', 'p', 'cs', 'term', '{"k": "v"}',
         now(), now(), true)`,
      [tag],
    );
    for (const t of ['agent_routing_decisions', 'agent_manifest_injections', 'agent_execution_logs']) {
      const sql = `SELECT * FROM ${t} WHERE correlation_id = $1`;
      const viaBridge = await db.query(sql, [tag]);
      expect(viaBridge, t).toHaveLength(1);
      expect(viaBridge, t).toEqual((await bridge.pg.query(sql, [tag])).rows);
      for (const [k, v] of Object.entries(viaBridge[0] as object)) expect(v, `${t}.${k}`).not.toBeUndefined();
    }
  });
});
