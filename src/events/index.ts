import '../require-node.js';

export {
  DEAD_LETTER_EVENT_TYPE,
  DEAD_LETTER_REASONS,
  DeadLetterEnvelope,
  DeadLetterReason,
} from './dead-letter.js';
export {
  completedEnvelope,
  type Failure,
  failedEnvelope,
  failedPayload,
  type RequestExtras,
  requestEnvelope,
} from './envelope.js';
export {
  BREAKER_STATES,
  type BreakerState,
  ERROR_CODES,
  type ErrorCode,
  isTransientSqlState,
} from './error-codes.js';
export { isSaneId, newId } from './ids.js';
export { jsonDepth, payloadProblem, REQUEST_LIMITS, statementProblem } from './limits.js';
export {
  ADAPTER_SERVICE,
  COMPLETED_EVENT_TYPE,
  ColumnInfo,
  CompletedEnvelope,
  CompletedPayload,
  FAILED_EVENT_TYPE,
  FailedEnvelope,
  FailedPayload,
  ReplyEnvelope,
} from './reply.js';
export {
  LEGACY_OPERATION_TYPES,
  OPERATION_TYPES,
  OperationType,
  REQUEST_EVENT_TYPE,
  RequestEnvelope,
  RequestOptions,
  RequestPayload,
  ROW_FORMATS,
  WHERE_OPERATORS,
  type WhereOperator,
} from './request.js';
export { quoteIdent } from './sql.js';
export { DEFAULT_TOPIC_ENV, type TopicNames, topicNames } from './topics.js';
export {
  formatTraceparent,
  isTraceparent,
  parseTraceparent,
  type SpanIds,
  TRACEPARENT_HEADER,
} from './trace-context.js';
export {
  decodeTextRows,
  encodeParam,
  encodeParams,
  type JsonValue,
  naturalConverter,
  naturalRows,
  pgTypeParser,
  type TypeParserLookup,
} from './values.js';
