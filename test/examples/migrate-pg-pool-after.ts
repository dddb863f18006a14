import { BusPool } from '../../src/index.js';

// After: the same calls on a pool of the bus. No credentials: only KAFKA_BOOTSTRAP_SERVERS (and DBBRIDGE_ENV).
const pool = new BusPool();

export async function recentExecutions(agentName: string) {
  const { rows } = await pool.query(
    'SELECT execution_id, status FROM agent_execution_logs WHERE agent_name = $1 ORDER BY started_at DESC LIMIT 10',
    [agentName],
  );
  return rows;
}

export async function finishExecution(executionId: string, qualityScore: number): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN'); // an interactive transaction, held by one adapter process
    const result = await client.query(
      "UPDATE agent_execution_logs SET status = 'success', quality_score = $2, completed_at = now() WHERE execution_id = $1",
      [executionId, qualityScore],
    );
    await client.query('COMMIT');
    return result.rowCount ?? 0;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

export function shutdown(): Promise<void> {
  return pool.end();
}
