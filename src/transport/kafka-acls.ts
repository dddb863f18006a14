import kafkajs, { type AclEntry, type Admin } from 'kafkajs';
import { serviceTopicNames, topicNames } from '../events/topics.js';

/**
 * Kafka ACLs of a secured cluster (issue 9 §1-2), created through a super user's kafkajs admin: the
 * secured local stack, the tests and `dbbridge topics create --service S --acls` use the same
 * grants as the `kafka-acls.sh` lines of `docs/per-service-topics.md`.
 */

// kafkajs (CommonJS) exports these enums on its default export only.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;

function entry(
  principal: string,
  resourceType: AclEntry['resourceType'],
  resourceName: string,
  resourcePatternType: AclEntry['resourcePatternType'],
  operation: AclEntry['operation'],
): AclEntry {
  return {
    resourceType,
    resourceName,
    resourcePatternType,
    principal: `User:${principal}`,
    host: '*',
    operation,
    permissionType: AclPermissionTypes.ALLOW,
  };
}

/** Who may do what on one topic environment's shared topics (issue 9 §1; per-service topics are §2). */
export interface BridgeAcls {
  /** Principals (user names) of adapters: READ requests, WRITE replies, READ their group. */
  readonly adapters: readonly string[];
  /** Consumer group of the adapters. */
  readonly adapterGroup: string;
  /** Principals of services: WRITE requests, READ replies, READ groups prefixed `dbbridge-reply-` (kafkajs reply readers). */
  readonly services: readonly string[];
  /** Principals that may read replies (and describe the request topic) but not send requests (e.g. monitoring). Default none. */
  readonly readers?: readonly string[];
}

/**
 * Creates the ACLs of `acls` for the topics of `topicEnv` through `admin` (a super user's
 * connection). The same grants as `kafka-acls.sh` lines in the README. Idempotent.
 */
export async function createBridgeAcls(admin: Admin, topicEnv: string, acls: BridgeAcls): Promise<void> {
  const topics = topicNames(topicEnv);
  const { TOPIC, GROUP } = AclResourceTypes;
  const { LITERAL, PREFIXED } = ResourcePatternTypes;
  const { READ, WRITE, DELETE, DESCRIBE } = AclOperationTypes;
  const acl = [
    ...acls.adapters.flatMap((p) => [
      entry(p, TOPIC, topics.requested, LITERAL, READ),
      entry(p, TOPIC, topics.completed, LITERAL, WRITE),
      entry(p, TOPIC, topics.failed, LITERAL, WRITE),
      entry(p, TOPIC, topics.deadLettered, LITERAL, WRITE),
      entry(p, GROUP, acls.adapterGroup, LITERAL, READ),
    ]),
    ...acls.services.map((p) => entry(p, TOPIC, topics.requested, LITERAL, WRITE)),
    // Clients check that the request topic exists when they start (metadata).
    ...(acls.readers ?? []).map((p) => entry(p, TOPIC, topics.requested, LITERAL, DESCRIBE)),
    ...[...acls.services, ...(acls.readers ?? [])].flatMap((p) => [
      entry(p, TOPIC, topics.completed, LITERAL, READ),
      entry(p, TOPIC, topics.failed, LITERAL, READ),
      entry(p, GROUP, 'dbbridge-reply-', PREFIXED, READ),
      entry(p, GROUP, 'dbbridge-reply-', PREFIXED, DELETE),
    ]),
  ];
  await admin.createAcls({ acl });
}

/**
 * ACLs of per-service topics (issue 9 §2, `docs/per-service-topics.md`): each service may WRITE only
 * its own request topic and READ only its own reply topics (and its reply readers' groups, prefix
 * `dbbridge-reply-<service>.`: a '.' never occurs in a service name); the adapters may READ every request topic of the environment in their
 * group and WRITE every reply topic (prefixed ACLs on `{env}.omninode-bridge.database.`).
 */
export async function createServiceAcls(
  admin: Admin,
  topicEnv: string,
  acls: {
    readonly adapters: readonly string[];
    readonly adapterGroup: string;
    readonly services: readonly string[];
  },
): Promise<void> {
  const { TOPIC, GROUP } = AclResourceTypes;
  const { LITERAL, PREFIXED } = ResourcePatternTypes;
  const { READ, WRITE, DELETE } = AclOperationTypes;
  const prefix = `${topicEnv}.omninode-bridge.database.`;
  const acl = [
    ...acls.adapters.flatMap((p) => [
      entry(p, TOPIC, prefix, PREFIXED, READ),
      entry(p, TOPIC, prefix, PREFIXED, WRITE),
      entry(p, GROUP, acls.adapterGroup, LITERAL, READ),
    ]),
    ...acls.services.flatMap((p) => {
      const topics = serviceTopicNames(topicEnv, p);
      return [
        entry(p, TOPIC, topics.requested, LITERAL, WRITE),
        entry(p, TOPIC, topics.completed, LITERAL, READ),
        entry(p, TOPIC, topics.failed, LITERAL, READ),
        entry(p, GROUP, `dbbridge-reply-${p}.`, PREFIXED, READ),
        entry(p, GROUP, `dbbridge-reply-${p}.`, PREFIXED, DELETE),
      ];
    }),
  ];
  await admin.createAcls({ acl });
}
