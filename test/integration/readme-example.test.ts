/** The README's main example is this file's twin: typed by tsc (npm test typechecks it) and run here against the real stack. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../generated/db.js';
import {
  analyzeAgentPerformance,
  logAgentExecution,
  openDb,
  pruneRoutingDecisions,
  queryManifestHistory,
  trackRoutingDecision,
} from '../examples/patterns.js';
import { type Bridge, stack, startBridge } from '../helpers/bridge.js';

const root = join(import.meta.dirname, '..', '..');
let bridge: Bridge;
let db: Kysely<DB>;

beforeAll(async () => {
  bridge = await startBridge('readme');
  db = openDb(stack().bootstrapServers, bridge.env);
});
afterAll(async () => {
  await db?.destroy();
  await bridge?.close();
});

describe('README example', () => {
  it('is the code in test/examples/patterns.ts, word for word', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const example = readFileSync(join(root, 'test/examples/patterns.ts'), 'utf8');
    const block = /```ts typed-example\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBe(
      example
        .replaceAll("'../../generated/db.js'", "'./generated/db.js'")
        .replaceAll("'../../src/index.js'", "'dbbridge'"),
    );
  });

  it("runs the seed's Patterns 1-4 through the bus", async () => {
    const agent = `readme-${Date.now()}`;
    const executionId = await logAgentExecution(db, agent);
    const stored = await bridge.pg.query(
      'SELECT status, quality_score FROM agent_execution_logs WHERE execution_id = $1',
      [executionId],
    );
    expect(stored.rows).toEqual([{ status: 'success', quality_score: '0.9200' }]);

    const id = await trackRoutingDecision(db, 'design an API', agent, 0.91);
    expect(
      (await bridge.pg.query('SELECT selected_agent FROM agent_routing_decisions WHERE id = $1', [id])).rows,
    ).toEqual([{ selected_agent: agent }]);

    const performance = await analyzeAgentPerformance(db);
    expect(performance.find((r) => r.agent_name === agent)).toMatchObject({
      execution_count: '1',
      avg_quality: '0.92000000000000000000',
    });

    await bridge.pg.query(
      `INSERT INTO agent_manifest_injections (correlation_id, agent_name, manifest_version, generation_source, sections_included, query_times, total_query_time_ms, full_manifest_snapshot)
       VALUES (gen_random_uuid(), $1, '2.0', 'readme', ARRAY['p'], '{}', 42, '{}')`,
      [agent],
    );
    const history = await queryManifestHistory(db, agent);
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ agent_name: agent, total_query_time_ms: 42, status: null });

    await bridge.pg.query(
      `INSERT INTO agent_routing_decisions (correlation_id, user_request, selected_agent, confidence_score, routing_strategy, created_at)
       VALUES (gen_random_uuid(), 'old', $1, 0.2, 's', '2024-03-01')`,
      [agent],
    );
    expect(await pruneRoutingDecisions(db)).toBeGreaterThanOrEqual(1n);
    expect(
      (
        await bridge.pg.query(
          'SELECT count(*)::int AS n FROM agent_routing_decisions WHERE selected_agent = $1',
          [agent],
        )
      ).rows,
    ).toEqual([{ n: 1 }]);
  });
});
