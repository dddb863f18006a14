export { KafkaDialect, type KafkaDialectConfig } from './kafka-dialect.js';
export { KafkaDriver } from './kafka-driver.js';
export { KafkaConnection } from './kafka-connection.js';
