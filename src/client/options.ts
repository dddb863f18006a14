import { z } from 'zod';
import type { ClientEnvDefaults } from '../env.js';
import { ConfigurationError } from '../errors.js';
import type { TypeParserLookup } from '../events/values.js';
import { LOCAL_STACK_KAFKA_PORT } from '../local-stack.js';
import type { Logger } from '../logger.js';
import { DEFAULT_TRANSPORT, TRANSPORT_KINDS, type TransportKind } from '../transport/create-transport.js';
import type { KafkaSecurity } from '../transport/security.js';
import type { Transport } from '../transport/types.js';

/** Options of `DatabaseEventClient`: the seed's constructor parameters in camelCase, plus a few. */
export interface DatabaseEventClientOptions {
  /** Kafka brokers, comma separated. Default: `KAFKA_BOOTSTRAP_SERVERS`. Required one way or the other. */
  bootstrapServers?: string;
  /** Time to wait for a reply, ms. Default 10000. */
  requestTimeoutMs?: number;
  /** Client-side circuit breaker. Default true. */
  enableCircuitBreaker?: boolean;
  /** Retries of transient failures, with exponential backoff (1 s, 2 s, 4 s). Default 3. */
  maxRetries?: number;
  /** Topic environment (`{env}.omninode-bridge.database.*`). Default: `DBBRIDGE_ENV` or `dev`. */
  topicEnv?: string;
  /** `service` field of request events. Default `dbbridge-client`. */
  service?: string;
  /**
   * Use the service's own topics (`{env}.omninode-bridge.database.{service}.query-*.v1`) instead of the
   * shared ones: on a secured cluster only this service may write its requests and read its replies,
   * and the adapter takes the identity from the topic (issue 9 §2). Default false.
   */
  ownTopics?: boolean;
  /** Reply partition to read. Default: random among the reply topics' partitions. */
  replyPartition?: number;
  /** Retry timing, as kafkajs names it. Defaults: initialRetryTime 1000, factor 2 (the multiplier), maxRetryTime 30000, jitter 0.2. */
  retry?: { initialRetryTime?: number; multiplier?: number; maxRetryTime?: number; jitter?: number };
  /** Also retry reads that timed out. Default false: a timed-out request may still be queued. */
  retryOnTimeout?: boolean;
  /**
   * Send every write (all but SELECT / QUERY, BEGIN, ROLLBACK and statements inside a transaction)
   * with an idempotency key, kept for its retries, and retry writes after timeouts and transport
   * errors too: the adapter runs each at most once. Default true. False: no keys, and a write is
   * retried only when the adapter says it did not run (`executed: false`) or it was never sent.
   */
  idempotentWrites?: boolean;
  /** `stream()`: chunks (about 256 KiB of rows each) buffered before the reply reader waits. Default 4. */
  streamBufferChunks?: number;
  /**
   * Client breaker. It counts only an adapter's coded report that PostgreSQL is unreachable
   * (`DATABASE_CONNECTION_FAILED`, the adapter's `CIRCUIT_BREAKER_OPEN`); a call with no reply
   * (timeout, Kafka down) counts neither way. `failureThreshold` consecutive reports open it (default
   * 5); the first probe goes through after `probeAfterMs` (default 1000), and each failed probe doubles
   * the wait up to `resetTimeoutMs` (default 60000, the seed's figure); a successful probe closes it.
   */
  circuitBreaker?: { failureThreshold?: number; resetTimeoutMs?: number; probeAfterMs?: number };
  /** Type parsers used to decode rows. Default: `pg`'s (`pg-types`), so rows equal what `pg` returns. */
  typeParser?: TypeParserLookup;
  /** Kafka client library of the client's own transport: `kafkajs` or `platformatic`. Default: `DBBRIDGE_TRANSPORT` or `platformatic`. */
  transportKind?: TransportKind;
  /**
   * TLS and SASL of the client's own transport. Default: from `KAFKA_SECURITY_PROTOCOL`,
   * `KAFKA_SASL_*`, `KAFKA_SSL_*` (README, "Security"); none of them set: PLAINTEXT.
   */
  security?: KafkaSecurity;
  /** A transport to use instead of creating one (tests, other Kafka clients). */
  transport?: Transport;
  logger?: Logger;
  /** Clock and sleep, injectable for tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const OptionsSchema = z.object({
  bootstrapServers: z.string().trim().min(1, 'bootstrap_servers must be provided').optional(),
  requestTimeoutMs: z.number().int().positive().max(3_600_000).default(10_000),
  enableCircuitBreaker: z.boolean().default(true),
  maxRetries: z.number().int().min(0).max(20).default(3),
  topicEnv: z.string().min(1).default('dev'),
  service: z.string().min(1).default('dbbridge-client'),
  ownTopics: z.boolean().default(false),
  transportKind: z.enum(TRANSPORT_KINDS).default(DEFAULT_TRANSPORT),
  replyPartition: z.number().int().min(0).optional(),
  retry: z
    .object({
      initialRetryTime: z.number().positive().default(1000),
      multiplier: z.number().min(1).default(2),
      maxRetryTime: z.number().positive().default(30_000),
      jitter: z.number().min(0).max(1).default(0.2),
    })
    .prefault({}),
  retryOnTimeout: z.boolean().default(false),
  idempotentWrites: z.boolean().default(true),
  streamBufferChunks: z.number().int().min(1).max(1000).default(4),
  circuitBreaker: z
    .object({
      failureThreshold: z.number().int().min(1).default(5),
      resetTimeoutMs: z.number().int().positive().default(60_000),
      probeAfterMs: z.number().int().positive().default(1000),
    })
    .prefault({}),
});

export type ResolvedOptions = z.infer<typeof OptionsSchema> &
  Pick<DatabaseEventClientOptions, 'typeParser' | 'transport' | 'logger' | 'now' | 'sleep' | 'security'>;

/** Merges options over defaults and validates them; errors name the bad option. */
export function resolveOptions(options: DatabaseEventClientOptions, env: ClientEnvDefaults) {
  const { typeParser, transport, logger, now, sleep, security: given, ...plain } = options;
  const parsed = OptionsSchema.safeParse({
    ...plain,
    bootstrapServers: plain.bootstrapServers ?? env.bootstrapServers,
    topicEnv: plain.topicEnv ?? env.topicEnv,
    transportKind: plain.transportKind ?? env.transportKind,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigurationError(`invalid option ${issue?.path.join('.') || '(options)'}: ${issue?.message}`);
  }
  if (parsed.data.bootstrapServers === undefined && transport === undefined) {
    throw new ConfigurationError(
      `bootstrap_servers must be provided: pass bootstrapServers or set KAFKA_BOOTSTRAP_SERVERS (the local stack of \`npm start\` listens on 127.0.0.1:${LOCAL_STACK_KAFKA_PORT})`,
    );
  }
  // The environment's settings only for a transport the client creates itself.
  const security = given ?? (transport === undefined ? env.security?.() : undefined);
  const resolved: ResolvedOptions = { ...parsed.data, typeParser, transport, logger, now, sleep, security };
  return Object.freeze(resolved);
}
