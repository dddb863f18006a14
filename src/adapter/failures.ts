import type { Failure } from '../events/envelope.js';

/** A request the adapter refuses before it reaches the database. Thrown inside the adapter only. */
export class RequestRejected extends Error {
  readonly failure: Failure;
  constructor(failure: Failure) {
    super(failure.message);
    this.name = 'RequestRejected';
    this.failure = failure;
  }
}

export function validationError(message: string, extra: Partial<Failure> = {}): RequestRejected {
  return new RequestRejected({
    code: 'VALIDATION_ERROR',
    message,
    errorType: 'ValidationError',
    retryable: false,
    executed: false,
    ...extra,
  });
}
