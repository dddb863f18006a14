import './require-node.js';

export { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker.js';
export * from './client/index.js';
export * from './compat/index.js';
export * from './dialect/index.js';
export {
  BrokerUnavailableError,
  ConfigurationError,
  DatabaseError,
  DbBridgeError,
  type DbBridgeErrorCode,
  TimeoutError,
  TransportError,
} from './errors.js';
export type { BreakerState, ErrorCode } from './events/error-codes.js';
export * as events from './events/index.js';
export { type TopicNames, topicNames } from './events/topics.js';
export { jsonLogger, type Logger, type LogLevel, silentLogger } from './logger.js';
export {
  createTransport,
  DEFAULT_TRANSPORT,
  ensureTopics,
  type KafkaSasl,
  type KafkaSecurity,
  type KafkaTls,
  KafkaTransport,
  type KafkaTransportOptions,
  PlatformaticTransport,
  type PlatformaticTransportOptions,
  TRANSPORT_KINDS,
  type Transport,
  type TransportKind,
} from './transport/index.js';
