import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { openDatabaseEventClient } from '../client/index.js';
import { Env, type Env as EnvValues } from '../env.js';
import { DbBridgeError } from '../errors.js';
import type { OperationType } from '../events/request.js';
import { type TopicNames, topicNames } from '../events/topics.js';
import { createTransport } from '../transport/create-transport.js';
import { ensureTopics } from '../transport/kafka-admin.js';
import { cell, formatTable } from './table.js';

/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
}

function servers(env: EnvValues): string {
  if (!env.KAFKA_BOOTSTRAP_SERVERS) {
    throw new Error(
      'KAFKA_BOOTSTRAP_SERVERS is not set (the local stack of `npm start` writes it to .dbbridge/stack.env, which the CLI reads)',
    );
  }
  return env.KAFKA_BOOTSTRAP_SERVERS;
}

/** Every variable of the environment schema, with its default and description, for `--help`. */
export function environmentHelp(): string {
  const lines = Object.entries(Env.shape).map(([name, schema]) => {
    const parsed = schema.safeParse(undefined);
    const fallback = parsed.success && parsed.data !== undefined ? ` (default: ${String(parsed.data)})` : '';
    return `  ${name}${fallback}\n      ${schema.description ?? ''}`;
  });
  return `Environment (flags --kebab-case override them, e.g. --pool-max 10 for DBBRIDGE_POOL_MAX):\n${lines.join('\n')}`;
}

/** SQL that only reads goes as SELECT; anything else as EXECUTE (the adapter validates either way). */
export function operationFor(sql: string): OperationType {
  return /^\s*(select|with|values|table|show|explain)\b/i.test(sql) ? 'SELECT' : 'EXECUTE';
}

export interface QueryArgs {
  readonly sql: string;
  readonly params: readonly unknown[];
  readonly json: boolean;
  readonly timeoutMs?: number;
}

/** `dbbridge query`: one statement through the bus; rows as a table (or JSON), timing, correlation id. */
export async function query(env: EnvValues, args: QueryArgs, io: Io): Promise<number> {
  const client = await openDatabaseEventClient({
    bootstrapServers: servers(env),
    topicEnv: env.DBBRIDGE_ENV,
    transportKind: env.DBBRIDGE_TRANSPORT,
    maxRetries: 0,
    service: 'dbbridge-cli',
  });
  try {
    const started = performance.now();
    const result = await client.request(
      { operation_type: operationFor(args.sql), sql: args.sql, params: [...args.params] },
      args.timeoutMs === undefined ? {} : { timeoutMs: args.timeoutMs },
    );
    const ms = (performance.now() - started).toFixed(1);
    if (args.json) {
      io.out(
        JSON.stringify({
          rows: result.rows,
          rowCount: result.rowCount,
          correlationId: result.correlationId,
          ms: Number(ms),
        }),
      );
    } else {
      io.out(
        result.rows.length > 0 || result.command === 'SELECT'
          ? formatTable(result.rows)
          : `${result.command} ${result.rowCount}`,
      );
      io.err(`${ms} ms round trip, correlation id ${result.correlationId}`);
    }
    return 0;
  } catch (error) {
    reportError(error, io, args.json);
    return 1;
  } finally {
    await client.stop();
  }
}

/** A failed call: code, SQLSTATE and message, on stderr (or as JSON on stdout). */
export function reportError(error: unknown, io: Io, json = false): void {
  const e = error as DbBridgeError & { sqlstate?: string; reason?: string; correlationId?: string };
  const fields = {
    code: error instanceof DbBridgeError ? e.code : 'ERROR',
    sqlstate: e.sqlstate,
    message: e.reason ?? (error as Error).message,
    correlationId: e.correlationId,
  };
  if (json) io.out(JSON.stringify({ error: fields }));
  else {
    io.err(
      `${fields.code}${fields.sqlstate ? ` (SQLSTATE ${fields.sqlstate})` : ''}: ${fields.message}${fields.correlationId ? ` [correlation id ${fields.correlationId}]` : ''}`,
    );
  }
}

/** `dbbridge health`: the broker answers, an adapter answers through the bus, and its database answers. */
export async function health(env: EnvValues, io: Io): Promise<number> {
  const topics = topicNames(env.DBBRIDGE_ENV);
  let failures = 0;
  const step = async (name: string, check: () => Promise<string>) => {
    const started = performance.now();
    try {
      const detail = await check();
      io.out(`ok    ${name}: ${detail} (${(performance.now() - started).toFixed(1)} ms)`);
    } catch (error) {
      failures++;
      io.out(`FAIL  ${name}: ${(error as Error).message}`);
    }
  };
  const transport = createTransport(env.DBBRIDGE_TRANSPORT, {
    brokers: servers(env).split(','),
    clientId: 'dbbridge-cli',
  });
  await step('broker', async () => {
    await transport.connect();
    await transport.ping([topics.requested, topics.completed, topics.failed]);
    return `${servers(env)}, topics of '${env.DBBRIDGE_ENV}' present`;
  });
  await transport.close().catch(() => {});
  if (failures > 0) return 1;
  const client = await openDatabaseEventClient({
    bootstrapServers: servers(env),
    topicEnv: env.DBBRIDGE_ENV,
    transportKind: env.DBBRIDGE_TRANSPORT,
    maxRetries: 0,
    requestTimeoutMs: 5000,
    service: 'dbbridge-cli',
  });
  try {
    await step('adapter and database', async () => {
      const result = await client.request({
        operation_type: 'SELECT',
        sql: 'SELECT current_database() AS database, version() AS version',
      });
      const row = result.rows[0] as { database?: string; version?: string } | undefined;
      const breaker = result.metadata.circuit_breaker_state;
      return `round trip answered by PostgreSQL (${row?.database}, ${String(row?.version).split(' ').slice(0, 2).join(' ')}), adapter breaker ${String(breaker)}`;
    });
  } finally {
    await client.stop();
  }
  return failures > 0 ? 1 : 0;
}

export interface TopicsArgs {
  readonly requestPartitions: number;
  readonly replyPartitions: number;
  readonly replicationFactor: number;
  readonly minInsyncReplicas?: number;
}

/** `dbbridge topics create`: the topics of the environment (with the dead-letter topic), for a real cluster. */
export async function createTopics(env: EnvValues, args: TopicsArgs, io: Io): Promise<number> {
  const admin = new Kafka({
    clientId: 'dbbridge-cli',
    brokers: servers(env).split(','),
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const topics = topicNames(env.DBBRIDGE_ENV);
    io.err(`creating the topics of '${env.DBBRIDGE_ENV}' (missing ones only)...`);
    await ensureTopics(admin, topics, args);
    const metadata = await admin.fetchTopicMetadata({ topics: Object.values(topics) });
    for (const t of metadata.topics) {
      const replicas = t.partitions[0]?.replicas.length ?? 0;
      io.out(`${t.name}: ${t.partitions.length} partitions, replication factor ${replicas}`);
    }
    return 0;
  } finally {
    await admin.disconnect();
  }
}

interface Seen {
  readonly at: number;
  readonly operation: string;
  readonly service: string;
}

/**
 * `dbbridge tail`: follows requests and replies of the environment from now on, each reply matched
 * to its request by correlation id with the time between them. Stops on `signal`.
 */
export async function tail(env: EnvValues, io: Io, signal: AbortSignal, json: boolean): Promise<number> {
  const topics: TopicNames = topicNames(env.DBBRIDGE_ENV);
  const kafka = new Kafka({
    clientId: 'dbbridge-tail',
    brokers: servers(env).split(','),
    logLevel: logLevel.NOTHING,
  });
  const groupId = `dbbridge-tail-${randomUUID()}`; // its own group: it takes nothing from the adapters
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  const pending = new Map<string, Seen>();
  await consumer.connect();
  await consumer.subscribe({
    topics: [topics.requested, topics.completed, topics.failed],
    fromBeginning: false,
  });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(message.value?.toString('utf8') ?? '');
      } catch {
        io.out(`?  ${topic}: a message that is not JSON`);
        return;
      }
      const correlationId = String(event.correlation_id ?? '?');
      const payload = (event.payload ?? {}) as Record<string, unknown>;
      const now = performance.now();
      if (topic === topics.requested) {
        const seen = { at: now, operation: String(payload.operation_type), service: String(event.service) };
        pending.set(correlationId, seen);
        if (pending.size > 10_000) pending.delete(pending.keys().next().value as string);
        const sql =
          typeof payload.sql === 'string'
            ? payload.sql
            : typeof payload.query === 'string'
              ? payload.query
              : '';
        if (json) io.out(JSON.stringify({ kind: 'request', correlationId, ...seen, sql }));
        else io.out(`-> ${correlationId} ${seen.operation} from ${seen.service}: ${cell(sql).slice(0, 120)}`);
        return;
      }
      const request = pending.get(correlationId);
      pending.delete(correlationId);
      const waited = request === undefined ? undefined : Number((now - request.at).toFixed(1));
      const completed = topic === topics.completed;
      const detail = completed
        ? `${String(payload.row_count)} rows, ${String(payload.execution_time_ms)} ms in the adapter`
        : `${String(payload.error_code)}: ${cell(payload.error_message ?? payload.error).slice(0, 160)}`;
      if (json)
        io.out(
          JSON.stringify({ kind: completed ? 'completed' : 'failed', correlationId, ms: waited, detail }),
        );
      else
        io.out(
          `<- ${correlationId} ${completed ? 'completed' : 'FAILED'} ${waited === undefined ? '' : `after ${waited} ms `}(${detail})`,
        );
    },
  });
  io.err(`following ${[topics.requested, topics.completed, topics.failed].join(', ')} (Ctrl-C stops)`);
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  await consumer.disconnect();
  const admin = kafka.admin(); // its group is of no use to anyone now
  await admin
    .connect()
    .then(() => admin.deleteGroups([groupId]))
    .catch(() => {})
    .finally(() => admin.disconnect());
  return 0;
}
