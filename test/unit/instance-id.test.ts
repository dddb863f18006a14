/**
 * The adapter's default `group.instance.id`: `<hostname>-<slot>`, a slot held by a local socket for
 * the life of the process, so two adapters of one group never share an id and a restarted one gets
 * the id of the one that is gone. (Local sockets only; no broker.)
 */
import { describe, expect, it } from 'vitest';
import { claimInstanceId, sanitizeInstanceId } from '../../src/adapter/instance-id.js';

const group = `instance-id-test-${process.pid}-${Date.now()}`;

describe('claimInstanceId', () => {
  it('gives live adapters of one group distinct slots, and a freed slot to the next one', async () => {
    const base = { groupId: group, brokers: ['127.0.0.1:1'], hostname: 'host.example/1' };
    const a = await claimInstanceId(base);
    const b = await claimInstanceId(base);
    const other = await claimInstanceId({ ...base, groupId: `${group}-other` });
    expect(a.id).toBe('host.example-1-0');
    expect(b.id).toBe('host.example-1-1');
    expect(other.id).toBe('host.example-1-0'); // another group: its own slots
    await a.release();
    const c = await claimInstanceId(base);
    expect(c.id).toBe('host.example-1-0');
    for (const claim of [b, c, other]) await claim.release();
  });

  it('an explicit id is used as given (made legal for Kafka); `off` means dynamic membership', async () => {
    const base = { groupId: group, brokers: ['b'] };
    expect((await claimInstanceId({ ...base, explicit: 'adapter-7' })).id).toBe('adapter-7');
    expect((await claimInstanceId({ ...base, explicit: 'pod a/7' })).id).toBe('pod-a-7');
    expect((await claimInstanceId({ ...base, explicit: 'off' })).id).toBeUndefined();
    expect(sanitizeInstanceId('x'.repeat(300))).toHaveLength(200);
  });
});
