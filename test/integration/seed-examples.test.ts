/**
 * TypeScript twins of every example of the seed's usage guide, run against the real broker, the
 * real adapter and the real PostgreSQL, with rows checked against the same query through `pg`.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DatabaseError,
  DatabaseEventClient,
  openDatabaseEventClient,
  TimeoutError,
  withDatabaseEventClient,
} from '../../src/index.js';
import { type Bridge, stack, startBridge } from '../helpers/bridge.js';

let bridge: Bridge;
let db: DatabaseEventClient;
const tag = randomUUID().slice(0, 8);
const agent = (name: string) => `${name}-${tag}`;
const options = () => ({ bootstrapServers: stack().bootstrapServers, topicEnv: bridge.env });

async function direct(sql: string, params: unknown[] = []) {
  return (await bridge.pg.query(sql, params)).rows;
}

beforeAll(async () => {
  bridge = await startBridge('seed');
  db = await bridge.client();
  // Some history for the read examples: routing decisions, executions and manifest injections.
  for (let i = 0; i < 6; i++) {
    await direct(
      `INSERT INTO agent_routing_decisions (correlation_id, user_request, selected_agent, confidence_score, routing_strategy, created_at)
       VALUES ($1, 'req', $2, $3, 'enhanced_fuzzy_matching', now() - ($4 || ' days')::interval)`,
      [randomUUID(), agent(`agent-${i}`), 0.5 + i * 0.09, i * 40],
    );
  }
  for (let i = 0; i < 5; i++) {
    const correlation = randomUUID();
    await direct(
      `INSERT INTO agent_execution_logs (correlation_id, agent_name, status, quality_score, duration_ms)
       VALUES ($1, $2, $3, $4, $5)`,
      [correlation, agent('agent-researcher'), i % 2 ? 'success' : 'failed', 0.8 + i / 100, 1000 * i],
    );
    await direct(
      `INSERT INTO agent_manifest_injections (correlation_id, agent_name, manifest_version, generation_source,
         sections_included, query_times, total_query_time_ms, full_manifest_snapshot, patterns_count)
       VALUES ($1, $2, '2.0', 'test', ARRAY['patterns'], '{"qdrant": 12}', $3, '{}', $4)`,
      [correlation, agent('agent-researcher'), 100 + i, i % 2],
    );
  }
});

afterAll(async () => {
  await bridge?.close();
});

describe('Quick Start', () => {
  it('Basic Usage: start, query high-confidence routing decisions, stop', async () => {
    const client = new DatabaseEventClient({ ...options(), requestTimeoutMs: 10000 });
    try {
      await client.start();
      const sql =
        'SELECT * FROM agent_routing_decisions WHERE confidence_score > $1 ORDER BY created_at DESC LIMIT $2';
      const rows = await client.query(sql, [0.8, 10]);
      expect(rows.length).toBeGreaterThan(0);
      expect(rows).toEqual(await direct(sql, [0.8, 10]));
      for (const row of rows) expect(Number(row.confidence_score)).toBeGreaterThan(0.8);
    } finally {
      await client.stop();
    }
  });

  it('Context Manager: `await using` stops the client at the end of the block', async () => {
    let client: DatabaseEventClient;
    const sql = `SELECT execution_id, agent_name, status, quality_score, duration_ms
                 FROM agent_execution_logs WHERE status = $1 ORDER BY created_at DESC LIMIT $2`;
    {
      await using scoped = await openDatabaseEventClient(options());
      client = scoped;
      const rows = await scoped.query(sql, ['success', 20]);
      expect(rows).toEqual(await direct(sql, ['success', 20]));
    }
    expect(await client.healthCheck()).toBe(false);
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: 'CLIENT_STOPPED' });
  });

  it('withDatabaseEventClient always stops the client, also when the callback throws', async () => {
    let seen: DatabaseEventClient | undefined;
    await expect(
      withDatabaseEventClient(options(), async (c) => {
        seen = c;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await seen?.healthCheck()).toBe(false);
  });
});

describe('API Reference', () => {
  it('start() without bootstrap servers fails with the seed message', () => {
    const saved = process.env.KAFKA_BOOTSTRAP_SERVERS;
    delete process.env.KAFKA_BOOTSTRAP_SERVERS;
    try {
      expect(() => new DatabaseEventClient({ topicEnv: bridge.env })).toThrow(
        /bootstrap_servers must be provided/,
      );
    } finally {
      if (saved !== undefined) process.env.KAFKA_BOOTSTRAP_SERVERS = saved;
    }
  });

  it('query(): simple, parameterized, custom timeout', async () => {
    const simple = 'SELECT * FROM agent_routing_decisions ORDER BY id LIMIT 10';
    expect(await db.query(simple)).toEqual(await direct(simple));
    const parameterized = 'SELECT * FROM agent_execution_logs WHERE agent_name = $1 AND status = $2';
    const params = [agent('agent-researcher'), 'success'];
    const rows = await db.query(parameterized, params);
    expect(rows).toHaveLength(2);
    expect(rows).toEqual(await direct(parameterized, params));
    const slow =
      'SELECT * FROM agent_execution_logs WHERE agent_name = $1 AND duration_ms > 0 ORDER BY duration_ms';
    expect(await db.query(slow, [agent('agent-researcher')], { timeoutMs: 30000 })).toEqual(
      await direct(slow, [agent('agent-researcher')]),
    );
  });

  it('insert(): returning one column, and returning "*"', async () => {
    const executionId = randomUUID();
    const result = await db.insert(
      'agent_execution_logs',
      {
        execution_id: executionId,
        correlation_id: '88b8fcab-4eb9-4a7d-942b-8894c7f840f8',
        agent_name: agent('agent-researcher-insert'),
        status: 'in_progress',
        started_at: '2025-10-30T10:00:00Z',
      },
      { returning: 'execution_id' },
    );
    expect(result).toEqual({ execution_id: executionId });
    const stored = await direct(
      'SELECT started_at, status FROM agent_execution_logs WHERE execution_id = $1',
      [executionId],
    );
    expect(stored).toEqual([{ started_at: new Date('2025-10-30T10:00:00Z'), status: 'in_progress' }]);

    const decision = await db.insert(
      'agent_routing_decisions',
      {
        correlation_id: '88b8fcab-4eb9-4a7d-942b-8894c7f840f8',
        selected_agent: agent('agent-researcher'),
        confidence_score: 0.92,
        routing_strategy: 'enhanced_fuzzy_matching',
        user_request: 'insert example',
      },
      { returning: '*' },
    );
    expect(decision).not.toBeNull();
    expect(decision).toEqual(
      (await direct('SELECT * FROM agent_routing_decisions WHERE id = $1', [decision?.id]))[0],
    );
    expect(decision?.confidence_score).toBe('0.9200');
  });

  it('update(): one execution by id, and several conditions without returning', async () => {
    const [row] = await direct(
      `INSERT INTO agent_execution_logs (agent_name, correlation_id, status) VALUES ($1, $2, 'in_progress') RETURNING execution_id`,
      [agent('agent-update'), randomUUID()],
    );
    const result = await db.update(
      'agent_execution_logs',
      { status: 'success', completed_at: '2025-10-30T10:15:00Z', quality_score: 0.95, duration_ms: 900000 },
      { execution_id: row?.execution_id },
      { returning: 'execution_id' },
    );
    expect(result).toEqual({ execution_id: row?.execution_id });
    expect(
      await direct(
        'SELECT status, quality_score, duration_ms FROM agent_execution_logs WHERE execution_id = $1',
        [row?.execution_id],
      ),
    ).toEqual([{ status: 'success', quality_score: '0.9500', duration_ms: 900000 }]);

    const none = await db.update(
      'agent_manifest_injections',
      { processed: true },
      { agent_name: agent('agent-researcher'), patterns_count: 0 },
    );
    expect(none).toBeNull();
    const processed = await direct(
      'SELECT patterns_count, processed FROM agent_manifest_injections WHERE agent_name = $1 ORDER BY patterns_count',
      [agent('agent-researcher')],
    );
    expect(processed.every((r) => r.processed === (r.patterns_count === 0))).toBe(true);
  });

  it('delete(): by id (the seed id "old-execution-id" is not a uuid: a clear DatabaseError), and with $lt conditions', async () => {
    const error = await db
      .delete('agent_execution_logs', { execution_id: 'old-execution-id' })
      .catch((e) => e);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).toMatchObject({ code: 'DATABASE_OPERATION_FAILED', sqlstate: '22P02' });

    const [row] = await direct(
      `INSERT INTO agent_execution_logs (agent_name, correlation_id) VALUES ($1, $2) RETURNING execution_id`,
      [agent('agent-delete'), randomUUID()],
    );
    expect(await db.delete('agent_execution_logs', { execution_id: row?.execution_id })).toBe(1);
    expect(await db.delete('agent_execution_logs', { execution_id: row?.execution_id })).toBe(0);

    await direct(
      `INSERT INTO agent_routing_decisions (correlation_id, user_request, selected_agent, confidence_score, routing_strategy, created_at)
       VALUES ($1, 'old', $2, 0.3, 's', '2024-06-01'), ($1, 'old', $2, 0.7, 's', '2024-06-01'), ($1, 'new', $2, 0.3, 's', now())`,
      [randomUUID(), agent('agent-low')],
    );
    const deleted = await db.delete('agent_routing_decisions', {
      confidence_score: { $lt: 0.5 },
      created_at: { $lt: '2025-01-01' },
      selected_agent: agent('agent-low'),
    });
    expect(deleted).toBe(1);
    expect(
      await direct(
        'SELECT user_request, confidence_score FROM agent_routing_decisions WHERE selected_agent = $1 ORDER BY 1, 2',
        [agent('agent-low')],
      ),
    ).toEqual([
      { user_request: 'new', confidence_score: '0.3000' },
      { user_request: 'old', confidence_score: '0.7000' },
    ]);
  });

  it('execute(): bulk update and cleanup of old rows return the rows affected', async () => {
    // The seed's statements, narrowed to this file's rows (agent names end in its tag): table-wide,
    // they would change other tests' rows and make each test depend on which ran before it.
    const mine = `%-${tag}`;
    const success = await direct(
      `SELECT execution_id FROM agent_execution_logs WHERE status = 'success' AND agent_name LIKE $1`,
      [mine],
    );
    expect(success.length).toBeGreaterThan(0);
    const affected = await db.execute(
      'UPDATE agent_execution_logs SET processed = TRUE WHERE status = $1 AND agent_name LIKE $2',
      ['success', mine],
    );
    expect(affected).toBe(success.length);
    expect(
      await direct(
        `SELECT status = 'success' AS success, processed FROM agent_execution_logs WHERE agent_name LIKE $1 GROUP BY 1, 2 ORDER BY 1`,
        [mine],
      ),
    ).toEqual([
      { success: false, processed: false },
      { success: true, processed: true },
    ]);

    // Old rows of its own: two past 90 days, one recent; the history of beforeAll is left alone.
    const cleanup = agent('agent-cleanup');
    await direct(
      `INSERT INTO agent_routing_decisions (correlation_id, user_request, selected_agent, confidence_score, routing_strategy, created_at)
       VALUES ($1, 'old', $2, 0.5, 's', now() - interval '91 days'), ($1, 'old', $2, 0.5, 's', '2024-01-01'),
              ($1, 'recent', $2, 0.5, 's', now() - interval '89 days')`,
      [randomUUID(), cleanup],
    );
    const history = await direct(
      'SELECT count(*)::int AS n FROM agent_routing_decisions WHERE selected_agent LIKE $1',
      [`agent-_-${tag}`],
    );
    expect(
      await db.execute(
        `DELETE FROM agent_routing_decisions WHERE created_at < NOW() - INTERVAL '90 days' AND selected_agent = $1`,
        [cleanup],
      ),
    ).toBe(2);
    expect(
      await direct('SELECT user_request FROM agent_routing_decisions WHERE selected_agent = $1', [cleanup]),
    ).toEqual([{ user_request: 'recent' }]);
    expect(
      await direct('SELECT count(*)::int AS n FROM agent_routing_decisions WHERE selected_agent LIKE $1', [
        `agent-_-${tag}`,
      ]),
    ).toEqual(history);
  });

  it('healthCheck(): true when the broker answers and replies are assigned; roundTrip runs SELECT 1', async () => {
    expect(await db.healthCheck()).toBe(true);
    expect(await db.healthCheck({ roundTrip: true })).toBe(true);
    const idle = new DatabaseEventClient(options());
    expect(await idle.healthCheck()).toBe(false);
  });
});

describe('Common Usage Patterns', () => {
  it('Pattern 1: agent execution logging (insert, then update to success)', async () => {
    const executionId = randomUUID();
    const correlationId = randomUUID();
    await withDatabaseEventClient(options(), async (client) => {
      const inserted = await client.insert('agent_execution_logs', {
        execution_id: executionId,
        correlation_id: correlationId,
        agent_name: agent('agent-researcher-p1'),
        status: 'in_progress',
        started_at: new Date().toISOString(),
      });
      expect(inserted).toEqual({ execution_id: executionId });
      await client.update(
        'agent_execution_logs',
        {
          status: 'success',
          completed_at: new Date().toISOString(),
          quality_score: 0.92,
          duration_ms: 15000,
        },
        { execution_id: executionId },
      );
    });
    const [row] = await direct('SELECT * FROM agent_execution_logs WHERE execution_id = $1', [executionId]);
    expect(row).toMatchObject({
      correlation_id: correlationId,
      status: 'success',
      quality_score: '0.9200',
      duration_ms: 15000,
    });
    expect(row?.completed_at).toBeInstanceOf(Date);
  });

  it('Pattern 2: routing decision tracking with JSON alternatives', async () => {
    const alternatives = [
      { agent: 'agent-api-architect', confidence: 0.85 },
      { agent: 'agent-database-architect', confidence: 0.78 },
    ];
    const tracked = await withDatabaseEventClient(options(), (client) =>
      client.insert(
        'agent_routing_decisions',
        {
          correlation_id: randomUUID(),
          user_request: 'design an API',
          selected_agent: agent('agent-api'),
          confidence_score: 0.91,
          routing_strategy: 'enhanced_fuzzy_matching',
          alternatives: JSON.stringify(alternatives),
        },
        { returning: 'id' },
      ),
    );
    expect(typeof tracked?.id).toBe('string');
    expect(
      await direct('SELECT alternatives, routing_time_ms FROM agent_routing_decisions WHERE id = $1', [
        tracked?.id,
      ]),
    ).toEqual([{ alternatives, routing_time_ms: 0 }]);
  });

  it('Pattern 3: historical analysis aggregate', async () => {
    const sql = `
      SELECT agent_name, COUNT(*) as execution_count, AVG(quality_score) as avg_quality, AVG(duration_ms) as avg_duration_ms
      FROM agent_execution_logs
      WHERE status = $1 AND created_at > NOW() - INTERVAL '7 days'
      GROUP BY agent_name
      ORDER BY avg_quality DESC, agent_name`;
    const rows = await withDatabaseEventClient(options(), (client) => client.query(sql, ['success']));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows).toEqual(await direct(sql, ['success']));
    const mine = rows.find((r) => r.agent_name === agent('agent-researcher'));
    expect(mine).toMatchObject({ execution_count: '2' });
  });

  it('Pattern 4: manifest injection traceability (LEFT JOIN)', async () => {
    const sql = `
      SELECT ami.correlation_id, ami.agent_name, ami.patterns_count, ami.total_query_time_ms, ami.created_at,
             ael.status, ael.quality_score
      FROM agent_manifest_injections ami
      LEFT JOIN agent_execution_logs ael ON ami.correlation_id = ael.correlation_id
      WHERE ami.agent_name = $1
      ORDER BY ami.created_at DESC, ami.total_query_time_ms
      LIMIT $2`;
    const rows = await withDatabaseEventClient(options(), (client) =>
      client.query(sql, [agent('agent-researcher'), 10]),
    );
    expect(rows).toHaveLength(5);
    expect(rows).toEqual(await direct(sql, [agent('agent-researcher'), 10]));
    expect(rows[0]?.created_at).toBeInstanceOf(Date);
  });
});

describe('Error Handling', () => {
  it('Timeout Handling: a query slower than its timeout raises TimeoutError and the caller falls back', async () => {
    const queryWithTimeout = async () => {
      try {
        return await db.query('SELECT pg_sleep(3), * FROM agent_execution_logs LIMIT 1', [], {
          timeoutMs: 1000,
        });
      } catch (error) {
        if (error instanceof TimeoutError) return 'cached';
        throw error;
      }
    };
    expect(await queryWithTimeout()).toBe('cached');
    // The connection went back to the pool healthy.
    expect(await db.query('SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
  });

  it('Retry with Exponential Backoff: transient failures are retried after 1 s, then 2 s, and the query then succeeds', async () => {
    // A gate that makes the query fail with a serialization failure (40001, transient) while a row
    // of this test exists; the client's sleep between attempts opens it before the last retry.
    await direct(`CREATE OR REPLACE FUNCTION dbbridge_test_retry_gate(gate text) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM agent_execution_logs WHERE agent_name = gate) THEN
          RAISE EXCEPTION 'not yet' USING ERRCODE = '40001';
        END IF;
        RETURN true;
      END $$`);
    const gate = agent('retry-gate');
    await direct('INSERT INTO agent_execution_logs (agent_name, correlation_id) VALUES ($1, $2)', [
      gate,
      randomUUID(),
    ]);
    const delays: number[] = [];
    const sleep = async (ms: number) => {
      delays.push(ms);
      if (delays.length === 2) await direct('DELETE FROM agent_execution_logs WHERE agent_name = $1', [gate]);
    };
    const sql =
      'SELECT dbbridge_test_retry_gate($2) AS gate_open, * FROM agent_execution_logs WHERE agent_name = $1 ORDER BY execution_id';
    const rows = await withDatabaseEventClient({ ...options(), maxRetries: 3, sleep }, (client) =>
      client.query(sql, [agent('agent-researcher'), gate]),
    );
    // Two attempts failed (each followed by a backoff: 1 s, then 2 s, +-20 %), the third succeeded.
    expect(delays).toHaveLength(2);
    expect(delays[0]).toBeGreaterThanOrEqual(800);
    expect(delays[0]).toBeLessThanOrEqual(1200);
    expect(delays[1]).toBeGreaterThanOrEqual(1600);
    expect(delays[1]).toBeLessThanOrEqual(2400);
    expect(rows).toHaveLength(5);
    expect(rows).toEqual(await direct(sql, [agent('agent-researcher'), gate]));

    // Without retries the same transient failure reaches the caller: the test above can fail.
    await direct('INSERT INTO agent_execution_logs (agent_name, correlation_id) VALUES ($1, $2)', [
      gate,
      randomUUID(),
    ]);
    const error = await withDatabaseEventClient({ ...options(), maxRetries: 0 }, (client) =>
      client.query(sql, [agent('agent-researcher'), gate]),
    ).catch((e) => e);
    expect(error).toMatchObject({ code: 'DATABASE_OPERATION_FAILED', sqlstate: '40001', retryable: true });
    await direct('DELETE FROM agent_execution_logs WHERE agent_name = $1', [gate]);
  });
});

describe('Performance Considerations and Migration Guide', () => {
  it('Query Optimization: the parameterized query', async () => {
    const sql = 'SELECT * FROM agent_execution_logs WHERE agent_name = $1';
    expect(await db.query(sql, [agent('agent-researcher')])).toEqual(
      await direct(sql, [agent('agent-researcher')]),
    );
  });

  it('Batch Operations: one multi-row INSERT through execute()', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const affected = await db.execute(
      `INSERT INTO agent_execution_logs (execution_id, agent_name, status, correlation_id)
       VALUES ($1, $2, $3, $10), ($4, $5, $6, $10), ($7, $8, $9, $10)`,
      [
        ids[0],
        agent('agent-1'),
        'success',
        ids[1],
        agent('agent-2'),
        'success',
        ids[2],
        agent('agent-3'),
        'success',
        randomUUID(),
      ],
    );
    expect(affected).toBe(3);
    expect(
      await direct('SELECT count(*)::int AS n FROM agent_execution_logs WHERE execution_id = ANY($1)', [ids]),
    ).toEqual([{ n: 3 }]);
  });

  it('Migration Guide "after": query_executions', async () => {
    const queryExecutions = () =>
      withDatabaseEventClient(options(), (client) =>
        client.query('SELECT * FROM agent_execution_logs WHERE agent_name = $1', [agent('agent-researcher')]),
      );
    expect(await queryExecutions()).toEqual(
      await direct('SELECT * FROM agent_execution_logs WHERE agent_name = $1', [agent('agent-researcher')]),
    );
  });
});
