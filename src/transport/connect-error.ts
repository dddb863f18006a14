import { TransportError } from '../errors.js';
import { brokerHint } from '../local-stack.js';

/** The message of an error, with the messages of the errors it aggregates (platformatic nests them). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const nested = (error as { errors?: unknown }).errors;
  if (Array.isArray(nested) && nested.length > 0) {
    const inner = [...new Set(nested.map(describeError))].slice(0, 3).join('; ');
    return `${error.message} (${inner})`;
  }
  return error.message;
}

/** A broker that does not answer on connect: the error names the address and the fix. */
export function connectFailed(brokers: readonly string[], error: unknown): TransportError {
  return new TransportError(`Kafka connect failed: ${brokerHint(brokers)} (${describeError(error)})`, {
    cause: error,
  });
}
