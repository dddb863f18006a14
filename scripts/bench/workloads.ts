import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { DatabaseEventClient } from '../../src/client/index.js';

/** Rows the benchmark writes carry this `project_name`, and the run's tag as `claude_session_id`. */
export const BENCH_PROJECT = 'dbbridge-bench';

const AGENTS = [
  'agent-researcher',
  'agent-coder',
  'agent-reviewer',
  'agent-planner',
  'agent-tester',
  'agent-debugger',
  'agent-writer',
  'agent-analyst',
];

/** What every workload call gets: the seeded keys and the run's tag. */
export interface WorkloadContext {
  /** execution_id of the seeded rows, sorted. */
  readonly ids: readonly string[];
  readonly runTag: string;
  /** Reply timeout of dbbridge calls, ms. */
  readonly timeoutMs: number;
}

/** One operation, the same statement on both paths. */
export interface Workload {
  readonly name: string;
  readonly description: string;
  readonly sql: string;
  readonly writes: boolean;
  /** Through dbbridge; `correlationId` lets the breakdown match Kafka messages to calls. */
  dbbridge(client: DatabaseEventClient, ctx: WorkloadContext, correlationId?: string): Promise<unknown>;
  /** Through a `pg.Pool` of the same size as the adapter's. */
  direct(pool: pg.Pool, ctx: WorkloadContext): Promise<unknown>;
}

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}

function callOptions(ctx: WorkloadContext, correlationId: string | undefined) {
  return correlationId === undefined
    ? { timeoutMs: ctx.timeoutMs }
    : { timeoutMs: ctx.timeoutMs, correlationId };
}

const PK_SELECT = 'SELECT * FROM agent_execution_logs WHERE execution_id = $1';
/** A primary-key range: an index scan that returns exactly 100 rows (the start leaves 100 seeded rows after it). */
const RANGE_SELECT =
  'SELECT * FROM agent_execution_logs WHERE execution_id >= $1 ORDER BY execution_id LIMIT 100';
/** The seed's Pattern 3 (historical analysis). */
const PATTERN3 = `SELECT
    agent_name,
    COUNT(*) as execution_count,
    AVG(quality_score) as avg_quality,
    AVG(duration_ms) as avg_duration_ms
FROM agent_execution_logs
WHERE status = $1
  AND created_at > NOW() - INTERVAL '7 days'
GROUP BY agent_name
ORDER BY avg_quality DESC`;
const UPDATE_PK =
  'UPDATE agent_execution_logs SET quality_score = $2, duration_ms = $3 WHERE execution_id = $1';
const INSERT = `INSERT INTO agent_execution_logs
  (correlation_id, agent_name, status, user_prompt, duration_ms, project_name, claude_session_id, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`;

function insertValues(ctx: WorkloadContext): unknown[] {
  return [
    randomUUID(),
    pick(AGENTS),
    'in_progress',
    'benchmark insert: summarise the repository layout',
    Math.floor(Math.random() * 5000),
    BENCH_PROJECT,
    ctx.runTag,
    '{"bench":true}',
  ];
}

function updateValues(ctx: WorkloadContext): unknown[] {
  return [
    pick(ctx.ids),
    (Math.floor(Math.random() * 10_000) / 10_000).toFixed(4),
    Math.floor(Math.random() * 5000),
  ];
}

function rangeStart(ctx: WorkloadContext): string {
  const i = Math.floor(Math.random() * Math.max(1, ctx.ids.length - 100));
  return ctx.ids[i] as string;
}

export const WORKLOADS: readonly Workload[] = [
  {
    name: 'pk_select',
    description: 'primary-key SELECT of one agent_execution_logs row',
    sql: PK_SELECT,
    writes: false,
    dbbridge: (client, ctx, id) => client.query(PK_SELECT, [pick(ctx.ids)], callOptions(ctx, id)),
    direct: (pool, ctx) => pool.query(PK_SELECT, [pick(ctx.ids)]),
  },
  {
    name: 'select_100',
    description: '100-row SELECT (primary-key range, all columns)',
    sql: RANGE_SELECT,
    writes: false,
    dbbridge: (client, ctx, id) => client.query(RANGE_SELECT, [rangeStart(ctx)], callOptions(ctx, id)),
    direct: (pool, ctx) => pool.query(RANGE_SELECT, [rangeStart(ctx)]),
  },
  {
    name: 'pattern3_aggregate',
    description: "the seed's Pattern 3: per-agent COUNT/AVG over the last 7 days of successes",
    sql: PATTERN3,
    writes: false,
    dbbridge: (client, ctx, id) => client.query(PATTERN3, ['success'], callOptions(ctx, id)),
    direct: (pool) => pool.query(PATTERN3, ['success']),
  },
  {
    name: 'update_pk',
    description: 'UPDATE of one row by primary key (execute with SQL + params)',
    sql: UPDATE_PK,
    writes: true,
    dbbridge: (client, ctx, id) => client.execute(UPDATE_PK, updateValues(ctx), callOptions(ctx, id)),
    direct: (pool, ctx) => pool.query(UPDATE_PK, updateValues(ctx)),
  },
  {
    name: 'insert',
    description: 'single-row INSERT into agent_execution_logs (execute with SQL + params)',
    sql: INSERT,
    writes: true,
    dbbridge: (client, ctx, id) => client.execute(INSERT, insertValues(ctx), callOptions(ctx, id)),
    direct: (pool, ctx) => pool.query(INSERT, insertValues(ctx)),
  },
  {
    name: 'insert_api',
    description:
      'single-row INSERT via client.insert() (adapter builds the statement from the catalog, RETURNING the key); direct: the same INSERT ... RETURNING execution_id',
    sql: `${INSERT} RETURNING execution_id`,
    writes: true,
    dbbridge: (client, ctx, id) => {
      const [correlation_id, agent_name, status, user_prompt, duration_ms, project_name, session, metadata] =
        insertValues(ctx);
      return client.insert(
        'agent_execution_logs',
        {
          correlation_id,
          agent_name,
          status,
          user_prompt,
          duration_ms,
          project_name,
          claude_session_id: session,
          metadata: JSON.parse(metadata as string) as unknown,
        },
        callOptions(ctx, id),
      );
    },
    direct: (pool, ctx) => pool.query(`${INSERT} RETURNING execution_id`, insertValues(ctx)),
  },
];

/** Seeds `count` agent_execution_logs rows tagged with the run, spread over the last 14 days; returns their keys, sorted. */
export async function seedRows(pool: pg.Pool, runTag: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let done = 0; done < count; done += 2000) {
    const n = Math.min(2000, count - done);
    const result = await pool.query<{ execution_id: string }>(
      `INSERT INTO agent_execution_logs
         (correlation_id, session_id, agent_name, user_prompt, status, quality_score, duration_ms,
          project_path, project_name, claude_session_id, metadata, created_at, completed_at)
       SELECT gen_random_uuid(), gen_random_uuid(), ($3::text[])[1 + (g % 8)],
              'benchmark prompt ' || g || ': find the slowest step of the deployment pipeline',
              (ARRAY['success', 'success', 'success', 'failed', 'in_progress'])[1 + (g % 5)],
              round(random()::numeric, 4), (random() * 5000)::int, '/bench/project', $1, $2,
              jsonb_build_object('bench', true, 'n', g, 'tags', jsonb_build_array('a', 'b')),
              t, t + interval '2 seconds'
         FROM generate_series(1, $4::int) g, LATERAL (SELECT now() - random() * interval '14 days' AS t) c
       RETURNING execution_id`,
      [BENCH_PROJECT, runTag, AGENTS, n],
    );
    for (const row of result.rows) ids.push(row.execution_id);
  }
  await pool.query('ANALYZE agent_execution_logs');
  return ids.sort();
}

/** Deletes the rows of this run (seeded and inserted); returns how many. */
export async function deleteRows(pool: pg.Pool, runTag: string, onlyInserted = false): Promise<number> {
  const result = await pool.query(
    `DELETE FROM agent_execution_logs WHERE project_name = $1 AND claude_session_id = $2${
      onlyInserted ? " AND status = 'in_progress' AND session_id IS NULL" : ''
    }`,
    [BENCH_PROJECT, runTag],
  );
  return result.rowCount ?? 0;
}

/**
 * Deletes rows left by benchmark runs that ended without cleaning up (their tag names a start more
 * than an hour ago); returns how many.
 */
export async function deleteStaleRows(pool: pg.Pool): Promise<number> {
  const tags = await pool.query<{ tag: string }>(
    'SELECT DISTINCT claude_session_id AS tag FROM agent_execution_logs WHERE project_name = $1',
    [BENCH_PROJECT],
  );
  let deleted = 0;
  for (const { tag } of tags.rows) {
    const started = Number.parseInt(/^bench-([0-9a-z]+)-/.exec(tag ?? '')?.[1] ?? '', 36);
    if (Number.isFinite(started) && Date.now() - started > 3_600_000) {
      const result = await pool.query(
        'DELETE FROM agent_execution_logs WHERE project_name = $1 AND claude_session_id = $2',
        [BENCH_PROJECT, tag],
      );
      deleted += result.rowCount ?? 0;
    }
  }
  return deleted;
}
