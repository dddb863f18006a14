import '../require-node.js';

export { AsyncpgConnection, connectAsyncpg } from './asyncpg.js';
export { BusPool, BusPoolClient, type PgQueryResult } from './pg-pool.js';
