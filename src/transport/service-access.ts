import kafkajs, { type AclEntry, type Admin } from 'kafkajs';
import { serviceTopicNames, type TopicNames } from '../events/topics.js';
import { ensureTopics, type TopicLayout } from './kafka-admin.js';

/**
 * One service on a secured cluster (issue 9 §2, docs/per-service-topics.md): its own request, reply
 * and dead-letter topics, and the ACLs that make the topic a request arrives on name its sender.
 * `dbbridge service add` and the secured local stack (`scripts/stack/secure.ts`) both go through
 * `addService`, with kafkajs's admin client: the CLI's and the stack's admin client already, and
 * `createAcls`/`describeAcls` answer the same whichever transport the services and adapters use
 * (ACLs live in the broker). `@platformatic/kafka` 2.x has `createAcls` too; one admin path is kept.
 */

/** Who takes part in one service's topics. */
export interface ServiceAccess {
  /** Topic environment (`DBBRIDGE_ENV`). */
  readonly topicEnv: string;
  /** The service: its name is its principal (`User:<service>`) and part of its topic names. */
  readonly service: string;
  /** Principals (user names) of the adapters. */
  readonly adapters: readonly string[];
  /** The adapters' consumer group (`DBBRIDGE_ADAPTER_GROUP`). */
  readonly adapterGroup: string;
}

export type GrantOperation = 'READ' | 'WRITE' | 'DELETE';

/** One ALLOW ACL, host `*`. */
export interface Grant {
  readonly principal: string;
  readonly resourceType: 'TOPIC' | 'GROUP';
  readonly resourceName: string;
  readonly patternType: 'LITERAL' | 'PREFIXED';
  readonly operation: GrantOperation;
}

/** As `serviceTopicNames` checks it. */
const SERVICE_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
const PRINCIPAL_PATTERN = /^[A-Za-z0-9._@=-]{1,255}$/;
const GROUP_PATTERN = /^[A-Za-z0-9._-]{1,255}$/;

/** The consumer-group prefix of a service's kafkajs reply readers (`dbbridge-reply-<service>.<8 hex>-<uuid>`). */
export function replyGroupPrefix(service: string): string {
  return `dbbridge-reply-${service}.`;
}

/**
 * The ACLs of one service, and nothing else: the service may WRITE its request topic and READ its
 * reply topics (and its reply readers' groups: READ, and DELETE when they leave); the adapters may
 * READ its request topic in their group and WRITE its reply and dead-letter topics. No grant names
 * another service's topics; DESCRIBE comes with READ and WRITE.
 */
export function serviceGrants(access: ServiceAccess): Grant[] {
  const topics = serviceTopicNames(access.topicEnv, access.service);
  if (access.adapters.length === 0) throw new TypeError('at least one adapter principal is needed');
  for (const p of access.adapters)
    if (!PRINCIPAL_PATTERN.test(p)) throw new TypeError(`invalid adapter principal ${JSON.stringify(p)}`);
  if (!GROUP_PATTERN.test(access.adapterGroup))
    throw new TypeError(`invalid adapter group ${JSON.stringify(access.adapterGroup)}`);
  const topic = (principal: string, resourceName: string, operation: GrantOperation): Grant => ({
    principal,
    resourceType: 'TOPIC',
    resourceName,
    patternType: 'LITERAL',
    operation,
  });
  const s = access.service;
  return [
    topic(s, topics.requested, 'WRITE'),
    topic(s, topics.completed, 'READ'),
    topic(s, topics.failed, 'READ'),
    ...(['READ', 'DELETE'] as const).map(
      (operation): Grant => ({
        principal: s,
        resourceType: 'GROUP',
        resourceName: replyGroupPrefix(s),
        patternType: 'PREFIXED',
        operation,
      }),
    ),
    ...access.adapters.flatMap((a): Grant[] => [
      topic(a, topics.requested, 'READ'),
      topic(a, topics.completed, 'WRITE'),
      topic(a, topics.failed, 'WRITE'),
      topic(a, topics.deadLettered, 'WRITE'),
      {
        principal: a,
        resourceType: 'GROUP',
        resourceName: access.adapterGroup,
        patternType: 'LITERAL',
        operation: 'READ',
      },
    ]),
  ];
}

const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;

function toEntry(grant: Grant): AclEntry {
  return {
    resourceType: AclResourceTypes[grant.resourceType],
    resourceName: grant.resourceName,
    resourcePatternType: ResourcePatternTypes[grant.patternType],
    principal: `User:${grant.principal}`,
    host: '*',
    operation: AclOperationTypes[grant.operation],
    permissionType: AclPermissionTypes.ALLOW,
  };
}

function keyOf(e: AclEntry): string {
  return [
    e.resourceType,
    e.resourceName,
    e.resourcePatternType,
    e.principal,
    e.host,
    e.operation,
    e.permissionType,
  ].join('\u0000');
}

/** Every ACL of the cluster, as entries (needs DESCRIBE on the cluster: a super user's connection). */
export async function listAcls(admin: Admin): Promise<AclEntry[]> {
  const response = await admin.describeAcls({
    resourceType: AclResourceTypes.ANY,
    resourcePatternType: ResourcePatternTypes.ANY,
    operation: AclOperationTypes.ANY,
    permissionType: AclPermissionTypes.ANY,
  });
  return response.resources.flatMap((r) =>
    r.acls.map((acl) => ({
      resourceType: r.resourceType,
      resourceName: r.resourceName,
      resourcePatternType: r.resourcePatternType,
      ...acl,
    })),
  );
}

/**
 * Creates the ACLs of `grants` that are missing (all of them, when the cluster cannot be asked).
 * Returns how many were created and how many were there already.
 */
export async function ensureGrants(
  admin: Admin,
  grants: readonly Grant[],
): Promise<{ created: number; existing: number }> {
  const present = new Set((await listAcls(admin)).map(keyOf));
  const entries = grants.map(toEntry);
  const missing = entries.filter((e) => !present.has(keyOf(e)));
  if (missing.length > 0) await admin.createAcls({ acl: missing });
  return { created: missing.length, existing: entries.length - missing.length };
}

/** Kafka's error names in a kafkajs error (an aggregate of `createTopics` carries one per topic). */
export function kafkaErrorTypes(error: unknown): string[] {
  const e = error as { type?: unknown; errors?: unknown; topicErrors?: unknown };
  const nested = [
    ...(Array.isArray(e.errors) ? e.errors : []),
    ...(Array.isArray(e.topicErrors) ? e.topicErrors : []),
  ] as { type?: unknown }[];
  return [
    ...new Set([e.type, ...nested.map((n) => n?.type)].filter((t): t is string => typeof t === 'string')),
  ];
}

/** What `addService` did: topics and ACLs created now, and those that were already there. */
export interface ServiceAddReport {
  readonly topics: TopicNames;
  readonly topicsCreated: readonly string[];
  readonly topicsExisting: readonly string[];
  /** False when the cluster has no authorizer (`SECURITY_DISABLED`, open mode): no ACLs were made. */
  readonly authorizer: boolean;
  readonly aclsCreated: number;
  readonly aclsExisting: number;
}

/**
 * Adds one service to a cluster: its topics (missing ones only, with `layout`; request topics
 * default to 6 partitions, reply topics 24) and its ACLs (missing ones only). Idempotent: a second
 * run creates nothing. `admin` must be a super user's (or hold CREATE and ALTER on the cluster).
 */
export async function addService(
  admin: Admin,
  access: ServiceAccess,
  layout: TopicLayout = {},
  { timeoutMs = 30_000 }: { timeoutMs?: number } = {},
): Promise<ServiceAddReport> {
  const grants = serviceGrants(access); // validates the names before anything is created
  const topics = serviceTopicNames(access.topicEnv, access.service);
  const all = Object.values(topics) as string[];
  const before = new Set(await admin.listTopics());
  // A topic created a moment ago may still be unknown to the metadata check that ends ensureTopics:
  // retried (it is idempotent) until the deadline.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await ensureTopics(admin, topics, { requestPartitions: 6, replyPartitions: 24, ...layout });
      break;
    } catch (error) {
      if (Date.now() > deadline || /AUTHORIZATION|INVALID|POLICY/.test(kafkaErrorTypes(error).join(' ')))
        throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  const acls = await ensureGrants(admin, grants).catch((error: unknown) => {
    // A broker without an authorizer (open mode) has no ACLs to create: the topics are what it needs.
    if (kafkaErrorTypes(error).includes('SECURITY_DISABLED')) return undefined;
    throw error;
  });
  return {
    authorizer: acls !== undefined,
    topics,
    topicsCreated: all.filter((t) => !before.has(t)),
    topicsExisting: all.filter((t) => before.has(t)),
    aclsCreated: acls?.created ?? 0,
    aclsExisting: acls?.existing ?? 0,
  };
}

/** Services whose request topic exists in `topicEnv` (`{env}.omninode-bridge.database.<service>.query-requested.v1`). */
export async function listServices(admin: Admin, topicEnv: string): Promise<string[]> {
  const prefix = `${topicEnv}.omninode-bridge.database.`;
  const suffix = '.query-requested.v1';
  return (await admin.listTopics())
    .filter((t) => t.startsWith(prefix) && t.endsWith(suffix))
    .map((t) => t.slice(prefix.length, -suffix.length))
    .filter((s) => SERVICE_NAME.test(s)) // the shared request topic leaves '' here
    .sort();
}

const shellQuote = (s: string) => (/^[A-Za-z0-9._:@=/,-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);
const title = (s: string) => s.charAt(0) + s.slice(1).toLowerCase();

/**
 * The `kafka-acls.sh` lines that create the same ACLs as `serviceGrants` (one line per principal and
 * resource, its operations together). `bootstrap` and `commandConfig` are put in as given (e.g. `$B`).
 */
export function kafkaAclsLines(
  grants: readonly Grant[],
  {
    bootstrap = '$B',
    commandConfig = 'admin.properties',
  }: { bootstrap?: string; commandConfig?: string } = {},
): string[] {
  const lines = new Map<string, { grant: Grant; operations: GrantOperation[] }>();
  for (const grant of grants) {
    const key = [grant.principal, grant.resourceType, grant.resourceName, grant.patternType].join('\u0000');
    const line = lines.get(key) ?? { grant, operations: [] };
    line.operations.push(grant.operation);
    lines.set(key, line);
  }
  return [...lines.values()].map(({ grant, operations }) =>
    [
      'kafka-acls.sh',
      '--bootstrap-server',
      bootstrap,
      '--command-config',
      shellQuote(commandConfig),
      '--add',
      '--allow-principal',
      shellQuote(`User:${grant.principal}`),
      ...operations.flatMap((o) => ['--operation', title(o)]),
      ...(grant.patternType === 'PREFIXED' ? ['--resource-pattern-type', 'prefixed'] : []),
      grant.resourceType === 'TOPIC' ? '--topic' : '--group',
      shellQuote(grant.resourceName),
    ].join(' '),
  );
}

/** The `kafka-topics.sh` lines that create a service's topics as `addService` does. */
export function kafkaTopicsLines(
  topics: TopicNames,
  layout: TopicLayout = {},
  {
    bootstrap = '$B',
    commandConfig = 'admin.properties',
  }: { bootstrap?: string; commandConfig?: string } = {},
): string[] {
  const replicas = layout.replicationFactor ?? 1;
  const isr =
    layout.minInsyncReplicas === undefined
      ? []
      : ['--config', `min.insync.replicas=${layout.minInsyncReplicas}`];
  const line = (topic: string, partitions: number, extra: string[] = []) =>
    [
      'kafka-topics.sh',
      '--bootstrap-server',
      bootstrap,
      '--command-config',
      shellQuote(commandConfig),
      '--create',
      '--if-not-exists',
      '--topic',
      topic,
      '--partitions',
      String(partitions),
      '--replication-factor',
      String(replicas),
      ...extra,
      ...isr,
    ].join(' ');
  const reply = layout.replyPartitions ?? 24;
  return [
    line(topics.requested, layout.requestPartitions ?? 6, [
      '--config',
      'message.timestamp.type=LogAppendTime',
    ]),
    line(topics.completed, reply),
    line(topics.failed, reply),
    line(topics.deadLettered, 1),
  ];
}
