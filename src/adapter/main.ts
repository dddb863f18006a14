import { pathToFileURL } from 'node:url';
import { assertNodeVersion, readEnv } from '../env.js';
import { jsonLogger } from '../logger.js';
import { createTransport } from '../transport/create-transport.js';
import { DatabaseAdapter } from './adapter.js';

/** The adapter as a process: configured from the environment, stopped gracefully by SIGTERM or SIGINT. */
export async function main(): Promise<void> {
  assertNodeVersion();
  const env = readEnv();
  const logger = jsonLogger(env.DBBRIDGE_LOG_LEVEL, { service: 'dbbridge-adapter' });
  if (!env.KAFKA_BOOTSTRAP_SERVERS || !env.DATABASE_URL) {
    throw new Error(
      'the adapter needs KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL (run `npm run stack:up` for local ones)',
    );
  }
  const transport = createTransport(env.DBBRIDGE_TRANSPORT, {
    brokers: env.KAFKA_BOOTSTRAP_SERVERS.split(',').map((s) => s.trim()),
    clientId: 'dbbridge-adapter',
    logger,
  });
  const adapter = new DatabaseAdapter({
    transport,
    databaseUrl: env.DATABASE_URL,
    topicEnv: env.DBBRIDGE_ENV,
    groupId: env.DBBRIDGE_ADAPTER_GROUP,
    poolMax: env.DBBRIDGE_POOL_MAX,
    pipelineDepth: env.DBBRIDGE_PIPELINE_DEPTH,
    ...(env.DBBRIDGE_MAX_IN_FLIGHT ? { maxInFlight: env.DBBRIDGE_MAX_IN_FLIGHT } : {}),
    allowDdl: env.DBBRIDGE_ALLOW_DDL,
    breaker: { resetTimeoutMs: env.DBBRIDGE_BREAKER_RESET_MS },
    logger,
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    adapter
      .stop()
      .then(() => transport.close())
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
