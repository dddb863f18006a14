import { adapterFromEnv } from '../src/adapter/main.js';
import { openDatabaseEventClient } from '../src/client/index.js';
import { assertNodeVersion, readEnv } from '../src/env.js';
import { jsonLogger } from '../src/logger.js';
import { type StackUpResult, stackDown, stackUp } from './stack.js';

/** Signals that stop `npm start`, whatever it is doing (starting, serving). */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Aborted by the first stop signal, or when the process that started us goes away (npm forwards
 * SIGTERM and SIGINT to the script, but not SIGHUP, and a shell between them would not forward at all):
 * then nobody is left to press Ctrl-C, and what we started must not outlive us.
 */
function stopRequests(say: (line: string) => void): AbortSignal {
  const controller = new AbortController();
  const stop = (reason: string) => {
    if (controller.signal.aborted) {
      say(`Still stopping (${reason} ignored): waiting for the adapter, Kafka and PostgreSQL to stop.`);
      return;
    }
    say(`Stopping (${reason})...`);
    controller.abort(new Error(`stopped by ${reason}`));
  };
  for (const signal of STOP_SIGNALS) process.on(signal, () => stop(signal));
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop('parent process exited');
  }, 250).unref();
  return controller.signal;
}

/**
 * `npm start`: the local stack (Kafka + PostgreSQL), the adapter, and one proven round trip; then it
 * serves until a stop signal and stops everything it started, at whatever point the signal comes.
 */
async function main(signal: AbortSignal, out: (line?: string) => void): Promise<void> {
  assertNodeVersion();

  let stack: StackUpResult | undefined;
  let running: ReturnType<typeof adapterFromEnv> | undefined;
  try {
    stack = await stackUp({ command: 'npm start', signal });
    const env = readEnv({
      ...process.env,
      KAFKA_BOOTSTRAP_SERVERS: stack.kafkaBootstrapServers,
      DATABASE_URL: stack.databaseUrl,
    });
    const logger = jsonLogger(env.DBBRIDGE_LOG_LEVEL === 'info' ? 'warn' : env.DBBRIDGE_LOG_LEVEL, {
      service: 'dbbridge-adapter',
    });
    running = adapterFromEnv(env, logger);
    await running.adapter.start();
    signal.throwIfAborted();

    const client = await openDatabaseEventClient({
      bootstrapServers: stack.kafkaBootstrapServers,
      topicEnv: env.DBBRIDGE_ENV,
      transportKind: env.DBBRIDGE_TRANSPORT,
    });
    let row: { executions: string; decisions: string; injections: string } | undefined;
    let cold: string;
    let warm: string;
    try {
      const started = performance.now();
      [row] = await client.query<{ executions: string; decisions: string; injections: string }>(
        `SELECT (SELECT count(*) FROM agent_execution_logs) AS executions,
                (SELECT count(*) FROM agent_routing_decisions) AS decisions,
                (SELECT count(*) FROM agent_manifest_injections) AS injections`,
      );
      cold = (performance.now() - started).toFixed(1);
      const warmStart = performance.now();
      await client.query('SELECT 1');
      warm = (performance.now() - warmStart).toFixed(1);
    } finally {
      await client.stop();
    }
    signal.throwIfAborted();

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
    out(`  # topics: ${Object.values(running.adapter.topics).join(', ')}`);
    out("  # TypeScript: const db = await openDatabaseEventClient(); await db.query('SELECT 1');");
    out(`  # direct database (for checks only; agents never need it): ${stack.databaseUrl}`);
    out(`  # a second adapter joins the same group: npm run adapter`);
    out();
    out('Serving. Press Ctrl-C to stop.');
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  } finally {
    // Every step on its own: one that fails must not keep the next from stopping what it started.
    await running?.adapter.stop().catch((error) => console.error('adapter stop failed:', error));
    await running?.transport.close().catch((error) => console.error('transport close failed:', error));
    if (stack !== undefined && (stack.startedKafka || stack.startedPostgres))
      await stackDown({ kafka: stack.startedKafka, postgres: stack.startedPostgres });
  }
}

// A closed terminal (SIGHUP) makes writes fail: the stop must go on regardless.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
const out = (line = '') => {
  process.stdout.write(`${line}\n`);
};
const stopSignal = stopRequests(out);
main(stopSignal, out).then(
  () => process.exit(0),
  (error) => {
    // A stop signal during start-up lands here, after what was started has been stopped: a clean stop.
    if (stopSignal.aborted) process.exit(0);
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
