/**
 * Where the local stack of `npm start` / `npm run stack:up` listens by default (loopback only). Kept
 * here so that error messages can name it without reading the environment.
 */
export const LOCAL_STACK_KAFKA_PORT = 39092;
export const LOCAL_STACK_KAFKA_CONTROLLER_PORT = 39093;
export const LOCAL_STACK_PG_PORT = 35432;

/** What a newcomer whose broker does not answer should do next. */
export function brokerHint(brokers: readonly string[]): string {
  return `no Kafka broker answers at ${brokers.join(',')}. For the local stack run \`npm start\` (or \`npm run stack:up\`): it listens on 127.0.0.1:${LOCAL_STACK_KAFKA_PORT}. Otherwise check bootstrap_servers / KAFKA_BOOTSTRAP_SERVERS`;
}
