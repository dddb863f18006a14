/**
 * `dbbridge service add` on a secured broker (the stack's `--secure` mode, a throw-away broker of this
 * file's own): a new service C, with a SCRAM user created on the running broker, gets its own topics
 * and ACLs; then C's request is answered by an adapter configured from the environment (where the
 * shared topics are off by default in secured mode), C cannot read A's replies nor write A's requests,
 * and a second `service add` changes nothing. Both transports.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addScramUser } from '../../scripts/stack/secure.js';
import { adapterFromEnv } from '../../src/adapter/main.js';
import { type Io, type ServiceAddArgs, serviceAdd } from '../../src/cli/commands.js';
import { readEnv } from '../../src/env.js';
import { serviceTopicNames, topicNames } from '../../src/events/topics.js';
import { DatabaseEventClient, TransportError } from '../../src/index.js';
import { silentLogger } from '../../src/logger.js';
import {
  createTransport,
  TRANSPORT_KINDS,
  type TransportKind,
} from '../../src/transport/create-transport.js';
import type { KafkaSecurity } from '../../src/transport/security.js';
import { listAcls } from '../../src/transport/service-access.js';
import { createTopics, kafkaAdmin, stack, uniqueEnv } from '../helpers/bridge.js';
import { startThrowawayKafka, type ThrowawayKafka } from '../helpers/stack.js';

const env = uniqueEnv('onboard');
const C = 'service-c';
const cPassword = randomBytes(18).toString('base64url');
const adapterGroup = `adapter-${env}`;
let kafka: ThrowawayKafka;
const clients: DatabaseEventClient[] = [];

/** `KAFKA_*` variables of `user` of the secured broker, as an operator or a service would set them. */
function securityEnv(user: string, password: string): Record<string, string> {
  return {
    KAFKA_BOOTSTRAP_SERVERS: kafka.bootstrapServers,
    DBBRIDGE_ENV: env,
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: user,
    KAFKA_SASL_PASSWORD: password,
    KAFKA_SSL_CA_FILE: kafka.material?.caFile ?? '',
  };
}

function cSecurity(): KafkaSecurity {
  const tls = kafka.security('admin').tls ?? true;
  return { tls, sasl: { mechanism: 'SCRAM-SHA-512', username: C, password: cPassword } };
}

/** `dbbridge service add` as the admin (a super user), its output collected. */
async function serviceAddAsAdmin(args: Partial<ServiceAddArgs> & { service: string }) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) };
  const password = kafka.material?.passwords.admin ?? '';
  const code = await serviceAdd(
    readEnv(securityEnv('admin', password)),
    {
      adapters: ['adapter'],
      adapterGroup,
      requestPartitions: 2,
      replyPartitions: 4,
      replicationFactor: 1,
      dryRun: false,
      ...args,
    },
    io,
  );
  return { code, out, err };
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

async function asC<T>(kind: TransportKind, fn: (t: ReturnType<typeof createTransport>) => Promise<T>) {
  const transport = createTransport(kind, {
    brokers: [kafka.bootstrapServers],
    clientId: `${C}-probe-${kind}`,
    security: cSecurity(),
  });
  try {
    await transport.connect();
    return await fn(transport);
  } finally {
    await transport.close();
  }
}

let firstAdd: Awaited<ReturnType<typeof serviceAddAsAdmin>>;
let beforeAddRefusal: string | undefined;

beforeAll(async () => {
  kafka = await startThrowawayKafka('onboard', { secure: true });
  // The seed's shared topics exist, as on a cluster that served open-mode clients before.
  await createTopics(env, 4, 2, kafka.bootstrapServers, kafka.security('admin'));
  // C's SCRAM user, created on the running broker (the stack's own users come with its storage).
  await addScramUser(kafka.bootstrapServers, kafka.security('admin'), C, cPassword);
  // Before `service add`, C may authenticate but has no topic of its own to write.
  const topics = serviceTopicNames(env, C);
  beforeAddRefusal = await asC('kafkajs', async (t) => {
    const publisher = t.publisher({ idempotent: false });
    const outcome = await publisher.publish(topics.requested, { key: 'k', value: '{}' }).then(
      () => undefined,
      (e: unknown) => (e as TransportError).refusal ?? String(e),
    );
    await publisher.close().catch(() => {});
    return outcome;
  });
  expect((await serviceAddAsAdmin({ service: 'service-a', requestPartitions: 3 })).code).toBe(0);
  firstAdd = await serviceAddAsAdmin({ service: C });
}, 240_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.stop().catch(() => {})));
  await kafka?.destroy();
}, 60_000);

describe('dbbridge service add', () => {
  it("creates the service's four topics and its ACLs", () => {
    // Before the add, C's own request topic did not exist (or was not C's to write): refused.
    expect(beforeAddRefusal).toMatch(/AUTHORIZATION_FAILED|UNKNOWN_TOPIC/);
    expect(firstAdd.code).toBe(0);
    const topics = serviceTopicNames(env, C);
    expect(firstAdd.out.filter((l) => l.startsWith('created ')).sort()).toEqual(
      Object.values(topics)
        .map((t) => `created ${t}`)
        .sort(),
    );
    expect(firstAdd.out.at(-1)).toMatch(/^ACLs: 9 created, 1 already there/);
  });

  it('a second service add changes nothing', async () => {
    const admin = kafkaAdmin(kafka.bootstrapServers, kafka.security('admin'));
    await admin.connect();
    try {
      const snapshot = async () => {
        const acls = (await listAcls(admin)).map((a) => JSON.stringify(a)).sort();
        const topics = Object.values(serviceTopicNames(env, C));
        const metadata = await admin.fetchTopicMetadata({ topics });
        const partitions = metadata.topics.map((t) => `${t.name}:${t.partitions.length}`).sort();
        return { acls, partitions, topicCount: (await admin.listTopics()).length };
      };
      const before = await snapshot();
      // Asked for other partition counts: existing topics are left as they are.
      const again = await serviceAddAsAdmin({ service: C, requestPartitions: 5 });
      expect(again.code).toBe(0);
      expect(again.out.filter((l) => l.startsWith('created '))).toEqual([]);
      expect(again.out.filter((l) => l.startsWith('exists '))).toHaveLength(4);
      expect(again.out.at(-1)).toMatch(/^ACLs: 0 created, 10 already there/);
      expect(await snapshot()).toEqual(before);
      // And the ACLs of C name only C's own topics and reply groups.
      const cAcls = (await listAcls(admin)).filter((a) => a.principal === `User:${C}`);
      expect(cAcls).toHaveLength(5);
      for (const acl of cAcls) expect(acl.resourceName).toContain(C);
    } finally {
      await admin.disconnect();
    }
  });

  it('refuses a bad service name or option with a usage error, creating nothing', async () => {
    for (const args of [{ service: 'Service_C' }, { service: 'x', replicationFactor: 0 }]) {
      const result = await serviceAddAsAdmin(args);
      expect(result.code).toBe(2);
      expect(result.out).toEqual([]);
      expect(result.err.join('\n')).toMatch(/invalid service name|--replication-factor/);
    }
  });
});

describe.each(TRANSPORT_KINDS)('a service added with service add (%s transport)', (kind) => {
  let adapter: ReturnType<typeof adapterFromEnv> | undefined;
  let c: DatabaseEventClient;

  beforeAll(async () => {
    // The adapter as `npm run adapter` configures it in secured mode: DBBRIDGE_SHARED_TOPICS unset.
    const adapterEnv = readEnv({
      ...securityEnv('adapter', kafka.material?.passwords.adapter ?? ''),
      DATABASE_URL: stack().databaseUrl,
      DBBRIDGE_SERVICES: `service-a,${C}`,
      DBBRIDGE_ADAPTER_GROUP: adapterGroup,
      DBBRIDGE_TRANSPORT: kind,
      DBBRIDGE_POOL_MAX: '2',
    });
    expect(adapterEnv.DBBRIDGE_SHARED_TOPICS).toBe(false);
    adapter = adapterFromEnv(adapterEnv, silentLogger);
    await adapter.adapter.start();
    c = new DatabaseEventClient({
      bootstrapServers: kafka.bootstrapServers,
      topicEnv: env,
      transportKind: kind,
      maxRetries: 0,
      enableCircuitBreaker: false,
      security: cSecurity(),
      service: C,
      ownTopics: true,
    });
    clients.push(c);
    await c.start();
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
    await adapter?.adapter.stop();
    await adapter?.transport.close();
  }, 60_000);

  it('C sends a request and gets the reply; the adapter consumes only the services’ topics', async () => {
    // The adapter's group may still be joining: poll with a deadline.
    const deadline = Date.now() + 60_000;
    let rows: { n: number; who: string }[] | undefined;
    while (rows === undefined) {
      expect(Date.now()).toBeLessThan(deadline);
      rows = await c
        .query<{ n: number; who: string }>('SELECT $1::int + 1 AS n, $2::text AS who', [41, C], {
          timeoutMs: 3000,
        })
        .catch((e) => {
          if ((e as { code?: string }).code !== 'REQUEST_TIMEOUT') throw e;
          return undefined;
        });
    }
    expect(rows).toEqual([{ n: 42, who: C }]);
    // A's request topic (3 partitions) and C's (2); the shared request topic (2) would make it 7.
    expect(adapter?.adapter.assignedPartitions).toBe(5);
  }, 90_000);

  it("C cannot read A's reply topics nor write A's request topic, nor the shared request topic", async () => {
    const a = serviceTopicNames(env, 'service-a');
    await asC(kind, async (t) => {
      const read = await refusal(
        t.openReplyChannel({ topics: [a.completed, a.failed], onMessage: () => {} }),
      );
      expect(read.refusal).toBe('TOPIC_AUTHORIZATION_FAILED');
      const publisher = t.publisher();
      try {
        // C's own request topic is writable (the idempotent producer gets its id through it)...
        await publisher.publish(serviceTopicNames(env, C).requested, { key: 'k', value: '{}' });
        // ...A's and the shared one are not.
        for (const topic of [a.requested, topicNames(env).requested]) {
          const error = await refusal(publisher.publish(topic, { key: 'k', value: '{}' }));
          expect(error.refusal).toBe('TOPIC_AUTHORIZATION_FAILED');
          expect(error.retryable).toBe(false);
        }
      } finally {
        await publisher.close().catch(() => {});
      }
    });
  }, 60_000);
});
