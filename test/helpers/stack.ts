import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { migrate } from '../../scripts/migrate.js';
import { runningPostgres, startPostgres } from '../../scripts/stack/postgres.js';
import { resolveStateDir, stopPid } from '../../scripts/stack/process.js';
import { type StackUpResult, stackDown, stackUp } from '../../scripts/stack.js';
import { readEnv } from '../../src/env.js';

let started: StackUpResult | undefined;

/**
 * Vitest `globalSetup`: brings the local stack up (reusing a running one, or the servers that
 * `KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` name) and puts its addresses in `process.env` for the tests.
 */
export async function setup(): Promise<void> {
  started = await stackUp();
  process.env.KAFKA_BOOTSTRAP_SERVERS = started.kafkaBootstrapServers;
  process.env.DATABASE_URL = started.databaseUrl;
}

/** Vitest `globalSetup` teardown: stops only what `setup()` started; a stack that was already up stays up. */
export async function teardown(): Promise<void> {
  if (started === undefined) return;
  const { startedKafka, startedPostgres } = started;
  started = undefined;
  if (startedKafka || startedPostgres) await stackDown({ kafka: startedKafka, postgres: startedPostgres });
}

export interface ThrowawayPostgres {
  /** Connection string of the instance's migrated `omninode_bridge` database. */
  readonly url: string;
  /** Starts it again on the same port (after `stop()`): the database comes back. */
  start(): Promise<void>;
  /** Stops it (fast shutdown): connections fail as in a database outage. */
  stop(): Promise<void>;
  /** Stops it and deletes its data. */
  destroy(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/**
 * Starts a fresh, migrated PostgreSQL of its own (data under `<stateDir>/throwaway/<name>`, a free port)
 * that a test may stop and start to simulate an outage. `name` must be unique among concurrent tests.
 */
export async function startThrowawayPostgres(name: string): Promise<ThrowawayPostgres> {
  if (!/^[\w-]{1,64}$/.test(name))
    throw new TypeError(`invalid throw-away PostgreSQL name ${JSON.stringify(name)}`);
  const dir = join(resolveStateDir(readEnv().DBBRIDGE_STATE_DIR), 'throwaway', name);
  const dataDir = join(dir, 'data');
  const leftover = runningPostgres(dataDir); // from a run that did not clean up
  if (leftover !== undefined) await stopPid(leftover, 'SIGINT');
  rmSync(dir, { recursive: true, force: true });

  const server = await startPostgres({ dataDir, port: await freePort() });
  await migrate(server.url);
  return {
    url: server.url,
    start: server.start,
    stop: server.stop,
    destroy: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
