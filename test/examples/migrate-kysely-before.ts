import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { DB } from '../../generated/db.js';

// Before: Kysely on a socket to PostgreSQL.
export const db = new Kysely<DB>({
  dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) }),
});

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
    if (error instanceof pg.DatabaseError && error.code === '23514') return false; // check_violation: not in [0, 1]
    throw error;
  }
}
