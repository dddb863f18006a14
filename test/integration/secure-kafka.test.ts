/**
 * A secured broker (the stack's `--secure` mode: SASL_SSL, SCRAM users, StandardAuthorizer with ACLs)
 * refuses clients without credentials, with a wrong password, or without WRITE on the request topic,
 * and serves a full round trip to a client with the right credentials. Both transports, on one
 * throw-away broker of this file's own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBridgeAcls, createServiceAcls } from '../../scripts/stack/secure.js';
import { serviceTopicNames } from '../../src/events/topics.js';
import {
  DatabaseError,
  DatabaseEventClient,
  type DatabaseEventClientOptions,
  TransportError,
} from '../../src/index.js';
import {
  createTransport,
  TRANSPORT_KINDS,
  type TransportKind,
} from '../../src/transport/create-transport.js';
import type { KafkaSecurity } from '../../src/transport/security.js';
import { createTopics, kafkaAdmin, type RunningAdapter, startAdapter, uniqueEnv } from '../helpers/bridge.js';
import { startThrowawayKafka, type ThrowawayKafka } from '../helpers/stack.js';

const env = uniqueEnv('secure');
let kafka: ThrowawayKafka;
const adapters: RunningAdapter[] = [];
const clients: DatabaseEventClient[] = [];

beforeAll(async () => {
  kafka = await startThrowawayKafka('secure', { secure: true });
  const admin = kafka.security('admin');
  const topics = await createTopics(env, 4, 2, kafka.bootstrapServers, admin);
  const acl = kafkaAdmin(kafka.bootstrapServers, admin);
  await acl.connect();
  try {
    // service-a may send requests; service-b may only read replies. One adapter group per transport.
    for (const kind of TRANSPORT_KINDS) {
      await createBridgeAcls(acl, env, {
        adapters: ['adapter'],
        adapterGroup: `adapter-${env}-${kind}`,
        services: ['service-a'],
        readers: ['service-b'],
      });
    }
    // Per-service topics (issue 9 §2): each service's own request and reply topics and ACLs, as
    // `dbbridge service add` makes them (topics created on a busy broker are retried until known).
    for (const kind of TRANSPORT_KINDS) {
      await createServiceAcls(
        acl,
        env,
        {
          adapters: ['adapter'],
          adapterGroup: `adapter-${env}-services-${kind}`,
          services: ['service-a', 'service-b'],
        },
        { requestPartitions: 2, replyPartitions: 4 },
      );
    }
  } finally {
    await acl.disconnect();
  }
  expect(topics.requested).toContain(env);
}, 180_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.stop().catch(() => {})));
  await Promise.all(adapters.map((a) => a.close().catch(() => {})));
  await kafka?.destroy();
}, 60_000);

function client(
  kind: TransportKind,
  security: KafkaSecurity | undefined,
  options: DatabaseEventClientOptions = {},
) {
  const c = new DatabaseEventClient({
    bootstrapServers: kafka.bootstrapServers,
    topicEnv: env,
    transportKind: kind,
    maxRetries: 0,
    enableCircuitBreaker: false,
    requestTimeoutMs: 15_000,
    ...(security ? { security } : {}),
    ...options,
  });
  clients.push(c);
  return c;
}

/** The rejection of `promise` (fails the test if it resolves). */
async function refusal(promise: Promise<unknown>): Promise<TransportError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TransportError);
  return error as TransportError;
}

describe.each(TRANSPORT_KINDS)('secured Kafka (%s transport)', (kind) => {
  it('refuses a client without credentials (plaintext, and TLS without SASL)', async () => {
    const tlsOnly: KafkaSecurity = { tls: kafka.security('service-a').tls ?? true };
    for (const security of [undefined, tlsOnly]) {
      const error = await refusal(client(kind, security).start());
      expect(error.code).toBe('TRANSPORT_ERROR');
      expect(error.refusal).toBeUndefined(); // the broker closes the connection: no Kafka error code
    }
  });

  it('refuses a wrong password with SASL_AUTHENTICATION_FAILED, not retried', async () => {
    const good = kafka.security('service-a');
    const wrong: KafkaSecurity = {
      ...good,
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'service-a', password: 'not-the-password' },
    };
    const error = await refusal(client(kind, wrong).start());
    expect(error.code).toBe('TRANSPORT_ERROR');
    expect(error.refusal).toBe('SASL_AUTHENTICATION_FAILED');
    expect(error.retryable).toBe(false);
    expect(error.message).not.toContain('not-the-password');
  });

  it('answers a client with SCRAM credentials over TLS: client -> adapter -> PostgreSQL -> client', async () => {
    const running = await startAdapter(env, {
      name: `secure-${kind}`,
      bootstrapServers: kafka.bootstrapServers,
      security: kafka.security('adapter', 'SCRAM-SHA-256'),
      adapter: { poolMax: 2, groupId: `adapter-${env}-${kind}` },
    });
    adapters.push(running);
    const a = client(kind, kafka.security('service-a'));
    await a.start();
    // The adapter's group may still be joining: poll with a deadline.
    const deadline = Date.now() + 60_000;
    let rows: { n: number; db: string }[] | undefined;
    while (rows === undefined) {
      expect(Date.now()).toBeLessThan(deadline);
      rows = await a
        .query<{ n: number; db: string }>('SELECT $1::int + 1 AS n, current_database() AS db', [41], {
          timeoutMs: 3000,
        })
        .catch((e) => {
          if ((e as { code?: string }).code !== 'REQUEST_TIMEOUT') throw e;
          return undefined;
        });
    }
    expect(rows).toEqual([{ n: 42, db: 'omninode_bridge' }]);
    await a.stop();
    await running.close(); // one adapter group at a time on the shared topics
  }, 120_000);

  it('refuses a publish by a principal without WRITE on the request topic (ACL)', async () => {
    // service-b may read the replies (the client starts), but not write requests.
    const b = client(kind, kafka.security('service-b'));
    await b.start();
    const error = await refusal(b.query('SELECT 1 AS ok'));
    // The client's producer is idempotent: without WRITE on any topic, platformatic's InitProducerId
    // is refused first (CLUSTER_AUTHORIZATION_FAILED); kafkajs asks for the topic's metadata first.
    expect(['TOPIC_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED']).toContain(error.refusal);
    expect(error.retryable).toBe(false);

    // The same publish through a bare transport: refused for service-b, accepted for service-a.
    const topic = `${env}.omninode-bridge.database.query-requested.v1`;
    for (const [user, refused] of [
      ['service-b', true],
      ['service-a', false],
    ] as const) {
      const transport = createTransport(kind, {
        brokers: [kafka.bootstrapServers],
        clientId: `acl-${user}`,
        security: kafka.security(user),
      });
      try {
        await transport.connect();
        const publisher = transport.publisher({ idempotent: false });
        const outcome = await publisher.publish(topic, { key: 'k', value: 'not a request' }).then(
          () => undefined,
          (e: unknown) => e,
        );
        await publisher.close().catch(() => {});
        if (refused) expect((outcome as TransportError).refusal).toBe('TOPIC_AUTHORIZATION_FAILED');
        else expect(outcome).toBeUndefined();
      } finally {
        await transport.close();
      }
    }
  }, 90_000);
});

describe.each(TRANSPORT_KINDS)('per-service topics on the secured broker (%s transport)', (kind) => {
  const a = () => serviceTopicNames(env, 'service-a');
  const b = () => serviceTopicNames(env, 'service-b');

  async function asServiceA<T>(
    fn: (transport: ReturnType<typeof createTransport>) => Promise<T>,
  ): Promise<T> {
    const transport = createTransport(kind, {
      brokers: [kafka.bootstrapServers],
      clientId: `service-a-${kind}`,
      security: kafka.security('service-a'),
    });
    try {
      await transport.connect();
      return await fn(transport);
    } finally {
      await transport.close();
    }
  }

  it("service A may write its own request topic, not B's", async () => {
    await asServiceA(async (transport) => {
      const publisher = transport.publisher();
      try {
        await publisher.publish(a().requested, { key: 'k', value: '{}' });
        const error = await refusal(publisher.publish(b().requested, { key: 'k', value: '{}' }));
        expect(error.refusal).toBe('TOPIC_AUTHORIZATION_FAILED');
      } finally {
        await publisher.close().catch(() => {});
      }
    });
  });

  it("service A may read its own reply topics, not B's", async () => {
    await asServiceA(async (transport) => {
      const own = await transport.openReplyChannel({
        topics: [a().completed, a().failed],
        onMessage: () => {},
      });
      await own.close();
      const error = await refusal(
        transport.openReplyChannel({ topics: [b().completed, b().failed], onMessage: () => {} }),
      );
      expect(error.refusal).toBe('TOPIC_AUTHORIZATION_FAILED');
    });
  });
});

describe.each(TRANSPORT_KINDS)('identity from the topic (%s transport)', (kind) => {
  let own: { a: DatabaseEventClient; b: DatabaseEventClient };
  let adapter: RunningAdapter | undefined;

  // One adapter group at a time on these topics: two groups would both answer (and both BEGIN).
  afterAll(async () => {
    await Promise.all([own?.a.stop(), own?.b.stop()]);
    await adapter?.close();
  }, 60_000);

  beforeAll(async () => {
    adapter = await startAdapter(env, {
      name: `services-${kind}`,
      bootstrapServers: kafka.bootstrapServers,
      security: kafka.security('adapter'),
      adapter: {
        poolMax: 4,
        groupId: `adapter-${env}-services-${kind}`,
        services: ['service-a', 'service-b'],
        sharedTopics: false,
      },
    });
    own = {
      a: client(kind, kafka.security('service-a'), { service: 'service-a', ownTopics: true }),
      b: client(kind, kafka.security('service-b'), { service: 'service-b', ownTopics: true }),
    };
    await Promise.all([own.a.start(), own.b.start()]);
    // The adapter's group may still be joining: poll each service's round trip with a deadline.
    for (const c of [own.a, own.b]) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        expect(Date.now()).toBeLessThan(deadline);
        const rows = await c.query<{ ok: number }>('SELECT 1 AS ok', [], { timeoutMs: 3000 }).catch((e) => {
          if ((e as { code?: string }).code !== 'REQUEST_TIMEOUT') throw e;
          return undefined;
        });
        if (rows !== undefined) {
          expect(rows).toEqual([{ ok: 1 }]);
          break;
        }
      }
    }
  }, 150_000);

  it("service A cannot commit, roll back or use B's transaction; B's stays intact", async () => {
    const tx = await own.b.beginTransaction();
    // A read B's transaction id and key off the bus (or guessed them): refused as unknown.
    const error = await own.a.rollbackTransaction(tx).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as DatabaseError).errorType).toBe('UnknownTransaction');
    expect(await own.b.commitTransaction(tx)).toBe('COMMIT');
  });

  it("a request on A's topic that claims service B runs as A", async () => {
    const tx = await own.b.beginTransaction();
    const transport = createTransport(kind, {
      brokers: [kafka.bootstrapServers],
      clientId: `service-a.forger-${kind}`,
      security: kafka.security('service-a'),
    });
    try {
      await transport.connect();
      const replies: Record<string, unknown>[] = [];
      const a = serviceTopicNames(env, 'service-a');
      const channel = await transport.openReplyChannel({
        topics: [a.completed, a.failed],
        onMessage: (m) => {
          replies.push(JSON.parse(m.value?.toString() ?? 'null'));
        },
      });
      const publisher = transport.publisher();
      const correlationId = crypto.randomUUID();
      await publisher.publish(a.requested, {
        key: tx.key,
        value: JSON.stringify({
          event_id: crypto.randomUUID(),
          event_type: 'DATABASE_QUERY_REQUESTED',
          correlation_id: correlationId,
          timestamp: new Date().toISOString(),
          service: 'service-b',
          payload: { operation_type: 'ROLLBACK', transaction_id: tx.id },
          reply_partition: channel.partition,
        }),
      });
      const deadline = Date.now() + 30_000;
      let reply: Record<string, unknown> | undefined;
      while (reply === undefined) {
        expect(Date.now()).toBeLessThan(deadline);
        reply = replies.find((r) => r.correlation_id === correlationId);
        if (reply === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      // Answered on A's reply topics, as A: B's transaction is unknown to A.
      expect((reply.payload as { error_type?: string }).error_type).toBe('UnknownTransaction');
      await publisher.close();
      await channel.close();
    } finally {
      await transport.close();
    }
    expect(await own.b.commitTransaction(tx)).toBe('COMMIT');
  }, 60_000);
});
