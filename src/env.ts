import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { ConfigurationError } from './errors.js';
import {
  LOCAL_STACK_KAFKA_CONTROLLER_PORT,
  LOCAL_STACK_KAFKA_PORT,
  LOCAL_STACK_PG_PORT,
} from './local-stack.js';
import { DEFAULT_TRANSPORT, TRANSPORT_KINDS, type TransportKind } from './transport/create-transport.js';
import {
  type KafkaSecurity,
  type KafkaTls,
  SASL_MECHANISMS,
  SECURITY_PROTOCOLS,
} from './transport/security.js';

const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes' || v === 'on');
const int = (min: number) => z.coerce.number().int().min(min);
const upper = <T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess((v) => (typeof v === 'string' ? v.trim().toUpperCase() : v), z.enum(values));

/**
 * How clients, the adapter, codegen and bench reach a secured Kafka (names as Kafka's own
 * `security.protocol`, `sasl.mechanism`, `ssl.*` settings). `kafkaSecurityFromEnv` turns them into
 * the transports' `security` option. Unset: PLAINTEXT, as the local stack's default broker.
 */
export const KafkaSecurityEnv = z.object({
  KAFKA_SECURITY_PROTOCOL: upper(SECURITY_PROTOCOLS)
    .default('PLAINTEXT')
    .describe('PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL.'),
  KAFKA_SASL_MECHANISM: upper(SASL_MECHANISMS)
    .optional()
    .describe('PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER; required with SASL_*.'),
  KAFKA_SASL_USERNAME: z.string().min(1).optional().describe('SASL user name (PLAIN, SCRAM).'),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional().describe('SASL password (PLAIN, SCRAM); never logged.'),
  KAFKA_SASL_OAUTHBEARER_TOKEN: z
    .string()
    .min(1)
    .optional()
    .describe('OAUTHBEARER: the bearer token (a static one; pass a token provider in code to refresh).'),
  KAFKA_SSL_CA_FILE: z
    .string()
    .min(1)
    .optional()
    .describe(
      "PEM files: CA of the brokers' certificates (default: Node's CAs), client certificate and key (mutual TLS).",
    ),
  KAFKA_SSL_CERT_FILE: z.string().min(1).optional().describe('PEM file: client certificate (mutual TLS).'),
  KAFKA_SSL_KEY_FILE: z.string().min(1).optional().describe('PEM file: client key (mutual TLS).'),
  KAFKA_SSL_KEY_PASSWORD: z.string().min(1).optional().describe('Password of the client key file.'),
  KAFKA_SSL_SERVER_NAME: z
    .string()
    .min(1)
    .optional()
    .describe("Name the brokers' certificates must carry, when it is not the bootstrap host."),
  KAFKA_SSL_REJECT_UNAUTHORIZED: flag
    .default(true)
    .describe("Verify the brokers' certificates (default true)."),
});
export type KafkaSecurityEnv = z.infer<typeof KafkaSecurityEnv>;

/**
 * Every environment variable dbbridge reads, in one place, each with its description (`dbbridge
 * adapter --help` prints them). Only `main.ts` files, the CLI and `scripts/` call `readEnv()`; library
 * code takes options objects.
 */
export const Env = z.object({
  KAFKA_BOOTSTRAP_SERVERS: z
    .string()
    .min(1)
    .optional()
    .describe('Kafka brokers, comma separated. When set, the local stack does not start its own broker.'),
  DATABASE_URL: z
    .string()
    .min(1)
    .optional()
    .describe(
      'PostgreSQL connection string of the adapter. When set, the local stack does not start its own server.',
    ),
  DATABASE_OWNER_URL: z
    .string()
    .min(1)
    .optional()
    .describe(
      'PostgreSQL connection string of the schema owner (migrations, codegen); default: `DATABASE_URL`.',
    ),
  DBBRIDGE_ENV: z
    .string()
    .min(1)
    .default('dev')
    .describe('Topic environment prefix: `{env}.omninode-bridge.database.*`.'),
  DBBRIDGE_POOL_MAX: int(1)
    .default(20)
    .describe('Adapter: maximum pooled PostgreSQL connections (seed: 10-50).'),
  DBBRIDGE_MAX_IN_FLIGHT: int(1)
    .optional()
    .describe(
      'Adapter: how many requests run at once (default 4 x the pool size: quick ones share connections).',
    ),
  DBBRIDGE_PIPELINE_DEPTH: int(1)
    .default(8)
    .describe(
      'Adapter: quick statements arriving together go out pipelined, up to this many per connection (1 = off).',
    ),
  DBBRIDGE_PREPARE_AFTER: int(0)
    .default(2)
    .describe(
      'Adapter: a statement text runs as a named prepared statement (parsed and planned once per connection) from its this-many-th use on; 0 = never (a pooler in transaction mode between the adapter and PostgreSQL).',
    ),
  DBBRIDGE_ALLOW_DDL: flag
    .default(false)
    .describe('Adapter: allow DDL and other schema-changing statements in EXECUTE requests.'),
  DBBRIDGE_SERVICES: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    )
    .describe(
      'Adapter: services with request topics of their own (`{env}.omninode-bridge.database.{service}.query-requested.v1`), comma separated; identity comes from the topic a request arrived on.',
    ),
  DBBRIDGE_SHARED_TOPICS: flag
    .optional()
    .describe(
      "Adapter: also consume the seed's shared request topic. Default: on with `KAFKA_SECURITY_PROTOCOL=PLAINTEXT`, off with SSL or SASL (secured mode: identity comes from per-service topics); an explicit setting wins.",
    ),
  DBBRIDGE_POLICY: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Adapter: JSON file of per-service policies (role, operations, statement kinds, tables, limits; README "Security"). Unset: every identity runs as the login role with the open policy; set: an identity without a policy is refused, and each policy\'s service topics are consumed.',
    ),
  DBBRIDGE_ADAPTER_GROUP: z
    .string()
    .min(1)
    .default('dbbridge-adapter')
    .describe('Adapter: consumer group shared by all adapter processes.'),
  DBBRIDGE_INSTANCE_ID: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .optional()
    .describe(
      'Adapter: Kafka `group.instance.id` (static group membership), unique per live adapter, so one restarted after a crash takes its partitions back at once; default `<hostname>-<n>`, n the lowest number no other live adapter of the group on this host holds; `off`: dynamic membership. kafkajs has no static membership: there the id names the member, and a restarted adapter removes the member its dead predecessor left before it joins.',
    ),
  DBBRIDGE_IDEMPOTENCY_RETENTION_MS: int(1000)
    .default(86_400_000)
    .describe(
      'Adapter: how long the idempotency record of a write (key, digest, reply) is kept, in ms; older ones are pruned in the background. A request retried or redelivered later than this runs again.',
    ),
  DBBRIDGE_FAILPOINT: z
    .enum(['after-commit-before-reply'])
    .optional()
    .describe(
      'Adapter, tests only: `after-commit-before-reply` kills the process after a write committed and before its reply is published.',
    ),
  DBBRIDGE_FAILPOINT_SKIP: int(0)
    .default(0)
    .describe('Adapter, tests only: writes answered before `DBBRIDGE_FAILPOINT` fires.'),
  DBBRIDGE_BREAKER_RESET_MS: int(100)
    .default(30_000)
    .describe('Adapter: how long the database circuit breaker stays open before a probe, in ms.'),
  DBBRIDGE_TRANSPORT: z
    .enum(TRANSPORT_KINDS)
    .default(DEFAULT_TRANSPORT)
    .describe(
      'Kafka client library of the transport: platformatic (@platformatic/kafka, the default) or kafkajs.',
    ),
  DBBRIDGE_HTTP_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .optional()
    .describe(
      'Adapter: port of `/metrics`, `/healthz` and `/readyz` (unset: no HTTP server; 0: a free port).',
    ),
  DBBRIDGE_HTTP_HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Adapter: address the HTTP endpoints listen on.'),
  DBBRIDGE_LOG_LEVEL: z
    .enum(['debug', 'info', 'warn', 'error', 'silent'])
    .default('info')
    .describe('Log level: debug, info, warn, error, silent.'),
  DBBRIDGE_STATE_DIR: z
    .string()
    .min(1)
    .default('.dbbridge')
    .describe('Where the local stack keeps its state (Kafka jars, data, PIDs, stack.env).'),
  DBBRIDGE_KAFKA_PORT: int(1)
    .default(LOCAL_STACK_KAFKA_PORT)
    .describe("Local stack: the broker's client port (127.0.0.1 only)."),
  DBBRIDGE_KAFKA_CONTROLLER_PORT: int(1)
    .default(LOCAL_STACK_KAFKA_CONTROLLER_PORT)
    .describe("Local stack: the broker's KRaft controller port (127.0.0.1 only)."),
  DBBRIDGE_PG_PORT: int(1)
    .default(LOCAL_STACK_PG_PORT)
    .describe("Local stack: PostgreSQL's port (127.0.0.1 only)."),
  DBBRIDGE_KAFKA_VERSION: z
    .string()
    .default('4.1.1')
    .describe('Kafka version the local stack fetches from Maven Central.'),
  ...KafkaSecurityEnv.shape,
});
/** The parsed environment; `DBBRIDGE_SHARED_TOPICS` resolved (see `sharedTopicsDefault`). */
export type Env = Omit<z.infer<typeof Env>, 'DBBRIDGE_SHARED_TOPICS'> & { DBBRIDGE_SHARED_TOPICS: boolean };

/**
 * Whether the adapter consumes the seed's shared request topic when `DBBRIDGE_SHARED_TOPICS` is
 * unset: yes on a PLAINTEXT broker (open mode), no with SSL or SASL (secured mode, where only
 * per-service topics say who sent a request).
 */
export function sharedTopicsDefault(protocol: KafkaSecurityEnv['KAFKA_SECURITY_PROTOCOL']): boolean {
  return protocol === 'PLAINTEXT';
}

export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const parsed = Env.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid environment: ${problems}`);
  }
  return {
    ...parsed.data,
    DBBRIDGE_SHARED_TOPICS:
      parsed.data.DBBRIDGE_SHARED_TOPICS ?? sharedTopicsDefault(parsed.data.KAFKA_SECURITY_PROTOCOL),
  };
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
    // A secured stack (`stack:up -- --secure`) names its protocol, CA, the adapter's credentials and
    // the services whose own topics the adapter consumes.
    ...(source.KAFKA_BOOTSTRAP_SERVERS || source.KAFKA_SECURITY_PROTOCOL
      ? {}
      : Object.fromEntries(Object.entries(stack).filter(([k]) => k in KafkaSecurityEnv.shape))),
    DBBRIDGE_SERVICES: source.DBBRIDGE_SERVICES || stack.DBBRIDGE_SERVICES,
    DBBRIDGE_POLICY: source.DBBRIDGE_POLICY || (source.DATABASE_URL ? undefined : stack.DBBRIDGE_POLICY),
    DBBRIDGE_SHARED_TOPICS: source.DBBRIDGE_SHARED_TOPICS || stack.DBBRIDGE_SHARED_TOPICS,
  });
}

export { assertNodeVersion } from './node-version.js';

/**
 * The transports' `security` option from the `KAFKA_SECURITY_*`, `KAFKA_SASL_*` and `KAFKA_SSL_*`
 * variables (undefined for PLAINTEXT). Reads the PEM files; a missing setting, an unreadable file or a
 * setting that the protocol would ignore is a `ConfigurationError` naming the variable (never a value).
 */
export function kafkaSecurityFromEnv(
  env: KafkaSecurityEnv,
  readFile: (path: string) => Buffer = (path) => readFileSync(path),
): KafkaSecurity | undefined {
  const protocol = env.KAFKA_SECURITY_PROTOCOL;
  const sasl = protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL';
  const ssl = protocol === 'SSL' || protocol === 'SASL_SSL';
  const set = (names: readonly (keyof KafkaSecurityEnv)[]) => names.filter((n) => env[n] !== undefined);
  const saslVars = set([
    'KAFKA_SASL_MECHANISM',
    'KAFKA_SASL_USERNAME',
    'KAFKA_SASL_PASSWORD',
    'KAFKA_SASL_OAUTHBEARER_TOKEN',
  ]);
  const sslVars = set([
    'KAFKA_SSL_CA_FILE',
    'KAFKA_SSL_CERT_FILE',
    'KAFKA_SSL_KEY_FILE',
    'KAFKA_SSL_KEY_PASSWORD',
    'KAFKA_SSL_SERVER_NAME',
  ]);
  if (!sasl && saslVars.length > 0)
    throw new ConfigurationError(
      `${saslVars.join(', ')} set, but KAFKA_SECURITY_PROTOCOL is ${protocol}: set it to SASL_SSL (or SASL_PLAINTEXT)`,
    );
  if (!ssl && sslVars.length > 0)
    throw new ConfigurationError(
      `${sslVars.join(', ')} set, but KAFKA_SECURITY_PROTOCOL is ${protocol}: set it to SASL_SSL (or SSL)`,
    );
  if (!sasl && !ssl) return undefined;
  const read = (name: 'KAFKA_SSL_CA_FILE' | 'KAFKA_SSL_CERT_FILE' | 'KAFKA_SSL_KEY_FILE') => {
    const path = env[name];
    if (path === undefined) return undefined;
    try {
      return readFile(path);
    } catch (error) {
      throw new ConfigurationError(
        `${name}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? error})`,
      );
    }
  };
  let tls: KafkaTls | undefined;
  if (ssl) {
    if ((env.KAFKA_SSL_CERT_FILE === undefined) !== (env.KAFKA_SSL_KEY_FILE === undefined))
      throw new ConfigurationError('KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together (mutual TLS)');
    const ca = read('KAFKA_SSL_CA_FILE');
    const cert = read('KAFKA_SSL_CERT_FILE');
    const key = read('KAFKA_SSL_KEY_FILE');
    tls = {
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      ...(env.KAFKA_SSL_KEY_PASSWORD ? { passphrase: env.KAFKA_SSL_KEY_PASSWORD } : {}),
      ...(env.KAFKA_SSL_SERVER_NAME ? { serverName: env.KAFKA_SSL_SERVER_NAME } : {}),
      rejectUnauthorized: env.KAFKA_SSL_REJECT_UNAUTHORIZED,
    };
  }
  if (!sasl) return { tls: tls ?? true };
  const mechanism = env.KAFKA_SASL_MECHANISM;
  if (mechanism === undefined)
    throw new ConfigurationError(
      `KAFKA_SECURITY_PROTOCOL is ${protocol}: set KAFKA_SASL_MECHANISM (${SASL_MECHANISMS.join(', ')})`,
    );
  const withTls = tls === undefined ? {} : { tls };
  if (mechanism === 'OAUTHBEARER') {
    if (env.KAFKA_SASL_OAUTHBEARER_TOKEN === undefined)
      throw new ConfigurationError('KAFKA_SASL_MECHANISM is OAUTHBEARER: set KAFKA_SASL_OAUTHBEARER_TOKEN');
    return { ...withTls, sasl: { mechanism, token: env.KAFKA_SASL_OAUTHBEARER_TOKEN } };
  }
  if (env.KAFKA_SASL_USERNAME === undefined || env.KAFKA_SASL_PASSWORD === undefined)
    throw new ConfigurationError(
      `KAFKA_SASL_MECHANISM is ${mechanism}: set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`,
    );
  return {
    ...withTls,
    sasl: { mechanism, username: env.KAFKA_SASL_USERNAME, password: env.KAFKA_SASL_PASSWORD },
  };
}

/** The variables a library client falls back to (the seed's "default: from environment"). */
export interface ClientEnvDefaults {
  bootstrapServers?: string;
  topicEnv?: string;
  transportKind?: TransportKind;
  /** Read only when the client is given no `security` (nor a transport): may throw `ConfigurationError`. */
  security?: () => KafkaSecurity | undefined;
}

export function clientEnvDefaults(source: NodeJS.ProcessEnv = process.env): ClientEnvDefaults {
  const out: ClientEnvDefaults = {};
  if (source.KAFKA_BOOTSTRAP_SERVERS) out.bootstrapServers = source.KAFKA_BOOTSTRAP_SERVERS;
  if (source.DBBRIDGE_ENV) out.topicEnv = source.DBBRIDGE_ENV;
  const kind = source.DBBRIDGE_TRANSPORT;
  if (kind === 'kafkajs' || kind === 'platformatic') out.transportKind = kind;
  out.security = () => {
    const parsed = KafkaSecurityEnv.safeParse(source);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ConfigurationError(`invalid environment ${issue?.path.join('.')}: ${issue?.message}`);
    }
    return kafkaSecurityFromEnv(parsed.data);
  };
  return out;
}
