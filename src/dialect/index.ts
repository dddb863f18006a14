import '../require-node.js';

export { KafkaConnection } from './kafka-connection.js';
export { KafkaDialect, type KafkaDialectConfig } from './kafka-dialect.js';
export { KafkaDriver } from './kafka-driver.js';
