import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import {
  LOCAL_STACK_KAFKA_CONTROLLER_PORT,
  LOCAL_STACK_KAFKA_PORT,
  LOCAL_STACK_PG_PORT,
} from './local-stack.js';
import { DEFAULT_TRANSPORT, TRANSPORT_KINDS, type TransportKind } from './transport/create-transport.js';

const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes' || v === 'on');
const int = (min: number) => z.coerce.number().int().min(min);

/**
 * Every environment variable dbbridge reads, in one place. Only `main.ts` files and `scripts/` call
 * `readEnv()`; library code takes options objects.
 */
export const Env = z.object({
  /** Kafka brokers, comma separated. When set, the local stack does not start its own broker. */
  KAFKA_BOOTSTRAP_SERVERS: z.string().min(1).optional(),
  /** PostgreSQL connection string of the adapter. When set, the local stack does not start its own server. */
  DATABASE_URL: z.string().min(1).optional(),
  /** PostgreSQL connection string of the schema owner (migrations, codegen); default: `DATABASE_URL`. */
  DATABASE_OWNER_URL: z.string().min(1).optional(),
  /** Topic environment prefix: `{env}.omninode-bridge.database.*`. */
  DBBRIDGE_ENV: z.string().min(1).default('dev'),
  /** Adapter: maximum pooled PostgreSQL connections (seed: 10-50). */
  DBBRIDGE_POOL_MAX: int(1).default(20),
  /** Adapter: how many requests run at once (default 4 x the pool size: quick ones share connections). */
  DBBRIDGE_MAX_IN_FLIGHT: int(1).optional(),
  /** Adapter: quick statements arriving together go out pipelined, up to this many per connection (1 = off). */
  DBBRIDGE_PIPELINE_DEPTH: int(1).default(8),
  /** Adapter: allow DDL and other schema-changing statements in EXECUTE requests. */
  DBBRIDGE_ALLOW_DDL: flag.default(false),
  /** Adapter: consumer group shared by all adapter processes. */
  DBBRIDGE_ADAPTER_GROUP: z.string().min(1).default('dbbridge-adapter'),
  /** Adapter: how long the database circuit breaker stays open before a probe, in ms. */
  DBBRIDGE_BREAKER_RESET_MS: int(100).default(30_000),
  /** Kafka client library of the transport: platformatic (@platformatic/kafka, the default) or kafkajs. */
  DBBRIDGE_TRANSPORT: z.enum(TRANSPORT_KINDS).default(DEFAULT_TRANSPORT),
  /** Log level: debug, info, warn, error, silent. */
  DBBRIDGE_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** Where the local stack keeps its state (Kafka jars, data, PIDs, stack.env). */
  DBBRIDGE_STATE_DIR: z.string().min(1).default('.dbbridge'),
  /** Ports of the local stack (loopback only). */
  DBBRIDGE_KAFKA_PORT: int(1).default(LOCAL_STACK_KAFKA_PORT),
  DBBRIDGE_KAFKA_CONTROLLER_PORT: int(1).default(LOCAL_STACK_KAFKA_CONTROLLER_PORT),
  DBBRIDGE_PG_PORT: int(1).default(LOCAL_STACK_PG_PORT),
  /** Kafka version the local stack fetches from Maven Central. */
  DBBRIDGE_KAFKA_VERSION: z.string().default('4.1.1'),
});
export type Env = z.infer<typeof Env>;

export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const parsed = Env.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid environment: ${problems}`);
  }
  return parsed.data;
}

/**
 * `readEnv`, with the local stack's addresses (`<DBBRIDGE_STATE_DIR>/stack.env`, written by
 * `stack up` and `npm start`) filling in `KAFKA_BOOTSTRAP_SERVERS`, `DATABASE_URL` (and, unless
 * `DATABASE_URL` is set, `DATABASE_OWNER_URL`) and `DBBRIDGE_ENV`
 * where the environment leaves them unset. The state directory is relative to `cwd` (npm scripts run
 * in the package root).
 */
export function readEnvWithStack(source: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Env {
  const env = readEnv(source);
  const file = resolve(cwd, env.DBBRIDGE_STATE_DIR, 'stack.env');
  if (!existsSync(file)) return env;
  const stack = parseEnv(readFileSync(file, 'utf8'));
  return readEnv({
    ...source,
    KAFKA_BOOTSTRAP_SERVERS: source.KAFKA_BOOTSTRAP_SERVERS || stack.KAFKA_BOOTSTRAP_SERVERS,
    DATABASE_URL: source.DATABASE_URL || stack.DATABASE_URL,
    DATABASE_OWNER_URL:
      source.DATABASE_OWNER_URL || (source.DATABASE_URL ? undefined : stack.DATABASE_OWNER_URL),
    DBBRIDGE_ENV: source.DBBRIDGE_ENV || stack.DBBRIDGE_ENV,
  });
}

/** Entry points call this first: dbbridge needs Node 22 or newer. */
export function assertNodeVersion(version: string = process.versions.node): void {
  const major = Number(version.split('.')[0]);
  if (!(major >= 22)) {
    throw new Error(
      `dbbridge needs Node.js 22 or newer (this is ${version}). Run it through npm scripts, which use the Node 24 from devDependencies, or node_modules/.bin/node.`,
    );
  }
}

/** The variables a library client falls back to (the seed's "default: from environment"). */
export function clientEnvDefaults(source: NodeJS.ProcessEnv = process.env): {
  bootstrapServers?: string;
  topicEnv?: string;
  transportKind?: TransportKind;
} {
  const out: { bootstrapServers?: string; topicEnv?: string; transportKind?: TransportKind } = {};
  if (source.KAFKA_BOOTSTRAP_SERVERS) out.bootstrapServers = source.KAFKA_BOOTSTRAP_SERVERS;
  if (source.DBBRIDGE_ENV) out.topicEnv = source.DBBRIDGE_ENV;
  const kind = source.DBBRIDGE_TRANSPORT;
  if (kind === 'kafkajs' || kind === 'platformatic') out.transportKind = kind;
  return out;
}
