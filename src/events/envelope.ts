import type { ErrorCode } from './error-codes.js';
import { newId } from './ids.js';
import {
  ADAPTER_SERVICE,
  COMPLETED_EVENT_TYPE,
  type CompletedEnvelope,
  type CompletedPayload,
  FAILED_EVENT_TYPE,
  type FailedEnvelope,
  type FailedPayload,
} from './reply.js';
import { REQUEST_EVENT_TYPE, type RequestEnvelope, type RequestPayload } from './request.js';

export interface RequestExtras {
  readonly correlationId?: string;
  readonly service?: string;
  readonly replyPartition?: number;
  readonly deadline?: Date;
  readonly clientId?: string;
  readonly idempotencyKey?: string;
}

export function requestEnvelope(payload: RequestPayload, extras: RequestExtras = {}): RequestEnvelope {
  const envelope: RequestEnvelope = {
    event_id: newId(),
    event_type: REQUEST_EVENT_TYPE,
    correlation_id: extras.correlationId ?? newId(),
    timestamp: new Date().toISOString(),
    service: extras.service ?? 'dbbridge-client',
    payload,
  };
  if (extras.replyPartition !== undefined) envelope.reply_partition = extras.replyPartition;
  if (extras.deadline !== undefined) envelope.deadline = extras.deadline.toISOString();
  if (extras.clientId !== undefined) envelope.client_id = extras.clientId;
  if (extras.idempotencyKey !== undefined) envelope.idempotency_key = extras.idempotencyKey;
  return envelope;
}

interface ReplyTo {
  readonly correlation_id: string;
  readonly event_id?: string;
}

function replyHeader(to: ReplyTo) {
  const header = {
    event_id: newId(),
    correlation_id: to.correlation_id,
    timestamp: new Date().toISOString(),
    service: ADAPTER_SERVICE,
  };
  return to.event_id === undefined ? header : { ...header, causation_id: to.event_id };
}

export function completedEnvelope(to: ReplyTo, payload: CompletedPayload): CompletedEnvelope {
  return { ...replyHeader(to), event_type: COMPLETED_EVENT_TYPE, payload };
}

export function failedEnvelope(to: ReplyTo, payload: FailedPayload): FailedEnvelope {
  return { ...replyHeader(to), event_type: FAILED_EVENT_TYPE, payload };
}

/** PostgreSQL's diagnostics of a failed statement, named as node-postgres names them. */
export interface PgDiagnostics {
  readonly sqlstate?: string;
  readonly detail?: string;
  readonly hint?: string;
  readonly position?: string;
  readonly constraint?: string;
  readonly table?: string;
  readonly column?: string;
}

/** The pieces of a failure a handler knows; `failedPayload` fills in the seed's duplicated fields. */
export interface Failure extends PgDiagnostics {
  readonly code: ErrorCode;
  readonly message: string;
  readonly errorType?: string;
  readonly retryable?: boolean;
  readonly executed?: boolean;
  readonly statementIndex?: number;
}

export function failedPayload(
  operationType: string,
  failure: Failure,
  metadata: FailedPayload['metadata'],
): FailedPayload {
  const payload: FailedPayload = {
    operation_type: operationType,
    error_code: failure.code,
    error_message: failure.message,
    error: failure.message,
    error_type: failure.errorType ?? failure.code,
    metadata,
    retryable: failure.retryable ?? false,
  };
  for (const key of [
    'sqlstate',
    'detail',
    'hint',
    'position',
    'constraint',
    'table',
    'column',
    'executed',
  ] as const) {
    const value = failure[key];
    if (value !== undefined) (payload as Record<string, unknown>)[key] = value;
  }
  if (failure.statementIndex !== undefined) payload.statement_index = failure.statementIndex;
  return payload;
}
