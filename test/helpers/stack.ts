import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { migrate } from '../../scripts/migrate.js';
import {
  ensureKafkaJars,
  type KafkaOptions,
  kafkaFiles,
  kafkaNodes,
  startKafka,
  startKafkaNode,
  stopKafka,
} from '../../scripts/stack/kafka.js';
import { removeCluster, runningPostgres, startPostgres } from '../../scripts/stack/postgres.js';
import { resolveStateDir, stopPid, stopRecorded } from '../../scripts/stack/process.js';
import { ADAPTER_ROLE, ensureRoles, roleUrl } from '../../scripts/stack/roles.js';
import {
  ensureSecureMaterial,
  type SecureMaterial,
  type SecureUser,
  secureClientSecurity,
} from '../../scripts/stack/secure.js';
import { type StackUpResult, stackDown, stackUp } from '../../scripts/stack.js';
import { readEnv } from '../../src/env.js';
import type { KafkaSecurity } from '../../src/transport/security.js';

let started: StackUpResult | undefined;

/**
 * Vitest `globalSetup`: brings the local stack up (reusing a running one, or the servers that
 * `KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` name) and puts its addresses in `process.env` for the tests.
 */
export async function setup(): Promise<void> {
  started = await stackUp({ command: 'npm test' });
  process.env.KAFKA_BOOTSTRAP_SERVERS = started.kafkaBootstrapServers;
  process.env.DATABASE_URL = started.databaseUrl;
  process.env.DATABASE_OWNER_URL = started.databaseOwnerUrl;
}

/** Vitest `globalSetup` teardown: stops only what `setup()` started; a stack that was already up stays up. */
export async function teardown(): Promise<void> {
  if (started === undefined) return;
  const { startedKafka, startedPostgres } = started;
  started = undefined;
  if (startedKafka || startedPostgres) await stackDown({ kafka: startedKafka, postgres: startedPostgres });
}

export interface ThrowawayPostgres {
  /** Connection string of the instance's migrated `omninode_bridge` database, as the adapter's role. */
  readonly url: string;
  /** The same database as its owner (a superuser). */
  readonly ownerUrl: string;
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
  removeCluster(dataDir);
  rmSync(dir, { recursive: true, force: true });

  const server = await startPostgres({ dataDir, port: await freePort() });
  await migrate(server.url);
  await ensureRoles(server.url);
  return {
    url: roleUrl(server.url, ADAPTER_ROLE),
    ownerUrl: server.url,
    start: server.start,
    stop: server.stop,
    destroy: async () => {
      await server.stop();
      removeCluster(dataDir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ThrowawayKafka {
  readonly bootstrapServers: string;
  /** Stops the broker (SIGTERM) and keeps its data: a broker restart or outage. */
  stop(): Promise<void>;
  /** Starts it again on the same ports with the same data. */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  destroy(): Promise<void>;
  /** Secured broker only: its CA, certificates and users' passwords. */
  readonly material?: SecureMaterial;
  /** Secured broker only: the transports' `security` option of a user (SCRAM-SHA-512 unless said). */
  security(user: SecureUser, mechanism?: 'SCRAM-SHA-256' | 'SCRAM-SHA-512'): KafkaSecurity;
}

/**
 * Starts a Kafka broker of its own (same version and settings as the stack's, free ports, data under
 * `<stateDir>/throwaway/kafka-<name>`) that a test may stop and start. Shares the stack's jars.
 * `secure`: the stack's secured mode (SASL_SSL, SCRAM users, StandardAuthorizer; no ACLs yet).
 */
export async function startThrowawayKafka(
  name: string,
  { secure = false }: { secure?: boolean } = {},
): Promise<ThrowawayKafka> {
  if (!/^[\w-]{1,64}$/.test(name))
    throw new TypeError(`invalid throw-away Kafka name ${JSON.stringify(name)}`);
  const env = readEnv();
  const root = resolveStateDir(env.DBBRIDGE_STATE_DIR);
  const stateDir = join(root, 'throwaway', `kafka-${name}`);
  const files = kafkaFiles(stateDir);
  await stopRecorded(files.pidFile, files.properties, 'SIGKILL'); // from a run that did not clean up
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(files.dataDir, { recursive: true, force: true });
  const jars = await ensureKafkaJars(root, env.DBBRIDGE_KAFKA_VERSION);
  const ownJars = join(stateDir, 'kafka', env.DBBRIDGE_KAFKA_VERSION, 'lib');
  mkdirSync(join(ownJars, '..'), { recursive: true });
  if (!existsSync(ownJars)) symlinkSync(jars, ownJars);
  const material = secure ? await ensureSecureMaterial(stateDir) : undefined;
  const options = {
    stateDir,
    version: env.DBBRIDGE_KAFKA_VERSION,
    port: await freePort(),
    controllerPort: await freePort(),
    ...(material ? { secure: material } : {}),
  };
  const { bootstrapServers } = await startKafka(options);
  const stop = async () => {
    await stopRecorded(files.pidFile, files.properties, 'SIGTERM');
  };
  return {
    bootstrapServers,
    ...(material ? { material } : {}),
    security(user, mechanism) {
      if (material === undefined) throw new Error(`throw-away Kafka ${name} is not secured`);
      return secureClientSecurity(material, user, mechanism);
    },
    stop,
    start: async () => {
      await startKafka(options);
    },
    destroy: async () => {
      await stop();
      rmSync(stateDir, { recursive: true, force: true });
      rmSync(files.dataDir, { recursive: true, force: true });
    },
  };
}

export interface ThrowawayKafkaCluster {
  /** Every node, comma separated. */
  readonly bootstrapServers: string;
  /** Node ids (1-based, the KRaft `node.id`) and client ports. */
  readonly nodes: readonly { readonly node: number; readonly port: number }[];
  /** The PID of a node, if it runs. */
  pid(node: number): number | undefined;
  /** SIGKILL one node (no controlled shutdown): a broker that dies. Resolves once it is gone. */
  kill(node: number): Promise<void>;
  /** Starts a killed node again with its data, and waits until it answers. */
  restart(node: number): Promise<void>;
  /** Stops every node and deletes the data. */
  destroy(): Promise<void>;
}

/**
 * A KRaft cluster of its own (`brokers` nodes, each broker and controller, as `stack:up -- --brokers
 * n` starts them; free ports, 512 MB of heap each, data under `<stateDir>/throwaway/kafka-<name>`):
 * internal topics on three replicas with `min.insync.replicas` 2. The shared stack is not touched.
 */
export async function startThrowawayKafkaCluster(name: string, brokers = 3): Promise<ThrowawayKafkaCluster> {
  if (!/^[\w-]{1,64}$/.test(name))
    throw new TypeError(`invalid throw-away Kafka name ${JSON.stringify(name)}`);
  const env = readEnv();
  const root = resolveStateDir(env.DBBRIDGE_STATE_DIR);
  const stateDir = join(root, 'throwaway', `kafka-${name}`);
  await stopKafka(stateDir); // from a run that did not clean up (deletes its tmpfs data too)
  rmSync(stateDir, { recursive: true, force: true });
  const jars = await ensureKafkaJars(root, env.DBBRIDGE_KAFKA_VERSION);
  const ownJars = join(stateDir, 'kafka', env.DBBRIDGE_KAFKA_VERSION, 'lib');
  mkdirSync(join(ownJars, '..'), { recursive: true });
  if (!existsSync(ownJars)) symlinkSync(jars, ownJars);
  const ports = [];
  for (let i = 0; i < brokers; i++) ports.push({ port: await freePort(), controllerPort: await freePort() });
  const [first, ...moreNodes] = ports as [{ port: number; controllerPort: number }];
  const options: KafkaOptions = {
    stateDir,
    version: env.DBBRIDGE_KAFKA_VERSION,
    port: first.port,
    controllerPort: first.controllerPort,
    moreNodes,
  };
  const { bootstrapServers } = await startKafka(options);
  const pid = (node: number) => kafkaNodes(stateDir).find((n) => n.node === node)?.pid;
  return {
    bootstrapServers,
    nodes: ports.map((p, i) => ({ node: i + 1, port: p.port })),
    pid,
    async kill(node) {
      const running = pid(node);
      if (running === undefined) return;
      await stopPid(running, 'SIGKILL');
    },
    async restart(node) {
      await startKafkaNode(options, node);
    },
    async destroy() {
      // SIGKILL: a cluster's nodes shutting down together wait on each other; the data goes anyway.
      for (const n of kafkaNodes(stateDir)) {
        if (n.pid !== undefined) await stopPid(n.pid, 'SIGKILL');
      }
      await stopKafka(stateDir);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
