export {
  DatabaseEventClient,
  openDatabaseEventClient,
  withDatabaseEventClient,
  type CallOptions,
  type WriteOptions,
  type QueryResult,
  type Row,
} from './database-event-client.js';
export type { DatabaseEventClientOptions } from './options.js';
