import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { assertNodeVersion, type Env, readEnv } from '../src/env.js';
import { topicNames } from '../src/events/topics.js';
import { ensureTopics } from '../src/transport/kafka-admin.js';
import { migrate } from './migrate.js';
import {
  ensureKafkaJars,
  kafkaFiles,
  runningKafka,
  startKafka,
  stopKafka,
  waitForKafka,
} from './stack/kafka.js';
import { runningPostgres, startPostgres } from './stack/postgres.js';
import { isMain, resolveStateDir, stopRecorded } from './stack/process.js';

export interface StackUpResult {
  readonly kafkaBootstrapServers: string;
  readonly databaseUrl: string;
  /** Whether this call started the broker (false: reused, or `KAFKA_BOOTSTRAP_SERVERS` was set). */
  readonly startedKafka: boolean;
  /** Whether this call started PostgreSQL (false: reused, or `DATABASE_URL` was set). */
  readonly startedPostgres: boolean;
}

export interface StackOptions {
  /** Environment to read (see `src/env.ts`). Default: `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface StackDownOptions extends StackOptions {
  /** Stop the broker recorded in `<stateDir>/kafka.pid`. Default true. */
  readonly kafka?: boolean;
  /** Stop the PostgreSQL recorded in `<stateDir>/postgres.pid`. Default true. */
  readonly postgres?: boolean;
}

function stateOf(env: Env) {
  const stateDir = resolveStateDir(env.DBBRIDGE_STATE_DIR);
  return {
    stateDir,
    pgDataDir: join(stateDir, 'postgres', 'data'),
    pgPidFile: join(stateDir, 'postgres.pid'),
    stackEnvFile: join(stateDir, 'stack.env'),
  };
}

async function kafkaUp(env: Env, stateDir: string): Promise<{ servers: string; started: boolean }> {
  if (env.KAFKA_BOOTSTRAP_SERVERS !== undefined)
    return { servers: env.KAFKA_BOOTSTRAP_SERVERS, started: false };
  const servers = `127.0.0.1:${env.DBBRIDGE_KAFKA_PORT}`;
  const running = runningKafka(stateDir);
  if (running !== undefined) {
    await waitForKafka(servers, running, kafkaFiles(stateDir).logFile);
    console.error(`Kafka: reusing the running broker (pid ${running})`);
    return { servers, started: false };
  }
  await ensureKafkaJars(stateDir, env.DBBRIDGE_KAFKA_VERSION);
  const startedAt = Date.now();
  const { pid } = await startKafka({
    stateDir,
    version: env.DBBRIDGE_KAFKA_VERSION,
    port: env.DBBRIDGE_KAFKA_PORT,
    controllerPort: env.DBBRIDGE_KAFKA_CONTROLLER_PORT,
  });
  console.error(`Kafka ${env.DBBRIDGE_KAFKA_VERSION}: ready in ${Date.now() - startedAt} ms (pid ${pid})`);
  return { servers, started: true };
}

async function postgresUp(
  env: Env,
  state: ReturnType<typeof stateOf>,
): Promise<{ url: string; started: boolean }> {
  if (env.DATABASE_URL !== undefined) return { url: env.DATABASE_URL, started: false };
  const before = runningPostgres(state.pgDataDir);
  const startedAt = Date.now();
  const server = await startPostgres({ dataDir: state.pgDataDir, port: env.DBBRIDGE_PG_PORT });
  const started = server.pid !== before;
  writeFileSync(state.pgPidFile, `${server.pid}\n`);
  console.error(
    started
      ? `PostgreSQL: ready in ${Date.now() - startedAt} ms (pid ${server.pid})`
      : `PostgreSQL: reusing the running server (pid ${server.pid})`,
  );
  return { url: server.url, started };
}

/**
 * Brings the local stack up: a Kafka broker and a PostgreSQL server (each reused if already running,
 * skipped if `KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` point elsewhere), the three topics of
 * `DBBRIDGE_ENV`, the migrations, and `<stateDir>/stack.env`.
 */
export async function stackUp(options: StackOptions = {}): Promise<StackUpResult> {
  const env = readEnv(options.env);
  const state = stateOf(env);
  mkdirSync(state.stateDir, { recursive: true });
  const [kafka, postgres] = await Promise.all([kafkaUp(env, state.stateDir), postgresUp(env, state)]);

  const admin = new Kafka({
    clientId: 'dbbridge-stack',
    brokers: kafka.servers.split(','),
    logLevel: logLevel.NOTHING, // failures are thrown; retries on the way are noise
  }).admin();
  await admin.connect();
  try {
    await ensureTopics(admin, topicNames(env.DBBRIDGE_ENV), { requestPartitions: 12, replyPartitions: 24 });
    // A coordinator lookup makes a fresh broker create __consumer_offsets now, so the first consumer
    // group of a test does not wait for it (and kafkajs does not log "coordinator not available").
    await admin.describeGroups(['dbbridge-stack-warm-up']);
  } finally {
    await admin.disconnect();
  }
  await migrate(postgres.url);

  writeFileSync(
    state.stackEnvFile,
    `KAFKA_BOOTSTRAP_SERVERS=${kafka.servers}\nDATABASE_URL=${postgres.url}\nDBBRIDGE_ENV=${env.DBBRIDGE_ENV}\n`,
  );
  return {
    kafkaBootstrapServers: kafka.servers,
    databaseUrl: postgres.url,
    startedKafka: kafka.started,
    startedPostgres: postgres.started,
  };
}

/**
 * Stops the processes recorded in `<stateDir>/kafka.pid` and `<stateDir>/postgres.pid` (only those:
 * never by name), and removes `stack.env` when both are asked for.
 */
export async function stackDown(options: StackDownOptions = {}): Promise<void> {
  const env = readEnv(options.env);
  const state = stateOf(env);
  if (options.kafka ?? true) {
    if (await stopKafka(state.stateDir)) console.error('Kafka: stopped');
  }
  if (options.postgres ?? true) {
    if (await stopRecorded(state.pgPidFile, state.pgDataDir, 'SIGINT')) console.error('PostgreSQL: stopped');
  }
  if ((options.kafka ?? true) && (options.postgres ?? true)) rmSync(state.stackEnvFile, { force: true });
}

/** `postgres://user:secret@host` -> `postgres://user:***@host`, for printing. */
function redact(text: string): string {
  return text.replace(/(\/\/[^:/@\s]+:)[^@\s]+@/g, '$1***@');
}

if (isMain(import.meta.url)) {
  assertNodeVersion();
  const command = process.argv[2];
  try {
    if (command === 'up') {
      await stackUp();
      process.stdout.write(redact(readFileSync(stateOf(readEnv()).stackEnvFile, 'utf8')));
    } else if (command === 'down') {
      await stackDown();
    } else {
      console.error('usage: tsx scripts/stack.ts up|down');
      process.exitCode = 2;
    }
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  }
}
