export { topicNames, DEFAULT_TOPIC_ENV, type TopicNames } from './topics.js';
export { ERROR_CODES, BREAKER_STATES, isTransientSqlState, type ErrorCode, type BreakerState } from './error-codes.js';
export { isSaneId, newId } from './ids.js';
export {
  OPERATION_TYPES,
  LEGACY_OPERATION_TYPES,
  ROW_FORMATS,
  WHERE_OPERATORS,
  OperationType,
  RequestOptions,
  RequestPayload,
  RequestEnvelope,
  REQUEST_EVENT_TYPE,
  type WhereOperator,
} from './request.js';
export {
  ADAPTER_SERVICE,
  COMPLETED_EVENT_TYPE,
  FAILED_EVENT_TYPE,
  ColumnInfo,
  CompletedPayload,
  CompletedEnvelope,
  FailedPayload,
  FailedEnvelope,
  ReplyEnvelope,
} from './reply.js';
export {
  requestEnvelope,
  completedEnvelope,
  failedEnvelope,
  failedPayload,
  type Failure,
  type RequestExtras,
} from './envelope.js';
export {
  encodeParam,
  encodeParams,
  naturalConverter,
  naturalRows,
  decodeTextRows,
  pgTypeParser,
  type JsonValue,
  type TypeParserLookup,
} from './values.js';
