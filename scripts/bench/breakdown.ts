import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import type { DatabaseEventClient } from '../../src/client/index.js';
import type { TopicNames } from '../../src/events/topics.js';
import { kafkajsSecurity } from '../../src/transport/client-security.js';
import type { KafkaSecurity } from '../../src/transport/security.js';
import { LatencyHistogram } from './histogram.js';
import { openLoop } from './load.js';
import type { Breakdown, BreakdownSegment } from './report.js';
import type { WorkloadContext } from './workloads.js';

const PK_SELECT = 'SELECT * FROM agent_execution_logs WHERE execution_id = $1';

interface Call {
  readonly start: number;
  end?: number;
  executionMs?: number;
}

/**
 * Reads every message of the run's three topics with a tap consumer of its own, and keeps each message's
 * timestamp (the producer's CreateTime, set when kafkajs builds the produce request) by correlation id.
 */
export class KafkaTap {
  readonly #consumer;
  readonly #kafka: Kafka;
  readonly #groupId: string;
  readonly #topics: TopicNames;
  readonly requestTs = new Map<string, number>();
  readonly replyTs = new Map<string, number>();
  /** When this tap received each reply (epoch ms from the µs clock of this process). */
  readonly replySeen = new Map<string, number>();

  constructor(bootstrapServers: string, topics: TopicNames, runTag: string, security?: KafkaSecurity) {
    this.#kafka = new Kafka({
      clientId: 'dbbridge-bench-tap',
      brokers: bootstrapServers.split(','),
      logLevel: logLevel.NOTHING,
      ...kafkajsSecurity(security),
    });
    this.#groupId = `dbbridge-bench-tap-${runTag}`;
    this.#topics = topics;
    this.#consumer = this.#kafka.consumer({ groupId: this.#groupId, maxWaitTimeInMs: 50, minBytes: 1 });
  }

  async start(): Promise<void> {
    const joined = new Promise<void>((resolve) => {
      this.#consumer.on(this.#consumer.events.GROUP_JOIN, () => resolve());
    });
    await this.#consumer.connect();
    // The run's topics are new: reading them from the beginning costs little and misses nothing.
    await this.#consumer.subscribe({
      topics: [this.#topics.requested, this.#topics.completed, this.#topics.failed],
      fromBeginning: true,
    });
    await this.#consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const seen = performance.timeOrigin + performance.now();
        const isRequest = batch.topic === this.#topics.requested;
        const into = isRequest ? this.requestTs : this.replyTs;
        for (const m of batch.messages) {
          if (m.key === null) continue;
          const key = m.key.toString('utf8');
          into.set(key, Number(m.timestamp));
          if (!isRequest) this.replySeen.set(key, seen);
        }
      },
    });
    await joined;
  }

  async stop(): Promise<void> {
    await this.#consumer.disconnect().catch(() => {});
    const admin = this.#kafka.admin();
    await admin.connect().catch(() => {});
    await admin.deleteGroups([this.#groupId]).catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}

function segment(values: readonly number[]): BreakdownSegment {
  // Kafka timestamps are whole milliseconds, so a segment can come out slightly negative: the
  // histogram keeps it at 0, the mean keeps the sign and so stays unbiased.
  const h = new LatencyHistogram();
  let sum = 0;
  for (const v of values) {
    h.recordMs(Math.max(0, v));
    sum += v;
  }
  const s = h.summary();
  return {
    mean_ms: values.length === 0 ? 0 : Math.round((sum / values.length) * 1000) / 1000,
    p50_ms: s.p50_ms,
    p99_ms: s.p99_ms,
  };
}

export interface BreakdownOptions {
  readonly client: DatabaseEventClient;
  readonly tap: KafkaTap;
  readonly ctx: WorkloadContext;
  readonly rate: number;
  readonly durationMs: number;
}

/**
 * Runs primary-key SELECTs through dbbridge at a fixed rate and splits each round trip at the
 * producers' message timestamps: client until its request is stamped, request stamped to reply
 * stamped (of which the adapter's own `execution_time_ms`), and reply stamped to the answer in hand.
 */
export async function measureBreakdown(options: BreakdownOptions): Promise<Breakdown> {
  const { client, tap, ctx } = options;
  const calls = new Map<string, Call>();
  const epoch = performance.timeOrigin;
  await openLoop({
    rate: options.rate,
    durationMs: options.durationMs,
    drainTimeoutMs: ctx.timeoutMs + 1000,
    maxOutstanding: options.rate * 5,
    call: async () => {
      const id = randomUUID();
      const call: Call = { start: epoch + performance.now() };
      calls.set(id, call);
      const result = await client.request(
        {
          operation_type: 'SELECT',
          sql: PK_SELECT,
          params: [ctx.ids[Math.floor(Math.random() * ctx.ids.length)]],
        },
        { correlationId: id, timeoutMs: ctx.timeoutMs },
      );
      call.end = epoch + performance.now();
      call.executionMs = result.executionTimeMs;
    },
  });
  // Let the tap catch up with the last replies.
  for (let i = 0; i < 60; i++) {
    if ([...calls.keys()].every((id) => tap.replyTs.has(id))) break;
    await sleep(50);
  }
  const clientOut: number[] = [];
  const adapterSide: number[] = [];
  const execution: number[] = [];
  const adapterOther: number[] = [];
  const replyLeg: number[] = [];
  const replyToTap: number[] = [];
  const tapToAnswer: number[] = [];
  const total: number[] = [];
  for (const [id, call] of calls) {
    const req = tap.requestTs.get(id);
    const rep = tap.replyTs.get(id);
    if (req === undefined || rep === undefined || call.end === undefined || call.executionMs === undefined)
      continue;
    clientOut.push(req - call.start);
    adapterSide.push(rep - req);
    execution.push(call.executionMs);
    adapterOther.push(rep - req - call.executionMs);
    replyLeg.push(call.end - rep);
    const seen = tap.replySeen.get(id);
    if (seen !== undefined) {
      replyToTap.push(seen - rep);
      tapToAnswer.push(call.end - seen);
    }
    total.push(call.end - call.start);
  }
  return {
    name: 'pk_select',
    target_rps: options.rate,
    samples: total.length,
    segments: {
      total: segment(total),
      'client → request stamped': segment(clientOut),
      'request stamped → reply stamped': segment(adapterSide),
      'of which adapter execute': segment(execution),
      'of which Kafka + adapter rest': segment(adapterOther),
      'reply stamped → answer in hand': segment(replyLeg),
      'of which stamped → seen by a tap consumer': segment(replyToTap),
      'of which tap → answer in hand': segment(tapToAnswer),
    },
    notes: [
      '"stamped" is the Kafka CreateTime that kafkajs sets when it builds a produce request (whole ms), so each segment is ±1 ms per sample; means over many samples are still meaningful.',
      '"client → request stamped": envelope, JSON and the client publisher\'s batching (one produce request in flight at a time).',
      "\"request stamped → reply stamped\": the request's produce round trip on the broker, the adapter's fetch, parse and validation, execution, the reply envelope and its wait in the adapter's publisher.",
      '"adapter execute": the adapter\'s own `execution_time_ms` (operation, SQL validation, pool, statement, result).',
      '"reply stamped → answer in hand": the reply\'s produce (acks=all) on the broker, the client\'s fetch, parse, zod and row decoding. ' +
        'A tap consumer in the bench process (its own group, same fetch settings) splits it: when the broker had delivered the reply to a reader, and what the client took after that.',
    ],
  };
}

export interface KafkaHopOptions {
  readonly bootstrapServers: string;
  readonly security?: KafkaSecurity | undefined;
  /** A scratch topic of this run (created and deleted here). */
  readonly topic: string;
  readonly rate: number;
  readonly durationMs: number;
}

/**
 * The floor of one Kafka hop with kafkajs on this machine, no dbbridge code involved: an idempotent
 * producer (acks=all, one request in flight, as the transport's) sends on a one-partition topic that a
 * consumer (maxWaitTimeInMs 100, minBytes 1, as the reply reader's) reads, both in this process.
 */
export async function measureKafkaHop(options: KafkaHopOptions): Promise<Breakdown> {
  const kafka = new Kafka({
    clientId: 'dbbridge-bench-hop',
    brokers: options.bootstrapServers.split(','),
    logLevel: logLevel.NOTHING,
    ...kafkajsSecurity(options.security),
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: options.topic, numPartitions: 1 }] });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  const groupId = `${options.topic}-reader`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, minBytes: 1 });
  const waiting = new Map<string, (at: number) => void>();
  const acked: number[] = [];
  const consumed: number[] = [];
  const total: number[] = [];
  try {
    await producer.connect();
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.connect();
    await consumer.subscribe({ topics: [options.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const at = performance.now();
        for (const m of batch.messages) {
          const id = m.key?.toString('utf8');
          if (id !== undefined) waiting.get(id)?.(at);
        }
      },
    });
    await joined;
    const hop = async (record: boolean) => {
      const id = randomUUID();
      const start = performance.now();
      const got = new Promise<number>((resolve) => waiting.set(id, resolve));
      await producer.send({ topic: options.topic, acks: -1, messages: [{ key: id, value: 'x' }] });
      const ack = performance.now();
      const at = await got;
      waiting.delete(id);
      if (record) {
        acked.push(ack - start);
        consumed.push(at - start);
        total.push(at - start);
      }
    };
    // Warm-up, then the measured run.
    await openLoop({
      rate: 100,
      durationMs: 1000,
      call: () => hop(false),
      drainTimeoutMs: 5000,
      maxOutstanding: 1000,
    });
    await openLoop({
      rate: options.rate,
      durationMs: options.durationMs,
      call: () => hop(true),
      drainTimeoutMs: 5000,
      maxOutstanding: options.rate * 5,
    });
  } finally {
    await consumer.disconnect().catch(() => {});
    await producer.disconnect().catch(() => {});
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.deleteTopics({ topics: [options.topic] }).catch(() => {});
    await admin.disconnect().catch(() => {});
  }
  return {
    name: 'kafka_hop (kafkajs only)',
    target_rps: options.rate,
    samples: total.length,
    segments: {
      total: segment(total),
      'send → produce acked (acks=all)': segment(acked),
      'send → consumed': segment(consumed),
    },
    notes: [
      '`kafka_hop` is one produce + fetch through the same broker with kafkajs alone, timed in one process (µs clock): a dbbridge round trip takes two such hops plus the adapter.',
    ],
  };
}
