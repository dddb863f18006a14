import { randomUUID } from 'node:crypto';
import { Kysely, sql } from 'kysely';
import type { DB } from '../../generated/db.js';
import { KafkaDialect } from '../../src/index.js';

// Agent code holds Kafka's address, not a database connection or credentials.
export function openDb(bootstrapServers: string, topicEnv = 'dev'): Kysely<DB> {
  return new Kysely<DB>({ dialect: new KafkaDialect({ client: { bootstrapServers, topicEnv } }) });
}

// Pattern 1: agent execution logging.
export async function logAgentExecution(db: Kysely<DB>, agentName: string): Promise<string> {
  const { execution_id } = await db
    .insertInto('agent_execution_logs')
    .values({
      correlation_id: randomUUID(),
      agent_name: agentName,
      status: 'in_progress',
      started_at: new Date(),
    })
    .returning('execution_id')
    .executeTakeFirstOrThrow();
  // ... the agent works ...
  await db
    .updateTable('agent_execution_logs')
    .set({ status: 'success', completed_at: new Date(), quality_score: 0.92, duration_ms: 15000 })
    .where('execution_id', '=', execution_id)
    .execute();
  return execution_id;
}

// Pattern 2: routing decision tracking.
export async function trackRoutingDecision(
  db: Kysely<DB>,
  userRequest: string,
  selectedAgent: string,
  confidence: number,
) {
  const { id } = await db
    .insertInto('agent_routing_decisions')
    .values({
      correlation_id: randomUUID(),
      user_request: userRequest,
      selected_agent: selectedAgent,
      confidence_score: confidence,
      routing_strategy: 'enhanced_fuzzy_matching',
      alternatives: JSON.stringify([
        { agent: 'agent-api-architect', confidence: 0.85 },
        { agent: 'agent-database-architect', confidence: 0.78 },
      ]),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return id;
}

// Pattern 3: historical analysis.
export async function analyzeAgentPerformance(db: Kysely<DB>) {
  return db
    .selectFrom('agent_execution_logs')
    .select((eb) => [
      'agent_name',
      eb.fn.countAll<string>().as('execution_count'),
      eb.fn.avg<string>('quality_score').as('avg_quality'),
      eb.fn.avg<string>('duration_ms').as('avg_duration_ms'),
    ])
    .where('status', '=', 'success')
    .where('created_at', '>', sql<Date>`now() - interval '7 days'`)
    .groupBy('agent_name')
    .orderBy('avg_quality', 'desc')
    .execute();
}

// Pattern 4: manifest injection traceability.
export async function queryManifestHistory(db: Kysely<DB>, agentName: string) {
  return db
    .selectFrom('agent_manifest_injections as ami')
    .leftJoin('agent_execution_logs as ael', 'ami.correlation_id', 'ael.correlation_id')
    .select([
      'ami.correlation_id',
      'ami.agent_name',
      'ami.patterns_count',
      'ami.total_query_time_ms',
      'ami.created_at',
      'ael.status',
      'ael.quality_score',
    ])
    .where('ami.agent_name', '=', agentName)
    .orderBy('ami.created_at', 'desc')
    .limit(10)
    .execute();
}

// Clean-up: low-confidence decisions from before 2025.
export async function pruneRoutingDecisions(db: Kysely<DB>): Promise<bigint> {
  const result = await db
    .deleteFrom('agent_routing_decisions')
    .where('confidence_score', '<', '0.5')
    .where('created_at', '<', new Date('2025-01-01'))
    .executeTakeFirst();
  return result.numDeletedRows;
}
