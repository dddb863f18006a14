/**
 * The adapter group assigns stickily on both transports: when a third adapter joins two, only the
 * partitions it takes change owner; the first two keep the rest of theirs (round-robin would
 * reshuffle them). Read from the broker's own description of the group, on the real broker.
 */
import { AssignerProtocol } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTopics,
  kafkaAdmin,
  type RunningAdapter,
  startAdapter,
  transportKind,
  uniqueEnv,
} from '../helpers/bridge.js';

const env = uniqueEnv('sticky');
const group = `adapter-${env}`;
const PARTITIONS = 12;
const adapters: RunningAdapter[] = [];
const admin = kafkaAdmin();

/** Member id -> request partitions, once the group is stable with `members` members that each hold their share. */
async function settled(members: number): Promise<{ protocol: string; owned: Map<string, number[]> }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const [description] = (await admin.describeGroups([group])).groups;
    if (description?.state === 'Stable' && description.members.length === members) {
      const owned = new Map<string, number[]>();
      for (const m of description.members) {
        const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment ?? {};
        owned.set(
          m.memberId,
          Object.values(assignment)
            .flat()
            .sort((a, b) => a - b),
        );
      }
      const counts = [...owned.values()].map((ps) => ps.length);
      const share = PARTITIONS / members;
      if (counts.every((c) => c === share)) return { protocol: description.protocol, owned };
    }
    if (Date.now() > deadline) throw new Error(`group ${group} did not settle with ${members} members`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  await createTopics(env, 24, PARTITIONS);
  await admin.connect();
}, 60_000);

afterAll(async () => {
  for (const running of adapters) await running.close();
  await admin.disconnect();
});

describe(`sticky assignment (${transportKind()})`, () => {
  it('a third adapter takes only its share; the others keep the rest of theirs', async () => {
    for (const name of ['a', 'b'])
      adapters.push(await startAdapter(env, { name: `sticky-${name}`, adapter: { poolMax: 2 } }));
    const two = await settled(2);
    expect(two.protocol).toBe(transportKind() === 'kafkajs' ? 'DbbridgeSticky' : 'cooperative-sticky');
    adapters.push(await startAdapter(env, { name: 'sticky-c', adapter: { poolMax: 2 } }));
    const three = await settled(3);
    expect(three.protocol).toBe(two.protocol);
    let kept = 0;
    for (const [member, before] of two.owned) {
      const after = three.owned.get(member);
      expect(after, `member ${member} is still in the group`).toBeDefined();
      for (const p of after ?? []) expect(before).toContain(p);
      kept += after?.length ?? 0;
    }
    // 8 of the 12 stay where they were; only C's 4 moved.
    expect(kept).toBe(8);
  }, 180_000);
});
