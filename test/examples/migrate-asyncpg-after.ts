import { connectAsyncpg } from '../../src/index.js';

// asyncpg's calls, over the bus: `await asyncpg.connect(host=..., password=...)` becomes `connectAsyncpg()`.
export async function queryExecutions(): Promise<Record<string, unknown>[]> {
  await using conn = await connectAsyncpg(); // closed at the end of the block, like `async with`
  return conn.fetch('SELECT * FROM agent_execution_logs WHERE agent_name = $1', 'agent-researcher');
}

export async function closeExecution(executionId: string): Promise<string> {
  await using conn = await connectAsyncpg();
  const row = await conn.fetchrow<{ status: string }>(
    'SELECT status FROM agent_execution_logs WHERE execution_id = $1',
    executionId,
  );
  if (row === null) return 'UPDATE 0';
  const open = await conn.fetchval<string>(
    "SELECT count(*) FROM agent_execution_logs WHERE status = 'in_progress'",
  );
  // `async with conn.transaction():` becomes a callback; it commits when it resolves.
  return conn.transaction(async () => {
    await conn.execute(
      'INSERT INTO agent_routing_decisions (correlation_id, user_request, selected_agent, confidence_score, routing_strategy) VALUES (gen_random_uuid(), $1, $2, 1, $3)',
      `close ${executionId} (${open} open)`,
      'agent-closer',
      'manual',
    );
    return conn.execute(
      "UPDATE agent_execution_logs SET status = 'success', completed_at = now() WHERE execution_id = $1",
      executionId,
    ); // 'UPDATE 1', asyncpg's status string
  });
}
