/**
 * The kafkajs transport's sticky assignment (no broker): members keep what they held, the group
 * stays balanced, every partition has exactly one owner, and the member metadata round-trips.
 */
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  decodeOwned,
  encodeOwned,
  STICKY_ASSIGNER_NAME,
  type StickyMember,
  stickyAssigner,
  stickyAssignment,
  type TopicPartitions,
} from '../../src/transport/sticky-assigner.js';

const T = 'dev.requests';
const U = 'svc.requests';

function member(memberId: string, owned: TopicPartitions = {}, topics = [T]): StickyMember {
  return { memberId, topics, owned };
}

/** Every partition of every topic exactly once, and nothing else. */
function expectComplete(result: Map<string, Record<string, number[]>>, counts: Record<string, number>) {
  for (const [topic, count] of Object.entries(counts)) {
    const all = [...result.values()].flatMap((a) => a[topic] ?? []).sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: count }, (_, i) => i));
  }
}

function sizes(result: Map<string, Record<string, number[]>>): number[] {
  return [...result.values()].map((a) => Object.values(a).reduce((n, ps) => n + ps.length, 0));
}

function moved(
  before: Map<string, Record<string, number[]>>,
  after: Map<string, Record<string, number[]>>,
): number {
  let n = 0;
  for (const [id, assignment] of before)
    for (const [topic, ps] of Object.entries(assignment))
      for (const p of ps) if (!(after.get(id)?.[topic] ?? []).includes(p)) n++;
  return n;
}

describe('stickyAssignment', () => {
  it('spreads a new group evenly', () => {
    const result = stickyAssignment([member('b'), member('a'), member('c')], { [T]: 12 });
    expectComplete(result, { [T]: 12 });
    expect(sizes(result)).toEqual([4, 4, 4]);
  });

  it('a joining member takes only its share; nobody else loses more than it must', () => {
    const one = stickyAssignment([member('a')], { [T]: 12 });
    expect(one.get('a')?.[T]).toHaveLength(12);
    const two = stickyAssignment([member('a', one.get('a')), member('b')], { [T]: 12 });
    expectComplete(two, { [T]: 12 });
    expect(sizes(two)).toEqual([6, 6]);
    expect(moved(one, two)).toBe(6); // round-robin would move 6 too, but which ones is arbitrary
    const three = stickyAssignment([member('a', two.get('a')), member('b', two.get('b')), member('c')], {
      [T]: 12,
    });
    expectComplete(three, { [T]: 12 });
    expect(sizes(three).sort()).toEqual([4, 4, 4]);
    // Only the 4 partitions C takes change owner; A and B keep the rest of theirs.
    expect(moved(two, three)).toBe(4);
    for (const id of ['a', 'b'])
      for (const p of three.get(id)?.[T] ?? []) expect(two.get(id)?.[T]).toContain(p);
  });

  it('a leaving member gives only its own partitions away', () => {
    const three = stickyAssignment([member('a'), member('b'), member('c')], { [T]: 12 });
    const two = stickyAssignment([member('a', three.get('a')), member('c', three.get('c'))], { [T]: 12 });
    expectComplete(two, { [T]: 12 });
    expect(sizes(two)).toEqual([6, 6]);
    for (const id of ['a', 'c'])
      for (const p of three.get(id)?.[T] ?? []) expect(two.get(id)?.[T]).toContain(p);
  });

  it('with an odd count, those that held the most keep one more', () => {
    const result = stickyAssignment([member('a', { [T]: [0, 1, 2, 3, 4, 5, 6] }), member('b', { [T]: [] })], {
      [T]: 7,
    });
    expect(result.get('a')?.[T]).toEqual([0, 1, 2, 3]);
    expect(result.get('b')?.[T]).toEqual([4, 5, 6]);
  });

  it('ignores claims it cannot honour: a partition claimed twice, gone, or of an unsubscribed topic', () => {
    const result = stickyAssignment(
      [member('a', { [T]: [0, 1, 9], [U]: [0] }), member('b', { [T]: [1, 2, -1, 1.5] })],
      { [T]: 4, [U]: 2 },
    );
    expectComplete(result, { [T]: 4 });
    expect(result.get('a')?.[T]).toEqual([0, 1]);
    expect(result.get('b')?.[T]).toEqual([2, 3]);
    expect(result.get('a')?.[U]).toBeUndefined();
  });

  it('gives a topic only to members that subscribe to it', () => {
    const result = stickyAssignment([member('a', {}, [T, U]), member('b', {}, [T])], { [T]: 4, [U]: 2 });
    expectComplete(result, { [T]: 4, [U]: 2 });
    expect(result.get('b')?.[U]).toBeUndefined();
    expect(result.get('a')?.[U]).toEqual([0, 1]);
  });

  it('is the same whichever member leads (input order does not matter)', () => {
    const members = [member('a', { [T]: [0, 5] }), member('b', { [T]: [1] }), member('c')];
    const one = stickyAssignment(members, { [T]: 9 });
    const other = stickyAssignment([...members].reverse(), { [T]: 9 });
    expect([...other.entries()].sort()).toEqual([...one.entries()].sort());
  });
});

describe('member user data', () => {
  it('round-trips what a member holds; garbage is nothing', () => {
    expect(decodeOwned(encodeOwned({ [T]: [3, 1] }))).toEqual({ [T]: [3, 1] });
    expect(decodeOwned(Buffer.from('not json'))).toEqual({});
    expect(decodeOwned(Buffer.from('{"owned":[1,2]}'))).toEqual({});
    expect(decodeOwned(Buffer.alloc(0))).toEqual({});
    expect(decodeOwned(null)).toEqual({});
  });

  it('the kafkajs assigner sends what the member holds and keeps it on assign', async () => {
    let held: TopicPartitions = { [T]: [2, 3] };
    const cluster = {
      findTopicPartitionMetadata: () => Array.from({ length: 4 }, (_, partitionId) => ({ partitionId })),
    };
    const assigner = stickyAssigner(() => held)({
      cluster: cluster as unknown as Parameters<PartitionAssigner>[0]['cluster'],
      groupId: 'g',
      logger: undefined as unknown as Parameters<PartitionAssigner>[0]['logger'],
    });
    expect(assigner.name).toBe(STICKY_ASSIGNER_NAME);
    const mine = assigner.protocol({ topics: [T] });
    held = {};
    const theirs = assigner.protocol({ topics: [T] });
    const result = await assigner.assign({
      members: [
        { memberId: 'z', memberMetadata: mine.metadata },
        { memberId: 'a', memberMetadata: theirs.metadata },
      ],
      topics: [T],
    });
    const decoded = Object.fromEntries(
      result.map((r) => [
        r.memberId,
        AssignerProtocol.MemberAssignment.decode(r.memberAssignment)?.assignment,
      ]),
    );
    expect(decoded).toEqual({ z: { [T]: [2, 3] }, a: { [T]: [0, 1] } });
  });
});
