export * from './client/index.js';
export { DbBridgeError, DatabaseError, TimeoutError, TransportError, ConfigurationError, type DbBridgeErrorCode } from './errors.js';
export { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker.js';
export { jsonLogger, silentLogger, type Logger, type LogLevel } from './logger.js';
export * as events from './events/index.js';
export { topicNames, type TopicNames } from './events/topics.js';
export type { ErrorCode, BreakerState } from './events/error-codes.js';
export { KafkaTransport, RequestReply, ensureTopics, type Transport, type KafkaTransportOptions } from './transport/index.js';
