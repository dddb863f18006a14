import { channel } from 'node:diagnostics_channel';

/**
 * What the adapter reports about each message, on `node:diagnostics_channel` (no cost without a
 * subscriber): metrics, tracing and tests subscribe; the adapter does not know who listens.
 */
export interface RequestDiagnostic {
  /** The adapter that handled it (several may share a process). */
  readonly adapter: object;
  readonly correlationId: string | undefined;
  readonly operation: string;
  /** completed / failed: a reply was published; expired: dropped past its deadline; malformed: unreadable. */
  readonly outcome: 'completed' | 'failed' | 'expired' | 'malformed';
  /** Error code of a failed reply. */
  readonly code?: string;
  /** Waiting for an in-flight slot, ms. */
  readonly queueMs: number;
  /** Validating, waiting for a connection and running, ms. */
  readonly executeMs: number;
  /** From the message's arrival to its reply published, ms. */
  readonly totalMs: number;
}

/** `dbbridge:adapter:request`: one message per request handled. */
export const requestChannel = channel('dbbridge:adapter:request');

/** What the adapter reports about each dead-lettered message. */
export interface DeadLetterDiagnostic {
  readonly adapter: object;
  readonly reason: string;
  /** False when even the dead letter could not be published (the message was logged and skipped). */
  readonly published: boolean;
}

/** `dbbridge:adapter:dead-letter`: one message per message dead-lettered. */
export const deadLetterChannel = channel('dbbridge:adapter:dead-letter');

/** What the adapter reports about each interactive transaction it rolled back itself. */
export interface TransactionRollbackDiagnostic {
  readonly adapter: object;
  /** idle, lifetime, partition-moved (its request partition was revoked), shutdown. */
  readonly reason: string;
}

/** `dbbridge:adapter:transaction`: one message per transaction the adapter rolled back itself. */
export const transactionChannel = channel('dbbridge:adapter:transaction');
