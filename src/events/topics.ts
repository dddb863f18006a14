/** The three topics of the protocol, for one environment (`dev`, `staging`, ...). */
export interface TopicNames {
  readonly requested: string;
  readonly completed: string;
  readonly failed: string;
}

export const DEFAULT_TOPIC_ENV = 'dev';

const TOPIC_ENV_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

/** `{env}.omninode-bridge.database.query-{requested,completed,failed}.v1`, as the seed names them. */
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
  });
}
