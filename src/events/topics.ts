/** The topics of the protocol, for one environment (`dev`, `staging`, ...). */
export interface TopicNames {
  readonly requested: string;
  readonly completed: string;
  readonly failed: string;
  /**
   * Addition: where the adapter puts a message it cannot answer (not decodable, no usable
   * correlation id) or whose handling failed unexpectedly, with the reason and the original bytes,
   * source topic, partition and offset (`DeadLetterEnvelope`). Read by operators, not by clients.
   */
  readonly deadLettered: string;
}

export const DEFAULT_TOPIC_ENV = 'dev';

const TOPIC_ENV_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * `{env}.omninode-bridge.database.query-{requested,completed,failed}.v1`, as the seed names them, and
 * the dead-letter topic `{env}.omninode-bridge.database.query-dead-lettered.v1` (an addition).
 */
export function topicNames(env: string = DEFAULT_TOPIC_ENV): TopicNames {
  if (!TOPIC_ENV_PATTERN.test(env)) {
    throw new TypeError(
      `invalid topic environment ${JSON.stringify(env)}: use letters, digits, '.', '_' or '-'`,
    );
  }
  const base = `${env}.omninode-bridge.database`;
  return Object.freeze({
    requested: `${base}.query-requested.v1`,
    completed: `${base}.query-completed.v1`,
    failed: `${base}.query-failed.v1`,
    deadLettered: `${base}.query-dead-lettered.v1`,
  });
}

const SERVICE_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * A service's own topics (issue 9 §2, `docs/per-service-topics.md`):
 * `{env}.omninode-bridge.database.{service}.query-{requested,completed,failed,dead-lettered}.v1`. In secured mode
 * only the service's principal may write its request topic and read its reply topics, so the topic a
 * request arrived on names its sender.
 */
export function serviceTopicNames(env: string, service: string): TopicNames {
  if (!SERVICE_PATTERN.test(service)) {
    throw new TypeError(
      `invalid service name ${JSON.stringify(service)}: use lower-case letters, digits and '-' (at most 64)`,
    );
  }
  topicNames(env); // validates env
  const base = `${env}.omninode-bridge.database.${service}`;
  return Object.freeze({
    requested: `${base}.query-requested.v1`,
    completed: `${base}.query-completed.v1`,
    failed: `${base}.query-failed.v1`,
    deadLettered: `${base}.query-dead-lettered.v1`,
  });
}
