import { Kysely } from 'kysely';
import type { DB } from '../../generated/db.js';
import { DatabaseError, KafkaDialect } from '../../src/index.js';

// After: the dialect is the only change to the Kysely instance; queries stay as they were.
export const db = new Kysely<DB>({ dialect: new KafkaDialect({ client: {} }) });

export async function recordDecision(agent: string, request: string, confidence: number): Promise<boolean> {
  try {
    await db
      .insertInto('agent_routing_decisions')
      .values({
        correlation_id: crypto.randomUUID(),
        user_request: request,
        selected_agent: agent,
        confidence_score: confidence,
        routing_strategy: 'enhanced_fuzzy_matching',
      })
      .execute();
    return true;
  } catch (error) {
    // pg's `code` is the SQLSTATE; dbbridge's `code` is the seed's error code and `sqlstate` the SQLSTATE.
    if (error instanceof DatabaseError && error.sqlstate === '23514') return false;
    throw error;
  }
}
