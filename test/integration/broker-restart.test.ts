/**
 * A broker restart is an outage the client reports and both sides ride out: while the broker is
 * down a request fails with a coded error within its timeout (never a hang), and once the broker is
 * back the same client and adapter answer again without being restarted. On a broker of the test's
 * own, with the transport under test (`DBBRIDGE_TRANSPORT`).
 */
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseAdapter } from '../../src/adapter/index.js';
import { topicNames } from '../../src/events/topics.js';
import { DatabaseEventClient, DbBridgeError } from '../../src/index.js';
import { silentLogger } from '../../src/logger.js';
import { createTransport, ensureTopics } from '../../src/transport/index.js';
import type { Transport } from '../../src/transport/types.js';
import { stack, transportKind, uniqueEnv } from '../helpers/bridge.js';
import { startThrowawayKafka, type ThrowawayKafka } from '../helpers/stack.js';

const env = uniqueEnv('restart');
let kafka: ThrowawayKafka;
let transport: Transport;
let adapter: DatabaseAdapter;
let client: DatabaseEventClient;

beforeAll(async () => {
  kafka = await startThrowawayKafka(`restart-${transportKind()}`);
  const admin = new Kafka({ brokers: [kafka.bootstrapServers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await ensureTopics(admin, topicNames(env), { requestPartitions: 3, replyPartitions: 6 });
  await admin.disconnect();
  transport = createTransport(transportKind(), {
    brokers: [kafka.bootstrapServers],
    clientId: 'adapter-restart',
    logger: silentLogger,
  });
  adapter = new DatabaseAdapter({
    transport,
    databaseUrl: stack().databaseUrl,
    topicEnv: env,
    groupId: `adapter-${env}`,
    poolMax: 4,
    logger: silentLogger,
  });
  await adapter.start();
  client = new DatabaseEventClient({
    bootstrapServers: kafka.bootstrapServers,
    topicEnv: env,
    maxRetries: 0,
    circuitBreaker: { resetTimeoutMs: 1000 }, // probe again soon after the outage
  });
  await client.start();
}, 120_000);

afterAll(async () => {
  await client?.stop();
  await adapter?.stop();
  await transport?.close();
  await kafka?.destroy();
}, 60_000);

describe('broker restart', () => {
  it('fails requests with a code while the broker is down, and answers again once it is back', async () => {
    expect(await client.query('SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
    await kafka.stop();

    const started = performance.now();
    const error = await client.query('SELECT 2 AS ok', [], { timeoutMs: 3000 }).catch((e) => e);
    expect(error).toBeInstanceOf(DbBridgeError);
    expect(['TRANSPORT_ERROR', 'REQUEST_TIMEOUT']).toContain(error.code);
    expect(performance.now() - started).toBeLessThan(3000 + 2000);

    await kafka.start();
    // The same client and adapter, not restarted: the first answer after the outage, then a burst.
    const deadline = Date.now() + 60_000;
    let answered = false;
    while (!answered) {
      expect(Date.now()).toBeLessThan(deadline);
      answered = await client
        .query('SELECT 3 AS ok', [], { timeoutMs: 3000 })
        .then((rows) => rows[0]?.ok === 3)
        .catch((e) => {
          // Down or still rejoining: a coded error, then try again shortly.
          if (!(e instanceof DbBridgeError)) throw e;
          return new Promise<boolean>((r) => setTimeout(() => r(false), 500));
        });
    }
    const burst = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.query<{ i: number }>('SELECT $1::int AS i', [i])),
    );
    expect(burst.map((rows) => rows[0]?.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  }, 150_000);
});
