import type pg from 'pg';

/** The parts of a `pg` 8 client that pipelining touches; `pipeline` is pg's own mode (8.20+). */
interface PipelineClient {
  pipeline: boolean;
  readyForQuery: boolean;
  /** False once the connection failed: nothing more will be answered. */
  _queryable: boolean;
  connection: { stream: { cork(): void; uncork(): void } };
  _queryQueue: unknown[];
  _sentQueryQueue: unknown[];
  _getActiveQuery(): unknown;
}

/** Longest wait for a connection's last answers after every statement's promise settled, ms. */
const SETTLE_MS = 10_000;

/**
 * Sends several statements on one connection in one write, with `pg`'s pipeline mode: each
 * statement keeps its own Sync, so PostgreSQL runs each in its own implicit transaction and an
 * error fails only its own statement; replies come back in order. One write and one wake-up of
 * the backend for the lot, instead of one per statement.
 *
 * Resolves when every statement is answered AND the connection has nothing left in flight (a
 * statement whose parameters failed to encode settles at once, but its Sync is still answered
 * after the statements before it): true when the connection is idle and may go back to the pool,
 * false when it did not settle and must be discarded.
 *
 * Only for statements that end with their Sync (no portal left open across round trips): the
 * `queries` must come from `cappedQuery()`.
 */
export async function sendPipelined(
  client: pg.PoolClient,
  queries: readonly pg.QueryConfig[],
  results: readonly Promise<unknown>[],
): Promise<boolean> {
  const raw = client as unknown as PipelineClient;
  const stream = raw.connection.stream;
  raw.pipeline = true;
  stream.cork();
  try {
    for (const query of queries) void client.query(query);
  } finally {
    stream.uncork();
  }
  await Promise.allSettled(results);
  const settled = raw._queryable && (isIdle(raw) || (await untilIdle(client, raw)));
  // Idle again: the connection goes back to the pool as it came. (Not before: outside pipeline
  // mode pg would no longer hand the remaining answers to the statements they belong to.)
  if (settled) raw.pipeline = false;
  return settled;
}

function isIdle(raw: PipelineClient): boolean {
  return (
    raw._queryable &&
    raw.readyForQuery &&
    raw._sentQueryQueue.length === 0 &&
    raw._queryQueue.length === 0 &&
    !raw._getActiveQuery()
  );
}

/** Waits for pg's 'drain' (everything answered), or a connection error or end, or SETTLE_MS. */
function untilIdle(client: pg.PoolClient, raw: PipelineClient): Promise<boolean> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off('drain', done);
      client.off('error', done);
      client.off('end', done);
      resolve(isIdle(raw));
    };
    const timer = setTimeout(done, SETTLE_MS);
    client.on('drain', done);
    client.on('error', done);
    client.on('end', done);
  });
}
