/**
 * The loss window of a partition the group never committed: before its first request is served,
 * the adapter commits the position its consumer starts from (the log end), so a later owner does not
 * start past requests sent meanwhile. Fake group consumer, no I/O.
 */
import { describe, expect, it } from 'vitest';
import { OffsetSeeder } from '../../src/adapter/offset-seeding.js';
import { silentLogger } from '../../src/logger.js';
import type { GroupConsumer } from '../../src/transport/types.js';

function fakeConsumer(committed: Record<number, bigint>) {
  const commits: { partition: number; offset: string }[][] = [];
  const consumer: GroupConsumer = {
    assignedPartitions: 0,
    committed: async (partitions) => partitions.map((p) => ({ ...p, offset: committed[p.partition] ?? -1n })),
    commit: async (offsets) => {
      commits.push(offsets.map((o) => ({ partition: o.partition, offset: o.offset })));
    },
    pause: () => {},
    close: async () => {},
  };
  return { consumer, commits };
}

const T = 'requests';
const ends = async () => [0, 1, 2].map((partition) => ({ partition, offset: BigInt(100 + partition) }));

describe('OffsetSeeder', () => {
  it('commits the log end of partitions without a committed offset before they are served, and only those', async () => {
    const { consumer, commits } = fakeConsumer({ 0: 42n });
    const seeder = new OffsetSeeder({ endOffsets: ends, logger: silentLogger });
    // The first assignment may come before the consumer is known: seeding waits for it.
    seeder.assigned([0, 1, 2].map((partition) => ({ topic: T, partition })));
    seeder.attach(consumer);
    await seeder.ready(T, 1, '101');
    expect(commits).toEqual([
      [
        { partition: 1, offset: '101' },
        { partition: 2, offset: '102' },
      ],
    ]);
    await seeder.ready(T, 0, '42');
    await seeder.ready(T, 2, '102');
    expect(commits).toHaveLength(1);
  });

  it("commits the first batch's offset instead when the consumer started below the seeded one", async () => {
    const { consumer, commits } = fakeConsumer({});
    const seeder = new OffsetSeeder({ endOffsets: ends, logger: silentLogger });
    seeder.attach(consumer);
    seeder.assigned([{ topic: T, partition: 2 }]);
    await seeder.ready(T, 2, '97');
    expect(commits).toEqual([[{ partition: 2, offset: '102' }], [{ partition: 2, offset: '97' }]]);
    // Later batches of the partition are not held up again.
    await seeder.ready(T, 2, '98');
    expect(commits).toHaveLength(2);
  });

  it('a partition revoked while it was seeded is not served from that seed', async () => {
    const { consumer, commits } = fakeConsumer({});
    const seeder = new OffsetSeeder({ endOffsets: ends, logger: silentLogger });
    seeder.attach(consumer);
    seeder.assigned([{ topic: T, partition: 0 }]);
    seeder.forget([{ topic: T, partition: 0 }]);
    await seeder.ready(T, 0, '50');
    expect(commits.flat().filter((c) => c.offset === '50')).toEqual([]);
  });
});
