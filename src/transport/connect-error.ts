import { type KafkaRefusal, TransportError } from '../errors.js';
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

const REFUSALS: readonly KafkaRefusal[] = [
  'SASL_AUTHENTICATION_FAILED',
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
];

/**
 * The refusal of a secured cluster inside a library error, if it is one: a protocol error name
 * (kafkajs `type`, platformatic `apiId`) or a failed SASL exchange (kafkajs
 * `KafkaJSSASLAuthenticationError`, platformatic `PLT_KFK_AUTHENTICATION`), however deeply nested.
 */
export function kafkaRefusal(error: unknown, depth = 0): KafkaRefusal | undefined {
  if (typeof error !== 'object' || error === null || depth > 6) return undefined;
  const e = error as { type?: unknown; apiId?: unknown; name?: unknown; code?: unknown; cause?: unknown };
  for (const id of [e.type, e.apiId]) {
    if (typeof id === 'string' && (REFUSALS as readonly string[]).includes(id)) return id as KafkaRefusal;
  }
  if (e.name === 'KafkaJSSASLAuthenticationError' || e.code === 'PLT_KFK_AUTHENTICATION')
    return 'SASL_AUTHENTICATION_FAILED';
  const nested = (error as { errors?: unknown }).errors;
  for (const inner of [e.cause, ...(Array.isArray(nested) ? nested : [])]) {
    const found = kafkaRefusal(inner, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** A library error as a `TransportError`: "Kafka <what> failed: ...", not retryable when the cluster refused. */
export function transportError(what: string, error: unknown): TransportError {
  if (error instanceof TransportError) return error;
  const refusal = kafkaRefusal(error);
  return new TransportError(`Kafka ${what} failed: ${refusal ? `${refusal}: ` : ''}${describeError(error)}`, {
    cause: error,
    ...(refusal ? { refusal } : {}),
  });
}

/**
 * A broker that does not answer on connect: the error names the address and the fix. `security`
 * (`describeSecurity`, never secrets) is named too: a TLS or SASL mismatch looks like a dead broker.
 */
export function connectFailed(brokers: readonly string[], error: unknown, security?: string): TransportError {
  const refusal = kafkaRefusal(error);
  if (refusal !== undefined) {
    return new TransportError(
      `Kafka refused the connection (${refusal}) at ${brokers.join(',')} with ${security ?? 'PLAINTEXT'}: check KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD (or the sasl option) and the principal's ACLs (${describeError(error)})`,
      { cause: error, refusal },
    );
  }
  const using = security !== undefined && security !== 'PLAINTEXT' ? `; connecting with ${security}` : '';
  return new TransportError(
    `Kafka connect failed: ${brokerHint(brokers)}${using} (${describeError(error)})`,
    {
      cause: error,
    },
  );
}
