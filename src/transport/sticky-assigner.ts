import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

/** Partitions per topic. */
export type TopicPartitions = Readonly<Record<string, readonly number[]>>;

export interface StickyMember {
  readonly memberId: string;
  /** Topics it subscribes to. */
  readonly topics: readonly string[];
  /** What it held before this rebalance (from its subscription's user data; empty when new). */
  readonly owned: TopicPartitions;
}

/**
 * A sticky assignment, computed without I/O: every member keeps the partitions it held (those that
 * still exist and that it still subscribes to, each partition to one member only) up to its fair
 * share, and the rest go, one at a time, to the member with the fewest partitions that subscribes to
 * their topic. Shares: with N partitions and M members, N mod M members hold one more than the others
 * (those that held the most before), so counts differ by at most one when all subscribe alike.
 * Deterministic: the same input gives the same output on whichever member leads the group.
 */
export function stickyAssignment(
  members: readonly StickyMember[],
  partitionsByTopic: Readonly<Record<string, number>>,
): Map<string, Record<string, number[]>> {
  const sorted = [...members].sort((a, b) =>
    a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0,
  );
  const result = new Map<string, Record<string, number[]>>(sorted.map((m) => [m.memberId, {}]));
  const counts = new Map<string, number>(sorted.map((m) => [m.memberId, 0]));
  const all: { topic: string; partition: number }[] = [];
  const topics = [...new Set(sorted.flatMap((m) => m.topics))].sort();
  for (const topic of topics) {
    const count = partitionsByTopic[topic] ?? 0;
    for (let partition = 0; partition < count; partition++) all.push({ topic, partition });
  }
  if (sorted.length === 0) return result;
  const base = Math.floor(all.length / sorted.length);
  let extra = all.length % sorted.length;
  const ownedCount = (m: StickyMember) => Object.values(m.owned).reduce((n, ps) => n + ps.length, 0);
  const quota = new Map<string, number>();
  for (const m of [...sorted].sort((a, b) => ownedCount(b) - ownedCount(a))) {
    quota.set(m.memberId, base + (extra > 0 ? 1 : 0));
    if (extra > 0) extra--;
  }
  const taken = new Set<string>();
  const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;
  const give = (memberId: string, topic: string, partition: number) => {
    const mine = result.get(memberId) as Record<string, number[]>;
    const list = mine[topic] ?? [];
    list.push(partition);
    mine[topic] = list;
    counts.set(memberId, (counts.get(memberId) ?? 0) + 1);
    taken.add(key(topic, partition));
  };
  // 1. Keep what each member held, up to its share.
  for (const m of sorted) {
    const subscribed = new Set(m.topics);
    for (const topic of Object.keys(m.owned).sort()) {
      if (!subscribed.has(topic)) continue;
      const count = partitionsByTopic[topic] ?? 0;
      for (const partition of [...new Set(m.owned[topic])].sort((a, b) => a - b)) {
        if (!Number.isInteger(partition) || partition < 0 || partition >= count) continue;
        if (taken.has(key(topic, partition))) continue;
        if ((counts.get(m.memberId) ?? 0) >= (quota.get(m.memberId) ?? 0)) break;
        give(m.memberId, topic, partition);
      }
    }
  }
  // 2. The rest to the least loaded member that subscribes to the topic.
  for (const { topic, partition } of all) {
    if (taken.has(key(topic, partition))) continue;
    let best: StickyMember | undefined;
    for (const m of sorted) {
      if (!m.topics.includes(topic)) continue;
      if (best === undefined || (counts.get(m.memberId) ?? 0) < (counts.get(best.memberId) ?? 0)) best = m;
    }
    if (best !== undefined) give(best.memberId, topic, partition);
  }
  for (const assignment of result.values())
    for (const partitions of Object.values(assignment)) partitions.sort((a, b) => a - b);
  return result;
}

/** The user data a member sends with its subscription: what it holds now. */
export function encodeOwned(owned: TopicPartitions): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, owned }), 'utf8');
}

/** What a member says it holds; anything unreadable counts as nothing (a new or foreign member). */
export function decodeOwned(userData: Buffer | null | undefined): TopicPartitions {
  if (userData === null || userData === undefined || userData.length === 0) return {};
  try {
    const parsed = JSON.parse(userData.toString('utf8')) as { owned?: unknown };
    const owned = parsed.owned;
    if (typeof owned !== 'object' || owned === null || Array.isArray(owned)) return {};
    const result: Record<string, number[]> = {};
    for (const [topic, partitions] of Object.entries(owned)) {
      if (Array.isArray(partitions))
        result[topic] = partitions.filter((p): p is number => Number.isInteger(p));
    }
    return result;
  } catch {
    return {};
  }
}

/** The protocol name kafkajs members of the adapter group announce. */
export const STICKY_ASSIGNER_NAME = 'DbbridgeSticky';

/**
 * A kafkajs assigner that moves no partition it need not move (kafkajs 2.2 ships only round-robin,
 * which reshuffles everything on every rebalance). `owned` reads what this member holds now; it is
 * sent with each JoinGroup, and the leader keeps each member's partitions (`stickyAssignment`).
 * kafkajs's protocol stays eager: every member pauses for the rebalance, but a partition changes
 * owner only when the balance needs it.
 */
export function stickyAssigner(owned: () => TopicPartitions): PartitionAssigner {
  return ({ cluster }) => ({
    name: STICKY_ASSIGNER_NAME,
    version: 1,
    async assign({ members, topics }) {
      const partitionsByTopic: Record<string, number> = {};
      for (const topic of topics) partitionsByTopic[topic] = cluster.findTopicPartitionMetadata(topic).length;
      const decoded = members.map(({ memberId, memberMetadata }) => {
        const metadata = AssignerProtocol.MemberMetadata.decode(memberMetadata);
        return {
          memberId,
          topics: (metadata?.topics ?? topics).filter((t) => topics.includes(t)),
          owned: decodeOwned(metadata?.userData),
        };
      });
      const assignment = stickyAssignment(decoded, partitionsByTopic);
      return members.map(({ memberId }) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: assignment.get(memberId) ?? {},
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name: STICKY_ASSIGNER_NAME,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          userData: encodeOwned(owned()),
        }),
      };
    },
  });
}
