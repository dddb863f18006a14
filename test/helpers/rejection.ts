import { RequestRejected } from '../../src/adapter/failures.js';
import type { Failure } from '../../src/events/envelope.js';

/** The failure `fn` is refused with (a `RequestRejected`); anything else it throws is rethrown, and not throwing fails. */
export function rejection(fn: () => unknown): Failure {
  try {
    fn();
  } catch (e) {
    if (e instanceof RequestRejected) return e.failure;
    throw e;
  }
  throw new Error('expected a rejection');
}

/** As `rejection`, for a promise. */
export async function asyncRejection(fn: () => Promise<unknown>): Promise<Failure> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof RequestRejected) return e.failure;
    throw e;
  }
  throw new Error('expected a rejection');
}
