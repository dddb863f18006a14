/**
 * The platformatic group reader's batches against a scripted consumer: which partitions a batch
 * handler may still serve while the group rebalances. No I/O; the real consumer in a real group is
 * exercised by `test/integration/scale-out.test.ts`.
 */
import { EventEmitter } from 'node:events';
import type { Consumer } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { GroupReader } from '../../src/transport/platformatic-group-reader.js';
import type { PlatformaticSettings } from '../../src/transport/platformatic-transport.js';
import type { GroupBatch } from '../../src/transport/types.js';

const TOPIC = 'requests';

/** Just what the reader uses of a platformatic consumer: group events, a message stream, `isActive`. */
class ScriptedConsumer extends EventEmitter {
  readonly stream = Object.assign(new EventEmitter(), {
    pause() {},
    resume() {},
    close: async () => {},
  });
  active = true;
  assignments: { topic: string; partitions: number[] }[] | null = null;

  isActive(): boolean {
    return this.active;
  }

  async consume() {
    setImmediate(() => this.stream.emit('offsets'));
    return this.stream;
  }

  async close() {}

  assign(partitions: number[]): void {
    this.assignments = [{ topic: TOPIC, partitions }];
    this.emit('consumer:group:join', { assignments: this.assignments });
  }

  deliver(partition: number, offset: number): void {
    this.stream.emit('data', {
      topic: TOPIC,
      partition,
      offset: BigInt(offset),
      key: null,
      value: Buffer.from('{}'),
      timestamp: 0n,
    });
  }
}

const settings = {
  groupMaxWaitMs: 100,
  sessionTimeoutMs: 1000,
  heartbeatIntervalMs: 100,
} as PlatformaticSettings;

async function reader(onBatch: (batch: GroupBatch) => Promise<void>) {
  const consumer = new ScriptedConsumer();
  const group = new GroupReader(
    () => consumer as unknown as Consumer,
    { groupId: 'g', topic: TOPIC, onBatch },
    100,
    silentLogger,
  );
  await group.start(settings);
  return { consumer, group };
}

describe('group reader batches', () => {
  it('stay active while the consumer rejoins a rebalance that leaves their partition where it is', async () => {
    const seen: { partition: number; active: boolean }[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const { consumer, group } = await reader(async (batch) => {
      await held;
      seen.push({ partition: batch.partition, active: batch.isActive() });
    });
    consumer.assign([0, 1]);
    consumer.deliver(0, 0);
    consumer.deliver(1, 0);
    await new Promise((r) => setImmediate(r));
    // A member joins: the consumer rejoins (not "active" meanwhile) and gives up partition 1 only.
    consumer.active = false;
    consumer.assignments = [{ topic: TOPIC, partitions: [0] }];
    consumer.emit('consumer:group:rebalance');
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(seen.sort((a, b) => a.partition - b.partition)).toEqual([
      { partition: 0, active: true }, // kept: its handler must go on, nobody else reads these
      { partition: 1, active: false }, // given up: its next owner reads it from the committed offset
    ]);
    await group.close();
  });

  it('of a partition revoked and assigned back are inactive: the new epoch reads them again', async () => {
    const batches: GroupBatch[] = [];
    const { consumer, group } = await reader(async (batch) => {
      batches.push(batch);
    });
    consumer.assign([0]);
    consumer.deliver(0, 0);
    await new Promise((r) => setTimeout(r, 5));
    consumer.assign([]);
    consumer.assign([0]);
    consumer.deliver(0, 0); // the stream rewinds to the committed offset
    await new Promise((r) => setTimeout(r, 5));
    expect(batches.map((b) => [b.messages[0]?.offset, b.isActive()])).toEqual([
      ['0', false],
      ['0', true],
    ]);
    await group.close();
  });
});
