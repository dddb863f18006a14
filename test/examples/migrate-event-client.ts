import { openDatabaseEventClient } from '../../src/index.js';

// The seed's "After": `async with DatabaseEventClientContext() as db:` becomes `await using`.
export async function queryExecutions(): Promise<Record<string, unknown>[]> {
  await using db = await openDatabaseEventClient();
  return db.query('SELECT * FROM agent_execution_logs WHERE agent_name = $1', ['agent-researcher']);
}
