import { Admin } from '@platformatic/kafka';
import type { Logger } from '../logger.js';
import { platformaticSecurity } from './client-security.js';
import type { KafkaSecurity } from './security.js';

/**
 * The kafkajs transport's stand-in for static group membership, which kafkajs 2.2 does not have
 * (its JoinGroup never sends a `group.instance.id`): an adapter restarted after a crash joins as a
 * new member, and the group would wait for the dead member's session to expire (10 s) before it
 * assigns partitions again, holding every other member's partitions too while it rebalances.
 *
 * The group consumer's client id carries the adapter's instance id, which only one live process
 * holds (`claimInstanceId`). Before it joins, the restarted adapter looks for members of its group
 * with that client id (its dead predecessor) and removes them (LeaveGroup by member id, as a member
 * leaving on its own would), so the group rebalances at once. kafkajs's admin cannot remove members,
 * so this one call goes through `@platformatic/kafka`'s admin client, the other Kafka library
 * dbbridge ships with. Failures are logged and ignored: the session timeout still bounds the wait.
 */
export async function removePredecessors(options: {
  readonly brokers: readonly string[];
  readonly security: KafkaSecurity | undefined;
  readonly groupId: string;
  /** The group consumer's client id (with the instance id in it). */
  readonly memberClientId: string;
  readonly logger: Logger;
  readonly timeoutMs?: number;
}): Promise<number> {
  const admin = new Admin({
    clientId: `${options.memberClientId}-rejoin`,
    bootstrapBrokers: [...options.brokers],
    connectTimeout: 3000,
    requestTimeout: options.timeoutMs ?? 5000,
    timeout: options.timeoutMs ?? 5000,
    retries: 2,
    autocreateTopics: false,
    ...platformaticSecurity(options.security, options.brokers),
  });
  try {
    const groups = await admin.describeGroups({ groups: [options.groupId] });
    const members = [...(groups.get(options.groupId)?.members.values() ?? [])].filter(
      (m) => m.clientId === options.memberClientId,
    );
    if (members.length === 0) return 0;
    await admin.removeMembersFromConsumerGroup({
      groupId: options.groupId,
      members: members.map((m) => ({
        memberId: m.id,
        reason: 'restarted adapter with the same instance id',
      })),
    });
    options.logger.info('removed the group member of this adapter instance that is gone', {
      groupId: options.groupId,
      members: members.length,
    });
    return members.length;
  } catch (error) {
    options.logger.warn('could not remove the member of this adapter instance that is gone', {
      groupId: options.groupId,
      error,
    });
    return 0;
  } finally {
    await admin.close().catch(() => {});
  }
}
