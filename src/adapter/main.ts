import { pathToFileURL } from 'node:url';
import { assertNodeVersion, type Env, kafkaSecurityFromEnv, readEnvWithStack } from '../env.js';
import { ConfigurationError } from '../errors.js';
import { jsonLogger, type Logger } from '../logger.js';
import { createTransport } from '../transport/create-transport.js';
import { describeSecurity } from '../transport/security.js';
import type { Transport } from '../transport/types.js';
import { DatabaseAdapter } from './adapter.js';
import { type OperationsServer, startOperationsServer } from './http-server.js';
import { claimInstanceId } from './instance-id.js';
import { loadPolicyFile } from './policy.js';

/**
 * The adapter and its transport as the environment configures them: `npm run adapter` and `npm start`
 * build theirs here, so both join the group with the same Kafka client (`DBBRIDGE_TRANSPORT`).
 */
export function adapterFromEnv(
  env: Env,
  logger: Logger,
  groupInstanceId?: string,
): { readonly adapter: DatabaseAdapter; readonly transport: Transport } {
  if (!env.KAFKA_BOOTSTRAP_SERVERS || !env.DATABASE_URL) {
    throw new Error(
      'the adapter needs KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL: `npm run stack:up` (or `npm start`) starts a local Kafka and PostgreSQL and writes their addresses to <DBBRIDGE_STATE_DIR>/stack.env, which the adapter reads when the variables are unset',
    );
  }
  // A bad policy file stops the adapter here, before it connects: the error names the field.
  const policy = env.DBBRIDGE_POLICY === undefined ? undefined : loadPolicyFile(env.DBBRIDGE_POLICY);
  if (policy !== undefined) {
    logger.info('policy', {
      file: env.DBBRIDGE_POLICY,
      shared: policy.shared !== undefined,
      services: Object.keys(policy.services),
    });
  }
  if (
    !env.DBBRIDGE_SHARED_TOPICS &&
    env.DBBRIDGE_SERVICES.length === 0 &&
    Object.keys(policy?.services ?? {}).length === 0
  ) {
    throw new ConfigurationError(
      `the adapter would consume no topic: the shared topics are off (${env.KAFKA_SECURITY_PROTOCOL === 'PLAINTEXT' ? 'DBBRIDGE_SHARED_TOPICS=false' : `secured mode, KAFKA_SECURITY_PROTOCOL=${env.KAFKA_SECURITY_PROTOCOL}`}) and neither DBBRIDGE_SERVICES nor DBBRIDGE_POLICY names a service: name them (\`dbbridge service add <name>\` creates a service's topics and ACLs), or set DBBRIDGE_SHARED_TOPICS=true`,
    );
  }
  const security = kafkaSecurityFromEnv(env);
  logger.info('kafka security', { security: describeSecurity(security) });
  const transport = createTransport(env.DBBRIDGE_TRANSPORT, {
    brokers: env.KAFKA_BOOTSTRAP_SERVERS.split(',').map((s) => s.trim()),
    clientId: 'dbbridge-adapter',
    logger,
    ...(security ? { security } : {}),
  });
  const adapter = new DatabaseAdapter({
    transport,
    databaseUrl: env.DATABASE_URL,
    topicEnv: env.DBBRIDGE_ENV,
    groupId: env.DBBRIDGE_ADAPTER_GROUP,
    services: env.DBBRIDGE_SERVICES,
    // Secured mode: services are known by their own topics; the shared ones only when asked for.
    sharedTopics: env.DBBRIDGE_SHARED_TOPICS,
    ...(policy ? { policy } : {}),
    poolMax: env.DBBRIDGE_POOL_MAX,
    pipelineDepth: env.DBBRIDGE_PIPELINE_DEPTH,
    prepareAfter: env.DBBRIDGE_PREPARE_AFTER,
    ...(env.DBBRIDGE_MAX_IN_FLIGHT ? { maxInFlight: env.DBBRIDGE_MAX_IN_FLIGHT } : {}),
    allowDdl: env.DBBRIDGE_ALLOW_DDL,
    breaker: { resetTimeoutMs: env.DBBRIDGE_BREAKER_RESET_MS },
    idempotency: { retentionMs: env.DBBRIDGE_IDEMPOTENCY_RETENTION_MS },
    ...(env.DBBRIDGE_FAILPOINT
      ? { failpoint: env.DBBRIDGE_FAILPOINT, failpointSkip: env.DBBRIDGE_FAILPOINT_SKIP }
      : {}),
    ...(groupInstanceId ? { groupInstanceId } : {}),
    logger,
  });
  return { adapter, transport };
}

/** The adapter as a process: configured from the environment, stopped gracefully by SIGTERM or SIGINT. */
export async function main(): Promise<void> {
  assertNodeVersion();
  const env = readEnvWithStack();
  const logger = jsonLogger(env.DBBRIDGE_LOG_LEVEL, { service: 'dbbridge-adapter' });
  // Held for the life of the process (the kernel frees it on any death, SIGKILL included).
  const instance = await claimInstanceId({
    explicit: env.DBBRIDGE_INSTANCE_ID,
    groupId: env.DBBRIDGE_ADAPTER_GROUP,
    brokers: (env.KAFKA_BOOTSTRAP_SERVERS ?? '').split(',').map((s) => s.trim()),
  });
  if (instance.id !== undefined) logger.info('group instance id', { groupInstanceId: instance.id });
  const { adapter, transport } = adapterFromEnv(env, logger, instance.id);
  let operations: OperationsServer | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    // Probes see 503 while the adapter drains; the endpoints close once it has stopped.
    operations?.markStopping();
    adapter
      .stop()
      .then(() => operations?.close())
      .then(() => transport.close())
      .then(() => instance.release())
      .then(() => process.exit(0))
      .catch((error) => {
        logger.error('stop failed', { error });
        process.exit(1);
      });
  };
  // A safety net: every request's errors are caught where it is handled; a promise rejection that
  // escapes anyway is logged, and must not end the process for every other caller.
  process.on('unhandledRejection', (error) => logger.error('unhandled rejection', { error }));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Up before the adapter: /healthz answers and /readyz says what is missing while it starts.
  if (env.DBBRIDGE_HTTP_PORT !== undefined) {
    operations = await startOperationsServer({
      adapter,
      port: env.DBBRIDGE_HTTP_PORT,
      host: env.DBBRIDGE_HTTP_HOST,
    });
    logger.info('operations endpoints', { url: operations.url, paths: ['/metrics', '/healthz', '/readyz'] });
  }
  await adapter.start();
  logger.info('adapter ready', { topics: adapter.topics });
  process.send?.('ready');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
