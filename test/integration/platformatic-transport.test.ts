/**
 * The @platformatic/kafka transport behind the same Transport interface, against the real broker and
 * database: round trips, failed replies, reply-partition isolation, no history on a new reply
 * channel, and both transports talking to each other (kafkajs client -> platformatic adapter and
 * platformatic client -> kafkajs adapter).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { PlatformaticTransport } from '../../src/transport/platformatic-transport.js';
import { type Bridge, stack, startBridge } from '../helpers/bridge.js';
import { rawKafka } from '../helpers/raw-kafka.js';

const transports: PlatformaticTransport[] = [];
function platformatic(name: string): PlatformaticTransport {
  const transport = new PlatformaticTransport({
    brokers: stack().bootstrapServers.split(','),
    clientId: `plt-${name}`,
    logger: silentLogger,
  });
  transports.push(transport);
  return transport;
}

/** Adapter on the platformatic transport. */
let plt: Bridge;
/** Adapter on the default kafkajs transport. */
let kjs: Bridge;
beforeAll(async () => {
  plt = await startBridge('plt-adapter', { adapter: { transport: platformatic('adapter') } });
  kjs = await startBridge('kjs-adapter');
});
afterAll(async () => {
  await plt?.close();
  await kjs?.close();
  await Promise.all(transports.map((t) => t.close()));
});

async function until(predicate: () => boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const ROWS_SQL = `SELECT g AS n, 'row ' || g AS label, g % 2 = 0 AS even, (g * 1.5)::numeric AS amount,
  CASE WHEN g % 3 = 0 THEN NULL ELSE g END AS maybe, jsonb_build_object('g', g) AS doc,
  timestamptz '2025-01-01 00:00:00+00' + g * interval '1 hour' AS at
  FROM generate_series(1, 25) AS g ORDER BY g`;

describe('platformatic transport, both sides', () => {
  it('a SELECT round trip returns the rows direct pg returns', async () => {
    const client = await plt.client({ transport: platformatic('select') });
    const viaBus = await client.query(ROWS_SQL);
    const { rows: direct } = await plt.pg.query(ROWS_SQL);
    expect(viaBus).toHaveLength(25);
    expect(viaBus).toEqual(direct);
    expect(client.unmatchedReplies).toBe(0);
  });

  it('a syntax error comes back as a failed reply (SQLSTATE 42601)', async () => {
    const client = await plt.client({ transport: platformatic('failed') });
    const error = await client.query('SELET 1', [], { timeoutMs: 10_000 }).catch((e) => e);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).toMatchObject({
      code: 'DATABASE_OPERATION_FAILED',
      sqlstate: '42601',
      errorType: 'PostgresError',
    });
  });

  it('the requests of a transaction reach one connection in order (one key, one partition)', async () => {
    const client = await plt.client({ transport: platformatic('tx') });
    // A sequence counts the statements in the order they ran (set_config, which kept a
    // transaction-local trail here, is refused to every request).
    const counter = `dbbridge_tx_order_${randomUUID().slice(0, 8)}`;
    await plt.pg.query(`CREATE SEQUENCE ${counter}`);
    try {
      const seen = await client.transaction(async (tx) => {
        const rows: { i: number; n: string; pid: number; xid: string }[] = [];
        for (let i = 0; i < 5; i++) {
          const [row] = await tx.query<(typeof rows)[number]>(
            `SELECT $1::int AS i, nextval('${counter}')::text AS n, pg_backend_pid() AS pid, pg_current_xact_id()::text AS xid`,
            [i],
          );
          if (row) rows.push(row);
        }
        return rows;
      });
      expect(seen.map((r) => [r.i, r.n])).toEqual([0, 1, 2, 3, 4].map((i) => [i, String(i + 1)]));
      expect(new Set(seen.map((r) => `${r.pid}/${r.xid}`)).size).toBe(1);
    } finally {
      await plt.pg.query(`DROP SEQUENCE IF EXISTS ${counter}`);
    }
  });

  it('two clients on different reply partitions each see only their own replies', async () => {
    const a = await plt.client({ transport: platformatic('iso-a'), replyPartition: 3 });
    const b = await plt.client({ transport: platformatic('iso-b'), replyPartition: 7 });
    expect([a.replyPartition, b.replyPartition]).toEqual([3, 7]);
    const ask = (client: typeof a, who: string) =>
      Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          client.query<{ who: string; i: number }>('SELECT $1::text AS who, $2::int AS i', [who, i]),
        ),
      );
    const [ra, rb] = await Promise.all([ask(a, 'a'), ask(b, 'b')]);
    expect(ra.map((r) => r[0])).toEqual(Array.from({ length: 40 }, (_, i) => ({ who: 'a', i })));
    expect(rb.map((r) => r[0])).toEqual(Array.from({ length: 40 }, (_, i) => ({ who: 'b', i })));
    expect(a.unmatchedReplies).toBe(0);
    expect(b.unmatchedReplies).toBe(0);
  });

  it('a reply channel opened after thousands of replies were written does not read them', async () => {
    const partition = 5;
    const earlier = await plt.client({ transport: platformatic('hist-early'), replyPartition: partition });
    const raw = await rawKafka('plt-history');
    try {
      const fake = (i: number) => ({
        partition,
        value: JSON.stringify({
          event_id: randomUUID(),
          event_type: 'DATABASE_QUERY_COMPLETED',
          correlation_id: randomUUID(),
          timestamp: new Date().toISOString(),
          service: 'database-adapter-effect',
          payload: {
            operation_type: 'SELECT',
            rows: [{ i }],
            row_count: 1,
            execution_time_ms: 1,
            metadata: { cached: false, circuit_breaker_state: 'CLOSED' },
          },
        }),
      });
      for (let batch = 0; batch < 6; batch++) {
        await raw.sendMany(
          plt.topics.completed,
          Array.from({ length: 500 }, (_, i) => fake(batch * 500 + i)),
        );
      }
      // A reader that was already there sees all 3000 (so the check below can fail)...
      await until(() => earlier.unmatchedReplies >= 3000);
      expect(earlier.unmatchedReplies).toBe(3000);

      // ...one opened afterwards on the same partition sees none of them, and still gets its own reply.
      const later = await plt.client({ transport: platformatic('hist-late'), replyPartition: partition });
      expect(await later.query('SELECT 42 AS answer')).toEqual([{ answer: 42 }]);
      // No waiting needed: its reply sits after the 3000 on the same partition and topic, read in
      // order, so a reader that read history would have counted them before its reply arrived.
      expect(later.unmatchedReplies).toBe(0);
    } finally {
      await raw.close();
    }
  });

  it('a reply partition the topics do not have is refused at start', async () => {
    await expect(
      plt.client({ transport: platformatic('bad-partition'), replyPartition: 999 }),
    ).rejects.toMatchObject({
      code: 'TRANSPORT_ERROR',
    });
  });
});

describe('mixed transports', () => {
  it('a kafkajs client is answered by the platformatic adapter', async () => {
    const client = await plt.client();
    const viaBus = await client.query(ROWS_SQL);
    const { rows: direct } = await plt.pg.query(ROWS_SQL);
    expect(viaBus).toEqual(direct);
    const error = await client.query('SELET 1', [], { timeoutMs: 10_000 }).catch((e) => e);
    expect(error).toMatchObject({ code: 'DATABASE_OPERATION_FAILED', sqlstate: '42601' });
  });

  it('a platformatic client is answered by the kafkajs adapter', async () => {
    const client = await kjs.client({ transport: platformatic('to-kafkajs') });
    const viaBus = await client.query(ROWS_SQL);
    const { rows: direct } = await kjs.pg.query(ROWS_SQL);
    expect(viaBus).toEqual(direct);
    const many = await Promise.all(
      Array.from({ length: 30 }, (_, i) => client.query<{ i: number }>('SELECT $1::int AS i', [i])),
    );
    expect(many.map((r) => r[0]?.i)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(client.unmatchedReplies).toBe(0);
  });
});
