export {
  type CallOptions,
  DatabaseEventClient,
  openDatabaseEventClient,
  type QueryResult,
  type Row,
  type WriteOptions,
  withDatabaseEventClient,
} from './database-event-client.js';
export type { DatabaseEventClientOptions } from './options.js';
