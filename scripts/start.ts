import { DatabaseAdapter } from '../src/adapter/index.js';
import { openDatabaseEventClient } from '../src/client/index.js';
import { assertNodeVersion, readEnv } from '../src/env.js';
import { jsonLogger } from '../src/logger.js';
import { KafkaTransport } from '../src/transport/kafka-transport.js';
import { stackDown, stackUp } from './stack.js';

/**
 * `npm start`: the local stack (Kafka + PostgreSQL), the adapter, and one proven round trip; then it
 * serves until Ctrl-C and stops what it started.
 */
async function main(): Promise<void> {
  assertNodeVersion();
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const stack = await stackUp();
  const env = readEnv({
    ...process.env,
    KAFKA_BOOTSTRAP_SERVERS: stack.kafkaBootstrapServers,
    DATABASE_URL: stack.databaseUrl,
  });
  const logger = jsonLogger(env.DBBRIDGE_LOG_LEVEL === 'info' ? 'warn' : env.DBBRIDGE_LOG_LEVEL, {
    service: 'dbbridge-adapter',
  });
  const transport = new KafkaTransport({
    brokers: stack.kafkaBootstrapServers.split(','),
    clientId: 'dbbridge-adapter',
    logger,
  });
  const adapter = new DatabaseAdapter({
    transport,
    databaseUrl: stack.databaseUrl,
    topicEnv: env.DBBRIDGE_ENV,
    groupId: env.DBBRIDGE_ADAPTER_GROUP,
    poolMax: env.DBBRIDGE_POOL_MAX,
    allowDdl: env.DBBRIDGE_ALLOW_DDL,
    breaker: { resetTimeoutMs: env.DBBRIDGE_BREAKER_RESET_MS },
    logger,
  });
  await adapter.start();

  const client = await openDatabaseEventClient({
    bootstrapServers: stack.kafkaBootstrapServers,
    topicEnv: env.DBBRIDGE_ENV,
  });
  const started = performance.now();
  const [row] = await client.query<{ executions: string; decisions: string; injections: string }>(
    `SELECT (SELECT count(*) FROM agent_execution_logs) AS executions,
            (SELECT count(*) FROM agent_routing_decisions) AS decisions,
            (SELECT count(*) FROM agent_manifest_injections) AS injections`,
  );
  const cold = (performance.now() - started).toFixed(1);
  const warmStart = performance.now();
  await client.query('SELECT 1');
  const warm = (performance.now() - warmStart).toFixed(1);
  await client.stop();

  out('dbbridge is up.');
  out(
    `  round trip through Kafka -> adapter -> PostgreSQL -> Kafka: ${warm} ms (the first, opening connections: ${cold} ms)`,
  );
  out(
    `  rows: agent_execution_logs=${row?.executions} agent_routing_decisions=${row?.decisions} agent_manifest_injections=${row?.injections}`,
  );
  out();
  out('Connect from another shell:');
  out(`  export KAFKA_BOOTSTRAP_SERVERS=${stack.kafkaBootstrapServers}`);
  out(`  export DBBRIDGE_ENV=${env.DBBRIDGE_ENV}`);
  out(`  # topics: ${Object.values(adapter.topics).join(', ')}`);
  out("  # TypeScript: const db = await openDatabaseEventClient(); await db.query('SELECT 1');");
  out(`  # direct database (for checks only; agents never need it): ${stack.databaseUrl}`);
  out();
  out('Serving. Press Ctrl-C to stop.');

  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  out('Stopping...');
  await adapter.stop();
  await transport.close();
  if (stack.startedKafka || stack.startedPostgres)
    await stackDown({ kafka: stack.startedKafka, postgres: stack.startedPostgres });
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
