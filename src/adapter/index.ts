export { DatabaseAdapter, type AdapterOptions, type AdapterStats } from './adapter.js';
export { SqlValidator, type StatementPolicy } from './sql-validator.js';
export { quoteIdent } from './statement-builder.js';
