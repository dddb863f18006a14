import '../require-node.js';

export { type AdapterOptions, type AdapterStats, DatabaseAdapter } from './adapter.js';
export { SqlValidator, type StatementPolicy } from './sql-validator.js';
