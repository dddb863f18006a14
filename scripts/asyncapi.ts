import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEAD_LETTER_EVENT_TYPE, DEAD_LETTER_REASONS } from '../src/events/dead-letter.js';
import { ERROR_CODES } from '../src/events/error-codes.js';
import { ADAPTER_SERVICE, COMPLETED_EVENT_TYPE, FAILED_EVENT_TYPE } from '../src/events/reply.js';
import { REQUEST_EVENT_TYPE } from '../src/events/request.js';
import { DEFAULT_TOPIC_ENV, topicNames } from '../src/events/topics.js';
import { LOCAL_STACK_KAFKA_PORT } from '../src/local-stack.js';
import { renderSchemas } from './json-schemas.js';

/**
 * The wire contract as an AsyncAPI 3.0 document: the three topics, their messages (payloads are the
 * JSON Schemas of `npm run schemas`, rendered from the zod contract in src/events) and who sends and
 * receives what. `--check` fails when generated/asyncapi.json is stale.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ASYNCAPI_FILE = join(ROOT, 'generated', 'asyncapi.json');

/** Kafka bindings of the AsyncAPI bindings repository used here. */
const KAFKA_BINDING = '0.5.0';

/** The contract's JSON Schema of one envelope, without the keywords that belong to a standalone file. */
function payloadSchema(file: string): Record<string, unknown> {
  const text = renderSchemas()[file];
  if (text === undefined) throw new Error(`no JSON Schema ${file} in scripts/json-schemas.ts`);
  const {
    $id: _id,
    $comment: _comment,
    $schema: _schema,
    ...schema
  } = JSON.parse(text) as Record<string, unknown>;
  return { ...schema, 'x-json-schema': `generated/events/${file}` };
}

const ref = (path: string) => ({ $ref: `#/${path}` });

/** The topic names of `src/events/topics.ts`, with the environment as the `{env}` parameter. */
const TOPICS = topicNames('__env__');
const address = (topic: string) => topic.replace(/^__env__\./, '{env}.');

/** Message key: the correlation id, or one key for every message of an interactive transaction. */
const requestKey = {
  type: 'string',
  description:
    "The request's `correlation_id`, so one caller's retries land on one partition. Every message of an interactive transaction (BEGIN, its statements, COMMIT/ROLLBACK) carries one key of its own instead (a UUID minted at BEGIN), so they reach the same adapter process, in order.",
};
const replyKey = {
  type: 'string',
  description:
    "The request's `correlation_id`. It chooses the partition only when the request named no `reply_partition`.",
};

export function renderAsyncApi(): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    license: string;
  };
  const envParameter = {
    description:
      "Topic environment, `DBBRIDGE_ENV` (`dev`, `staging`, ...): letters, digits, '.', '_' or '-', 1 to 100 characters.",
    default: DEFAULT_TOPIC_ENV,
    examples: ['dev', 'staging', 'prod'],
  };
  const channel = (
    topic: string,
    message: string,
    description: string,
    partitions: number,
  ): Record<string, unknown> => ({
    address: address(topic),
    title: topic.split('.').slice(-2).join('.'),
    description,
    parameters: { env: ref('components/parameters/env') },
    messages: { [message]: ref(`components/messages/${message}`) },
    bindings: {
      kafka: {
        partitions,
        replicas: 1,
        bindingVersion: KAFKA_BINDING,
      },
    },
  });

  const doc = {
    asyncapi: '3.0.0',
    id: 'urn:dbbridge:database-events',
    info: {
      title: 'dbbridge database events',
      version: pkg.version,
      description: [
        'Typed PostgreSQL access over Kafka. A client publishes a query request event; an adapter service, one of a consumer group sharing the request topic, runs it on PostgreSQL and publishes a completed or failed reply, which the client matches by `correlation_id`.',
        '',
        "The envelopes are the *Database Event Client* usage guide's (the seed's), with optional additions (`reply_partition`, `deadline`, `client_id`, `row_format`, `accept_chunks`, transactions, BATCH, chunked results, PostgreSQL diagnostics, `retryable` / `executed`). Objects are open: fields a newer peer adds pass through.",
        '',
        'Generated from the zod contract in `src/events` by `npm run schemas`; do not edit by hand. Field-by-field reference: docs/protocol.md.',
      ].join('\n'),
      license: { name: pkg.license },
      tags: [{ name: 'postgresql' }, { name: 'request-reply' }],
    },
    defaultContentType: 'application/json',
    servers: {
      local: {
        host: `127.0.0.1:${LOCAL_STACK_KAFKA_PORT}`,
        protocol: 'kafka',
        description:
          'The local stack of `npm start` / `npm run stack:up` (one KRaft broker, loopback only, plaintext; port `DBBRIDGE_KAFKA_PORT`). Topics are created with replication factor 1; on a real cluster create them with `dbbridge topics create --replication-factor 3 --min-insync-replicas 2`.',
      },
    },
    channels: {
      queryRequested: channel(
        TOPICS.requested,
        'queryRequested',
        'Query requests. Adapters consume it in one consumer group (`DBBRIDGE_ADAPTER_GROUP`, default `dbbridge-adapter`): its partitions (12 by default) are the unit of parallelism between adapter processes.',
        12,
      ),
      queryCompleted: channel(
        TOPICS.completed,
        'queryCompleted',
        'Successful replies. A client reads one partition of this topic and of query-failed (the same number on both), without a consumer group, from the end of the log when it started; the adapter publishes each reply on the partition the request named in `reply_partition`.',
        24,
      ),
      queryFailed: channel(
        TOPICS.failed,
        'queryFailed',
        'Failed replies, on the same partition as the completed ones would be.',
        24,
      ),
      queryDeadLettered: channel(
        TOPICS.deadLettered,
        'queryDeadLettered',
        'Addition: messages of the request topic that the adapter could not answer (not decodable, no usable `correlation_id`) or whose handling threw unexpectedly, with the reason, the original bytes and headers, and the source topic, partition and offset. For operators; clients neither write nor read it.',
        1,
      ),
    },
    operations: {
      sendQueryRequest: {
        action: 'send',
        channel: ref('channels/queryRequested'),
        title: 'Client: send a query request',
        summary: 'Publish a request keyed by correlation id, naming the reply partition this client reads.',
        description:
          'The reply arrives on `query-completed.v1` (below) or, for a failure, on `query-failed.v1` (`x-dbbridge-failure-reply`), on partition `reply_partition` of either topic, with the same `correlation_id`. A request whose `deadline` passes before an adapter starts it is dropped unanswered; the client then times out (`REQUEST_TIMEOUT`).',
        messages: [ref('channels/queryRequested/messages/queryRequested')],
        bindings: { kafka: { clientId: { type: 'string' }, bindingVersion: KAFKA_BINDING } },
        reply: {
          channel: ref('channels/queryCompleted'),
          messages: [ref('channels/queryCompleted/messages/queryCompleted')],
        },
        'x-dbbridge-failure-reply': {
          channel: ref('channels/queryFailed'),
          messages: [ref('channels/queryFailed/messages/queryFailed')],
        },
        tags: [{ name: 'client' }],
      },
      receiveQueryCompleted: {
        action: 'receive',
        channel: ref('channels/queryCompleted'),
        title: 'Client: receive completed replies',
        summary:
          'Read one partition (the `reply_partition` of its requests), without a consumer group; match by `correlation_id`.',
        messages: [ref('channels/queryCompleted/messages/queryCompleted')],
        tags: [{ name: 'client' }],
      },
      receiveQueryFailed: {
        action: 'receive',
        channel: ref('channels/queryFailed'),
        title: 'Client: receive failed replies',
        summary: 'Same partition as the completed replies; match by `correlation_id`.',
        messages: [ref('channels/queryFailed/messages/queryFailed')],
        tags: [{ name: 'client' }],
      },
      receiveQueryRequest: {
        action: 'receive',
        channel: ref('channels/queryRequested'),
        title: 'Adapter: receive query requests',
        summary:
          "Consume in the adapters' group; answer every readable request exactly once with a completed or failed reply (several completed ones for a chunked result).",
        description:
          'Offsets are committed only past requests whose replies are published. A message that is not a valid request but has a sane `correlation_id` is answered with a `VALIDATION_ERROR`; one without goes to the dead-letter topic, and its offset moves on.',
        messages: [ref('channels/queryRequested/messages/queryRequested')],
        bindings: {
          kafka: {
            groupId: { type: 'string', default: 'dbbridge-adapter' },
            bindingVersion: KAFKA_BINDING,
          },
        },
        reply: {
          channel: ref('channels/queryCompleted'),
          messages: [ref('channels/queryCompleted/messages/queryCompleted')],
        },
        'x-dbbridge-failure-reply': {
          channel: ref('channels/queryFailed'),
          messages: [ref('channels/queryFailed/messages/queryFailed')],
        },
        tags: [{ name: 'adapter' }],
      },
      sendQueryCompleted: {
        action: 'send',
        channel: ref('channels/queryCompleted'),
        title: 'Adapter: send a completed reply',
        summary:
          'On partition `reply_partition` of the request (keyed by correlation id when absent), idempotent producer, acks=all.',
        messages: [ref('channels/queryCompleted/messages/queryCompleted')],
        tags: [{ name: 'adapter' }],
      },
      sendQueryFailed: {
        action: 'send',
        channel: ref('channels/queryFailed'),
        title: 'Adapter: send a failed reply',
        summary: 'Same partition rule as completed replies.',
        messages: [ref('channels/queryFailed/messages/queryFailed')],
        tags: [{ name: 'adapter' }],
      },
      sendQueryDeadLettered: {
        action: 'send',
        channel: ref('channels/queryDeadLettered'),
        title: 'Adapter: dead-letter a message',
        summary:
          'A message nobody can be answered for (`UNDECODABLE`, `NO_CORRELATION_ID`), or one whose handling threw (`INTERNAL_ERROR`, also answered with a failed reply when it has a usable id). Idempotent producer, acks=all; the request offset moves on once it is published (or, when even that fails, logged).',
        messages: [ref('channels/queryDeadLettered/messages/queryDeadLettered')],
        tags: [{ name: 'adapter' }],
      },
      receiveQueryDeadLettered: {
        action: 'receive',
        channel: ref('channels/queryDeadLettered'),
        title: 'Operator: inspect dead letters',
        summary:
          '`value_base64` holds the original bytes (cut when `value_truncated`); republish them to the request topic once fixed.',
        messages: [ref('channels/queryDeadLettered/messages/queryDeadLettered')],
        tags: [{ name: 'operator' }],
      },
    },
    components: {
      parameters: { env: envParameter },
      correlationIds: {
        correlationId: {
          description:
            "Replies carry the request's `correlation_id`; `causation_id` is the request's `event_id`.",
          location: '$message.payload#/correlation_id',
        },
      },
      messages: {
        queryRequested: {
          name: REQUEST_EVENT_TYPE,
          title: 'Query requested',
          summary:
            'SELECT / INSERT / UPDATE / DELETE / EXECUTE (the seed), QUERY / UPSERT (older Python dialect), BEGIN / COMMIT / ROLLBACK / BATCH (additions).',
          description:
            'Additions: `reply_partition` is the partition of both reply topics on which the caller listens (absent: replies are keyed by `correlation_id`); `deadline` is the ISO time after which the adapter drops the request unanswered; `client_id` names the calling client instance.',
          contentType: 'application/json',
          correlationId: ref('components/correlationIds/correlationId'),
          payload: ref('components/schemas/QueryRequested'),
          bindings: { kafka: { key: requestKey, bindingVersion: KAFKA_BINDING } },
          'x-dbbridge-reply-partition': {
            location: '$message.payload#/reply_partition',
            description:
              "The partition of query-completed.v1 and query-failed.v1 the adapter publishes the reply on. A partition the topic does not have falls back to the key's partition.",
          },
        },
        queryCompleted: {
          name: COMPLETED_EVENT_TYPE,
          title: 'Query completed',
          summary: `Rows (natural JSON objects, or \`columns\` + \`text_rows\` with \`row_format: pg_text\`), row count, timing; \`service\` is \`${ADAPTER_SERVICE}\`.`,
          description:
            'A result larger than one message, for a request with `row_format: pg_text` and `accept_chunks: true`, comes as several completed events with `chunk: {index, last}`, in order on one partition; `row_count` of the last is the total.',
          contentType: 'application/json',
          correlationId: ref('components/correlationIds/correlationId'),
          payload: ref('components/schemas/QueryCompleted'),
          bindings: { kafka: { key: replyKey, bindingVersion: KAFKA_BINDING } },
        },
        queryFailed: {
          name: FAILED_EVENT_TYPE,
          title: 'Query failed',
          summary: `\`error_code\` is one of ${ERROR_CODES.join(', ')}; \`retryable\` and \`executed\` say whether repeating it may help and whether it took effect.`,
          contentType: 'application/json',
          correlationId: ref('components/correlationIds/correlationId'),
          payload: ref('components/schemas/QueryFailed'),
          bindings: { kafka: { key: replyKey, bindingVersion: KAFKA_BINDING } },
        },
        queryDeadLettered: {
          name: DEAD_LETTER_EVENT_TYPE,
          title: 'Query dead-lettered',
          summary: `\`reason\` is one of ${DEAD_LETTER_REASONS.join(', ')}; \`source\` is where the message was read.`,
          contentType: 'application/json',
          payload: ref('components/schemas/QueryDeadLettered'),
          bindings: {
            kafka: {
              key: {
                type: 'string',
                description:
                  'The source `topic:partition`, so the dead letters of one request partition stay in order.',
              },
              bindingVersion: KAFKA_BINDING,
            },
          },
        },
      },
      schemas: {
        QueryRequested: payloadSchema('query-requested.v1.schema.json'),
        QueryCompleted: payloadSchema('query-completed.v1.schema.json'),
        QueryFailed: payloadSchema('query-failed.v1.schema.json'),
        QueryDeadLettered: payloadSchema('query-dead-lettered.v1.schema.json'),
      },
    },
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function main(): void {
  const text = renderAsyncApi();
  let current = '';
  try {
    current = readFileSync(ASYNCAPI_FILE, 'utf8');
  } catch {}
  if (current === text) return;
  if (process.argv.includes('--check')) {
    console.error('generated/asyncapi.json is stale; run `npm run schemas`');
    process.exit(1);
  }
  writeFileSync(ASYNCAPI_FILE, text);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
