import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { inject } from 'vitest';
import { DDL_ROLE, roleUrl } from '../../scripts/stack/roles.js';
import { type AdapterOptions, DatabaseAdapter } from '../../src/adapter/index.js';
import { DatabaseEventClient, type DatabaseEventClientOptions } from '../../src/client/index.js';
import { readEnv } from '../../src/env.js';
import { type TopicNames, topicNames } from '../../src/events/topics.js';
import { type Logger, silentLogger } from '../../src/logger.js';
import { kafkajsSecurity } from '../../src/transport/client-security.js';
import { createTransport, type TransportKind } from '../../src/transport/create-transport.js';
import { ensureTopics } from '../../src/transport/kafka-admin.js';
import type { KafkaSecurity } from '../../src/transport/security.js';
import type { Transport } from '../../src/transport/types.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBootstrapServers: string;
    /** The adapter's role (no superuser, DML only). */
    databaseUrl: string;
    /** The schema owner: for tests that create their own tables, types and functions. */
    databaseOwnerUrl: string;
  }
}

export function stack() {
  const databaseOwnerUrl = inject('databaseOwnerUrl');
  return {
    bootstrapServers: inject('kafkaBootstrapServers'),
    databaseUrl: inject('databaseUrl'),
    databaseOwnerUrl,
    /** The local stack's DDL-capable role, for adapters run with `allowDdl`. */
    databaseDdlUrl: roleUrl(databaseOwnerUrl, DDL_ROLE),
  };
}

/** The Kafka client library under test: `DBBRIDGE_TRANSPORT` (CI runs the suite once per library). */
export function transportKind(): TransportKind {
  return readEnv().DBBRIDGE_TRANSPORT;
}

let counter = 0;
/** A topic environment of its own for one test file, so tests never see each other's events. */
export function uniqueEnv(name: string): string {
  counter++;
  return `t-${name}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

export function kafkaAdmin(bootstrapServers = stack().bootstrapServers, security?: KafkaSecurity) {
  return new Kafka({
    brokers: bootstrapServers.split(','),
    logLevel: logLevel.NOTHING,
    ...kafkajsSecurity(security),
  }).admin();
}

export async function createTopics(
  env: string,
  replyPartitions = 24,
  requestPartitions = 6,
  bootstrapServers = stack().bootstrapServers,
  security?: KafkaSecurity,
): Promise<TopicNames> {
  const topics = topicNames(env);
  const admin = kafkaAdmin(bootstrapServers, security);
  await admin.connect();
  try {
    await ensureTopics(admin, topics, { requestPartitions, replyPartitions });
  } finally {
    await admin.disconnect();
  }
  return topics;
}

export interface Bridge {
  readonly env: string;
  readonly topics: TopicNames;
  readonly adapter: DatabaseAdapter;
  /** Direct pool as the schema owner, to set up and check what the bus did. */
  readonly pg: pg.Pool;
  client(options?: DatabaseEventClientOptions): Promise<DatabaseEventClient>;
  close(): Promise<void>;
}

export interface RunningAdapter {
  readonly adapter: DatabaseAdapter;
  readonly transport: Transport;
  /** Stops the adapter (answering what is in flight) and closes its transport. */
  close(): Promise<void>;
}

/**
 * A real adapter in this process, with the transport under test, on topic environment `env` and
 * group `adapter-<env>`, against the stack's database (and its broker, unless `bootstrapServers`).
 */
export async function startAdapter(
  env: string,
  options: {
    name: string;
    bootstrapServers?: string;
    /** TLS and SASL of the adapter's transport (a secured broker). */
    security?: KafkaSecurity;
    adapter?: Partial<AdapterOptions>;
    /** Start it (default true). */
    start?: boolean;
    /** Logger of the adapter and its transport (default: silent). */
    logger?: Logger;
  },
): Promise<RunningAdapter> {
  const transport = createTransport(transportKind(), {
    brokers: (options.bootstrapServers ?? stack().bootstrapServers).split(','),
    clientId: `adapter-${options.name}`,
    logger: options.logger ?? silentLogger,
    ...(options.security ? { security: options.security } : {}),
  });
  const adapter = new DatabaseAdapter({
    transport,
    databaseUrl: stack().databaseUrl,
    topicEnv: env,
    groupId: `adapter-${env}`,
    poolMax: 10,
    logger: options.logger ?? silentLogger,
    ...options.adapter,
  });
  if (options.start !== false) await adapter.start();
  return {
    adapter,
    transport,
    async close() {
      await adapter.stop();
      await transport.close();
    },
  };
}

/**
 * A real adapter (in this process) on its own topics, against the real broker and database, plus
 * started clients that are stopped on close, and a direct `pg` pool to check results against.
 */
export async function startBridge(
  name: string,
  options: {
    adapter?: Partial<AdapterOptions>;
    adapterRunning?: boolean;
    /** Partitions of the request topic (default 6; 1 makes requests sent together arrive together). */
    requestPartitions?: number;
  } = {},
): Promise<Bridge> {
  const { bootstrapServers, databaseOwnerUrl } = stack();
  const env = uniqueEnv(name);
  const topics = await createTopics(env, 24, options.requestPartitions);
  const running = await startAdapter(env, {
    name,
    ...(options.adapter ? { adapter: options.adapter } : {}),
    start: options.adapterRunning !== false,
  });
  const clients: DatabaseEventClient[] = [];
  const direct = new pg.Pool({ connectionString: databaseOwnerUrl, max: 4 });
  return {
    env,
    topics,
    adapter: running.adapter,
    pg: direct,
    async client(clientOptions = {}) {
      const client = new DatabaseEventClient({
        bootstrapServers,
        topicEnv: env,
        maxRetries: 0,
        ...clientOptions,
      });
      clients.push(client);
      await client.start();
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.stop()));
      await running.close();
      await direct.end();
    },
  };
}
