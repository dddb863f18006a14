/**
 * Idempotent requests (issue 8 §2) against the real broker and database: a write delivered twice
 * (the same envelope published twice, concurrent duplicates, a client's retry after the adapter died
 * between COMMIT and its reply) is applied once and every later delivery gets the recorded reply;
 * a key reused with other content is refused; BATCH and an interactive COMMIT are recorded; reads
 * are not. Control runs without keys show the duplicates, so the tests can see them.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Executor } from '../../src/adapter/executor.js';
import {
  IDEMPOTENCY_TABLE,
  IdempotencyStore,
  recordKey,
  requestDigest,
} from '../../src/adapter/idempotency.js';
import type { RequestPayload } from '../../src/events/request.js';
import { serviceTopicNames, type TopicNames, topicNames } from '../../src/events/topics.js';
import { DatabaseError, DatabaseEventClient } from '../../src/index.js';
import { silentLogger } from '../../src/logger.js';
import { ensureTopics } from '../../src/transport/kafka-admin.js';
import { type AdapterChild, spawnAdapter } from '../helpers/adapter-child.js';
import { type Bridge, createTopics, kafkaAdmin, stack, startBridge, uniqueEnv } from '../helpers/bridge.js';
import { rawKafka } from '../helpers/raw-kafka.js';

const TABLE = `idem_rows_${process.pid}_${Date.now().toString(36)}`;
let bridge: Bridge;
let db: DatabaseEventClient;
let raw: Awaited<ReturnType<typeof rawKafka>>;
let replies: Awaited<ReturnType<Awaited<ReturnType<typeof rawKafka>>['collect']>>;

beforeAll(async () => {
  bridge = await startBridge('idem');
  await bridge.pg.query(`CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, marker text NOT NULL)`);
  db = await bridge.client();
  raw = await rawKafka(`idem-${process.pid}`);
  replies = await raw.collect([bridge.topics.completed, bridge.topics.failed]);
});

afterAll(async () => {
  await raw?.close();
  await bridge?.pg.query(`DROP TABLE IF EXISTS ${TABLE}`).catch(() => {});
  await bridge?.close();
});

function envelope(payload: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    event_id: randomUUID(),
    event_type: 'DATABASE_QUERY_REQUESTED',
    correlation_id: randomUUID(),
    timestamp: new Date().toISOString(),
    service: 'idem-test',
    payload,
    ...extra,
  };
}

/** What the tests read of a reply. */
interface RawReply {
  event_type: string;
  payload: {
    metadata: Record<string, unknown>;
    rows?: unknown;
    text_rows?: unknown;
    row_count?: number;
    results?: unknown;
    error_code?: string;
  };
}

const insert = (marker: string) => ({
  operation_type: 'EXECUTE' as const,
  sql: `INSERT INTO ${TABLE} (marker) VALUES ($1) RETURNING id`,
  params: [marker],
});

async function count(marker: string): Promise<number> {
  const result = await bridge.pg.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${TABLE} WHERE marker = $1`,
    [marker],
  );
  return result.rows[0]?.n ?? -1;
}

/** Waits for `n` replies to the correlation id (bounded). */
async function repliesTo(cid: string, n: number, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = replies.received.filter((m) => m.value.correlation_id === cid);
    if (found.length >= n) return found.map((m) => m.value as unknown as RawReply);
    if (Date.now() > deadline)
      throw new Error(`${found.length} of ${n} replies to ${cid} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('a write delivered twice', () => {
  it('the same envelope published twice writes once; the second reply is the recorded one', async () => {
    const marker = randomUUID();
    const request = envelope(insert(marker), { idempotency_key: `k-${randomUUID()}` });
    await raw.send(bridge.topics.requested, JSON.stringify(request));
    const [first] = await repliesTo(request.correlation_id, 1);
    await raw.send(bridge.topics.requested, JSON.stringify(request));
    const both = await repliesTo(request.correlation_id, 2);
    const second = both[1];
    expect(first?.event_type).toBe('DATABASE_QUERY_COMPLETED');
    expect(second?.event_type).toBe('DATABASE_QUERY_COMPLETED');
    expect(first?.payload.metadata.replayed).toBeUndefined();
    expect(second?.payload.metadata.replayed).toBe(true);
    expect(second?.payload.text_rows ?? second?.payload.rows).toEqual(
      first?.payload.text_rows ?? first?.payload.rows,
    );
    expect(second?.payload.row_count).toBe(1);
    expect(await count(marker)).toBe(1);
  });

  it('control: without a key, the same envelope published twice writes twice', async () => {
    const marker = randomUUID();
    const request = envelope(insert(marker));
    await raw.send(bridge.topics.requested, JSON.stringify(request));
    await repliesTo(request.correlation_id, 1);
    await raw.send(bridge.topics.requested, JSON.stringify(request));
    await repliesTo(request.correlation_id, 2);
    expect(await count(marker)).toBe(2);
  });

  it('concurrent duplicates (on different partitions at once) write once; the others replay', async () => {
    const marker = randomUUID();
    const request = JSON.stringify(envelope(insert(marker), { idempotency_key: `k-${randomUUID()}` }));
    const cid = JSON.parse(request).correlation_id as string;
    await raw.sendMany(
      bridge.topics.requested,
      Array.from({ length: 6 }, (_, partition) => ({ value: request, partition })),
    );
    const all = await repliesTo(cid, 6);
    expect(all.map((r) => r.event_type)).toEqual(Array(6).fill('DATABASE_QUERY_COMPLETED'));
    expect(all.filter((r) => r.payload.metadata.replayed === true)).toHaveLength(5);
    expect(await count(marker)).toBe(1);
  });

  it('a table INSERT (client.insert) with a caller-given key, sent again, writes once', async () => {
    const marker = randomUUID();
    const idempotencyKey = `k-${randomUUID()}`;
    const first = await db.request(
      { operation_type: 'INSERT', table: TABLE, data: { marker } },
      { idempotencyKey },
    );
    const again = await db.request(
      { operation_type: 'INSERT', table: TABLE, data: { marker } },
      { idempotencyKey },
    );
    expect(first.metadata.replayed).toBeUndefined();
    expect(again.metadata.replayed).toBe(true);
    expect(again.rows).toEqual(first.rows);
    expect(await count(marker)).toBe(1);
  });

  it('the same key with other content is refused with a clear coded error, and nothing runs', async () => {
    const idempotencyKey = `k-${randomUUID()}`;
    const a = randomUUID();
    const b = randomUUID();
    await db.execute(insert(a).sql, [a], { idempotencyKey });
    const error = await db.execute(insert(b).sql, [b], { idempotencyKey }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as DatabaseError).code).toBe('VALIDATION_ERROR');
    expect((error as DatabaseError).errorType).toBe('IdempotencyKeyReused');
    expect(await count(a)).toBe(1);
    expect(await count(b)).toBe(0);
  });

  it('a BATCH is recorded: delivered twice, its statements run once', async () => {
    const marker = randomUUID();
    const request = envelope(
      {
        operation_type: 'BATCH',
        statements: [insert(marker), insert(marker)].map(({ sql, params }) => ({ sql, params })),
      },
      { idempotency_key: `k-${randomUUID()}` },
    );
    await raw.send(bridge.topics.requested, JSON.stringify(request));
    await repliesTo(request.correlation_id, 1);
    await raw.send(bridge.topics.requested, JSON.stringify(request));
    const [first, second] = await repliesTo(request.correlation_id, 2);
    expect(second?.event_type).toBe('DATABASE_QUERY_COMPLETED');
    expect(second?.payload.metadata.replayed).toBe(true);
    expect(second?.payload.results).toEqual(first?.payload.results);
    expect(await count(marker)).toBe(2);
  });

  it("an interactive transaction's COMMIT is recorded: delivered again, it answers COMMIT", async () => {
    const marker = randomUUID();
    const tx = await db.beginTransaction();
    await db.request({ ...insert(marker) }, { transaction: tx });
    const commit = envelope(
      { operation_type: 'COMMIT', transaction_id: tx.id },
      { idempotency_key: `k-${randomUUID()}` },
    );
    await raw.send(bridge.topics.requested, JSON.stringify(commit), { key: tx.key });
    await repliesTo(commit.correlation_id, 1);
    await raw.send(bridge.topics.requested, JSON.stringify(commit), { key: tx.key });
    const [first, second] = await repliesTo(commit.correlation_id, 2);
    expect(first?.payload.metadata.command).toBe('COMMIT');
    expect(second?.event_type).toBe('DATABASE_QUERY_COMPLETED');
    expect(second?.payload.metadata.command).toBe('COMMIT');
    expect(second?.payload.metadata.replayed).toBe(true);
    expect(await count(marker)).toBe(1);
  });

  it('reads are not recorded', async () => {
    const key = `k-${randomUUID()}`;
    const request = envelope({ operation_type: 'SELECT', sql: 'SELECT 1 AS one' }, { idempotency_key: key });
    await raw.send(bridge.topics.requested, JSON.stringify(request));
    const [reply] = await repliesTo(request.correlation_id, 1);
    expect(reply?.event_type).toBe('DATABASE_QUERY_COMPLETED');
    const found = await bridge.pg.query(`SELECT 1 FROM ${IDEMPOTENCY_TABLE} WHERE key = $1`, [key]);
    expect(found.rowCount).toBe(0);
  });

  it('a key committed without a recorded reply answers that the write ran once, and runs nothing', async () => {
    // What an adapter killed between a write's COMMIT and recording its reply leaves behind.
    const marker = randomUUID();
    const key = `k-${randomUUID()}`;
    const request = envelope(insert(marker), { idempotency_key: key });
    const owner = new pg.Pool({ connectionString: stack().databaseOwnerUrl, max: 1 });
    try {
      await owner.query(`INSERT INTO ${IDEMPOTENCY_TABLE} (key, digest) VALUES ($1, $2)`, [
        recordKey('', request.service, key),
        requestDigest(request.payload as RequestPayload),
      ]);
    } finally {
      await owner.end();
    }
    await raw.send(bridge.topics.requested, JSON.stringify(request));
    const [reply] = await repliesTo(request.correlation_id, 1);
    expect(reply?.event_type).toBe('DATABASE_QUERY_FAILED');
    expect(reply?.payload).toMatchObject({
      error_code: 'DATABASE_OPERATION_FAILED',
      error_type: 'ReplyNotRecorded',
      executed: true,
      retryable: false,
    });
    expect(await count(marker)).toBe(0);
  });

  it('keys are scoped by service: the same key and content from another service runs; its own repeat replays', async () => {
    const marker = randomUUID();
    const key = `k-${randomUUID()}`;
    const from = (service: string) => envelope(insert(marker), { idempotency_key: key, service });
    const a = from('idem-a');
    await raw.send(bridge.topics.requested, JSON.stringify(a));
    const [first] = await repliesTo(a.correlation_id, 1);
    const b = from('idem-b');
    await raw.send(bridge.topics.requested, JSON.stringify(b));
    const [other] = await repliesTo(b.correlation_id, 1);
    const again = from('idem-a');
    await raw.send(bridge.topics.requested, JSON.stringify(again));
    const [repeat] = await repliesTo(again.correlation_id, 1);
    expect(first?.payload.metadata.replayed).toBeUndefined();
    expect(other?.event_type).toBe('DATABASE_QUERY_COMPLETED');
    expect(other?.payload.metadata.replayed).toBeUndefined();
    expect(repeat?.payload.metadata.replayed).toBe(true);
    expect(repeat?.payload.text_rows ?? repeat?.payload.rows).toEqual(
      first?.payload.text_rows ?? first?.payload.rows,
    );
    expect(await count(marker)).toBe(2);
  });

  it('an idempotency key that is not a bounded printable id is refused', async () => {
    const request = envelope(insert(randomUUID()), { idempotency_key: 'x'.repeat(201) });
    await raw.send(bridge.topics.requested, JSON.stringify(request));
    const [reply] = await repliesTo(request.correlation_id, 1);
    expect(reply?.payload.error_code).toBe('VALIDATION_ERROR');
  });
});

describe('records expire', () => {
  it('prune() deletes records older than the retention in bounded batches and keeps the rest', async () => {
    const owner = new pg.Pool({ connectionString: stack().databaseOwnerUrl, max: 1 });
    const executor = new Executor({ databaseUrl: stack().databaseUrl, poolMax: 2 });
    const prefix = `prune-${randomUUID()}`;
    try {
      // Two hours old: beyond a one-hour retention (other tests' records are younger).
      await owner.query(
        `INSERT INTO ${IDEMPOTENCY_TABLE} (key, digest, reply, created_at)
         SELECT $1 || '-' || i, 'd', '{}'::jsonb, now() - interval '2 hours' FROM generate_series(1, 2500) i`,
        [prefix],
      );
      await owner.query(`INSERT INTO ${IDEMPOTENCY_TABLE} (key, digest, reply) VALUES ($1, 'd', '{}')`, [
        `${prefix}-fresh`,
      ]);
      const store = new IdempotencyStore(executor, silentLogger, {
        retentionMs: 3_600_000,
        pruneBatch: 1000,
      });
      // One call deletes at most ten batches; the shared database may hold expired records of other
      // runs too, so prune until nothing expired is left (bounded).
      const first = await store.prune();
      expect(first).toBeLessThanOrEqual(10 * 1000);
      let deleted = first;
      for (let i = 0, n = first; n > 0 && i < 100; i++) {
        n = await store.prune();
        deleted += n;
      }
      expect(deleted).toBeGreaterThanOrEqual(2500);
      const left = await owner.query<{ key: string }>(
        `SELECT key FROM ${IDEMPOTENCY_TABLE} WHERE key LIKE $1`,
        [`${prefix}-%`],
      );
      expect(left.rows.map((r) => r.key)).toEqual([`${prefix}-fresh`]);
    } finally {
      await owner
        .query(`DELETE FROM ${IDEMPOTENCY_TABLE} WHERE key LIKE $1`, [`${prefix}-%`])
        .catch(() => {});
      await owner.end();
      await executor.close();
    }
  });
});

/**
 * The failpoint: the adapter process dies after COMMIT and before its reply. After a restart, the
 * redelivered request (or the client's retry) gets the recorded reply and the row exists once; the
 * control without keys shows the duplicate.
 */
describe('adapter killed between COMMIT and the reply', () => {
  const env = uniqueEnv('idem-fp');
  let adapter: AdapterChild | undefined;
  let owner: pg.Pool;

  let fpReplies: typeof replies;
  let fpTopics: Awaited<ReturnType<typeof createTopics>>;

  beforeAll(async () => {
    fpTopics = await createTopics(env, 24, 6);
    owner = new pg.Pool({ connectionString: stack().databaseOwnerUrl, max: 2 });
    fpReplies = await raw.collect([fpTopics.completed, fpTopics.failed]);
  });

  /**
   * A group with no committed offset on a partition starts a new member at the end of it, so the
   * uncommitted request would be skipped, not redelivered (left to the transports' work): a read on
   * partition 0 first, answered and committed, gives the group its position there.
   */
  async function committedOnPartition0(): Promise<void> {
    const read = envelope({ operation_type: 'SELECT', sql: 'SELECT 1 AS one' });
    await raw.send(fpTopics.requested, JSON.stringify(read), { partition: 0 });
    await fpReplies.waitFor((m) => m.value.correlation_id === read.correlation_id, 60_000);
    const admin = kafkaAdmin();
    await admin.connect();
    try {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const [offsets] = await admin.fetchOffsets({
          groupId: `adapter-${env}`,
          topics: [fpTopics.requested],
        });
        const p0 = offsets?.partitions.find((p) => p.partition === 0);
        if (p0 !== undefined && Number(p0.offset) >= 1) return;
        if (Date.now() > deadline) throw new Error('the group committed no offset on partition 0');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * The same request published raw (no deadline, no client retry): the failpoint adapter commits it
   * and dies; the restarted adapter reads it again and answers. Resolves to the rows and the reply.
   */
  async function redelivered(
    withKey: boolean,
  ): Promise<{ rows: number; reply: RawReply | undefined; record: StoredRecord | undefined }> {
    // The failpoint lets one write through: the same INSERT with a key, which teaches the adapter
    // its RETURNING columns, so the next one is recorded in one round trip (by the statement itself).
    adapter = await spawnAdapter(env, {
      DBBRIDGE_FAILPOINT: 'after-commit-before-reply',
      DBBRIDGE_FAILPOINT_SKIP: '1',
    });
    const marker = randomUUID();
    const key = `k-${randomUUID()}`;
    const request = envelope(insert(marker), withKey ? { idempotency_key: key } : {});
    try {
      await committedOnPartition0();
      const warm = envelope(insert(randomUUID()), { idempotency_key: `k-${randomUUID()}` });
      await raw.send(fpTopics.requested, JSON.stringify(warm), { partition: 0 });
      await fpReplies.waitFor((m) => m.value.correlation_id === warm.correlation_id, 60_000);
      await raw.send(fpTopics.requested, JSON.stringify(request), { partition: 0 });
      const deadline = Date.now() + 60_000;
      while (adapter.alive()) {
        if (Date.now() > deadline) throw new Error('the failpoint did not fire');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await count2(marker)).toBe(1);
      const record = withKey ? await storedRecord(key) : undefined;
      adapter = await spawnAdapter(env);
      const reply = await fpReplies.waitFor(
        (m) => m.value.correlation_id === request.correlation_id,
        150_000,
      );
      return { rows: await count2(marker), reply: reply.value as unknown as RawReply, record };
    } finally {
      await adapter?.stop(10_000);
      adapter = undefined;
    }
  }

  afterAll(async () => {
    await adapter?.stop(10_000);
    await owner?.end();
  });

  /**
   * With a key, what the retry after the kill may get: the recorded reply (the record landed before
   * the kill), or the coded answer that the write ran once and its reply was not recorded (the kill
   * came first: the reply is recorded right after COMMIT, with the next pipelined send). Never a run.
   */
  type Answer = { kind: 'replayed' } | { kind: 'not-recorded'; executed: unknown; retryable: unknown };

  async function run(idempotentWrites: boolean): Promise<{ rows: number; answer: Answer | undefined }> {
    // Used with keys: the client retries after each timeout until an adapter answers. One write goes
    // through first (the same INSERT: with keys, it teaches the adapter its RETURNING columns).
    adapter = await spawnAdapter(env, {
      DBBRIDGE_FAILPOINT: 'after-commit-before-reply',
      DBBRIDGE_FAILPOINT_SKIP: '1',
    });
    const client = new DatabaseEventClient({
      bootstrapServers: stack().bootstrapServers,
      topicEnv: env,
      enableCircuitBreaker: false,
      idempotentWrites,
      // With keys: retried after each timeout. Without: one long wait for the redelivery's reply.
      requestTimeoutMs: idempotentWrites ? 10_000 : 110_000,
      maxRetries: idempotentWrites ? 12 : 0,
      retry: { initialRetryTime: 200, maxRetryTime: 1000 },
    });
    await client.start();
    await committedEverywhere();
    const marker = randomUUID();
    try {
      await client.request({ ...insert(randomUUID()) });
      const call = client.request({ ...insert(marker) });
      // The failpoint ends the process once the write committed.
      const deadline = Date.now() + 60_000;
      while (adapter.alive()) {
        if (Date.now() > deadline) throw new Error('the failpoint did not fire');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await count2(marker)).toBe(1);
      adapter = await spawnAdapter(env);
      const answer: Answer | undefined = await call.then(
        (result) => (result.metadata.replayed === true ? { kind: 'replayed' } : undefined),
        (error: unknown) => {
          if (!(error instanceof DatabaseError) || error.errorType !== 'ReplyNotRecorded') throw error;
          expect(error.code).toBe('DATABASE_OPERATION_FAILED');
          return { kind: 'not-recorded', executed: error.executed, retryable: error.retryable };
        },
      );
      return { rows: await count2(marker), answer };
    } finally {
      await client.stop();
      await adapter?.stop(10_000);
      adapter = undefined;
    }
  }

  /**
   * A restarted adapter resumes where its group committed; on a partition the group never committed,
   * it starts at the log's end (as any new group does) and would not see the redelivery. So first
   * every request partition gets one answered request and a committed offset.
   */
  async function committedEverywhere(): Promise<void> {
    const topic = topicNames(env).requested;
    const raw = await rawKafka(`idem-warm-${process.pid}`);
    const admin = kafkaAdmin();
    await admin.connect();
    try {
      const replies = await raw.collect([topicNames(env).completed, topicNames(env).failed]);
      const ids = Array.from({ length: 6 }, () => randomUUID());
      for (const [partition, cid] of ids.entries()) {
        await raw.send(
          topic,
          JSON.stringify({
            event_id: randomUUID(),
            event_type: 'DATABASE_QUERY_REQUESTED',
            correlation_id: cid,
            timestamp: new Date().toISOString(),
            service: 'idem-warm',
            payload: { operation_type: 'SELECT', sql: 'SELECT 1 AS ok' },
          }),
          { key: cid, partition },
        );
      }
      for (const cid of ids) await replies.waitFor((m) => m.value.correlation_id === cid, 60_000);
      for (const deadline = Date.now() + 30_000; ; ) {
        const [offsets] = await admin.fetchOffsets({ groupId: `adapter-${env}`, topics: [topic] });
        const committed = offsets?.partitions.filter((p) => Number(p.offset) > 0).length ?? 0;
        if (committed === 6) break;
        if (Date.now() > deadline) throw new Error(`only ${committed} of 6 partitions committed`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await admin.disconnect();
      await raw.close();
    }
  }

  /** How the key's record was written: the reply itself (two round trips) or the statement's result (one). */
  type StoredRecord = { reply: boolean; result: boolean };

  async function storedRecord(key: string): Promise<StoredRecord | undefined> {
    const found = await owner.query<StoredRecord>(
      `SELECT reply IS NOT NULL AS reply, result IS NOT NULL AS result FROM ${IDEMPOTENCY_TABLE} WHERE key LIKE $1`,
      [`% ${key}`],
    );
    return found.rows[0];
  }

  async function count2(marker: string): Promise<number> {
    const result = await owner.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${TABLE} WHERE marker = $1`,
      [marker],
    );
    return result.rows[0]?.n ?? -1;
  }

  it('with idempotency keys: the retry gets the recorded reply (recorded with the commit); the row exists once', {
    timeout: 180_000,
  }, async () => {
    // The write's result committed with it (recorded by the statement itself), so the kill between
    // COMMIT and publishing cannot lose the reply.
    const { rows, answer } = await run(true);
    expect(rows).toBe(1);
    expect(answer).toEqual({ kind: 'replayed' });
  });

  it('with a key, redelivered after a restart: the recorded reply (recorded with the commit); the row exists once', {
    timeout: 240_000,
  }, async () => {
    const { rows, reply, record } = await redelivered(true);
    expect(rows).toBe(1);
    // Committed by the statement itself, in the write's one round trip.
    expect(record).toEqual({ reply: false, result: true });
    expect(reply?.event_type).toBe('DATABASE_QUERY_COMPLETED');
    expect(reply?.payload.metadata.replayed).toBe(true);
    expect(reply?.payload.row_count).toBe(1);
    expect(reply?.payload.rows ?? reply?.payload.text_rows).toHaveLength(1);
  });

  it('control, no key: the redelivered request runs again (the test can see a duplicate)', {
    timeout: 240_000,
  }, async () => {
    const { rows, reply } = await redelivered(false);
    expect(reply?.event_type).toBe('DATABASE_QUERY_COMPLETED');
    expect(reply?.payload.metadata.replayed).toBeUndefined();
    expect(rows).toBe(2);
  });
});

describe('per-service topics', () => {
  it("a service's key is its own: another service's topic with the same key and content runs, whatever its service field says", async () => {
    const services = ['idem-svc-a', 'idem-svc-b'] as const;
    const svc = await startBridge('idem-svc', {
      adapter: { services: [...services] },
      adapterRunning: false,
    });
    const admin = kafkaAdmin();
    await admin.connect();
    const [a, b] = services.map((s) => serviceTopicNames(svc.env, s)) as [TopicNames, TopicNames];
    try {
      for (const topics of [a, b])
        await ensureTopics(admin, topics, { requestPartitions: 2, replyPartitions: 4 });
      await svc.adapter.start(); // once the service topics exist
      const got = await raw.collect([a.completed, a.failed, b.completed, b.failed]);
      const marker = randomUUID();
      const key = `k-${randomUUID()}`;
      const send = async (topics: TopicNames, service: string) => {
        const request = envelope(insert(marker), { idempotency_key: key, service });
        await raw.send(topics.requested, JSON.stringify(request));
        const reply = await got.waitFor((m) => m.value.correlation_id === request.correlation_id, 60_000);
        return reply.value as unknown as RawReply;
      };
      const first = await send(a, 'idem-svc-a');
      // On b's topic, claiming to be a: it runs as b, and does not get a's reply.
      const other = await send(b, 'idem-svc-a');
      const repeat = await send(a, 'idem-svc-a');
      expect(first.event_type).toBe('DATABASE_QUERY_COMPLETED');
      expect(first.payload.metadata.replayed).toBeUndefined();
      expect(other.event_type).toBe('DATABASE_QUERY_COMPLETED');
      expect(other.payload.metadata.replayed).toBeUndefined();
      expect(repeat.payload.metadata.replayed).toBe(true);
      expect(await count(marker)).toBe(2);
    } finally {
      await admin.disconnect();
      await svc.close();
    }
  });
});

describe('with DDL allowed', () => {
  it('a statement that cannot run in a transaction block (CREATE INDEX CONCURRENTLY) still runs, unrecorded', async () => {
    const ddl = await startBridge('idem-ddl', {
      adapter: { poolMax: 2, allowDdl: true, databaseUrl: stack().databaseDdlUrl },
    });
    const table = `idem_ddl_${process.pid}_${Date.now().toString(36)}`;
    try {
      const client = await ddl.client();
      await client.execute(`CREATE TABLE ${table} (id int)`);
      await client.execute(`CREATE INDEX CONCURRENTLY ${table}_id ON ${table} (id)`);
      const found = await ddl.pg.query('SELECT 1 FROM pg_indexes WHERE indexname = $1', [`${table}_id`]);
      expect(found.rowCount).toBe(1);
    } finally {
      await ddl.pg.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
      await ddl.close();
    }
  });
});
