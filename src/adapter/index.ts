import '../require-node.js';

export { type AdapterOptions, type AdapterStats, DatabaseAdapter } from './adapter.js';
export { type RequestDiagnostic, requestChannel } from './diagnostics.js';
export { type OperationsServer, type OperationsServerOptions, startOperationsServer } from './http-server.js';
export { AdapterMetrics } from './metrics.js';
export { SqlValidator, type StatementPolicy } from './sql-validator.js';
