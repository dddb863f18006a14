import type pg from 'pg';

/** The parts of a `pg` 8 client that pipelining touches; `pipeline` is pg's own mode (8.20+). */
interface PipelineClient {
  pipeline: boolean;
  connection: { stream: { cork(): void; uncork(): void } };
}

/**
 * Sends several statements on one connection in one write, with `pg`'s pipeline mode: each
 * statement keeps its own Sync, so PostgreSQL runs each in its own implicit transaction and an
 * error fails only its own statement; replies come back in order. One write and one wake-up of
 * the backend for the lot, instead of one per statement. Resolves when every statement is answered.
 *
 * Only for statements that end with their Sync (no portal left open across round trips): the
 * `queries` must come from `cappedQuery()` or be plain text queries.
 */
export async function sendPipelined(
  client: pg.PoolClient,
  queries: readonly pg.QueryConfig[],
  results: readonly Promise<unknown>[],
): Promise<void> {
  const raw = client as unknown as PipelineClient;
  const stream = raw.connection.stream;
  raw.pipeline = true;
  stream.cork();
  try {
    for (const query of queries) void client.query(query);
  } finally {
    stream.uncork();
  }
  try {
    await Promise.allSettled(results);
  } finally {
    // Every statement answered: the connection is idle again and goes back to the pool as it came.
    raw.pipeline = false;
  }
}
