import '../require-node.js';

export {
  type CallOptions,
  DatabaseEventClient,
  openDatabaseEventClient,
  type QueryResult,
  type RequestCallOptions,
  type Row,
  type Transaction,
  type TransactionScope,
  type TransactionSettings,
  type WriteOptions,
  withDatabaseEventClient,
} from './database-event-client.js';
export type { DatabaseEventClientOptions } from './options.js';
