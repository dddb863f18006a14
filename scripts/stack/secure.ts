import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs, { type AclEntry, type Admin } from 'kafkajs';
import { serviceTopicNames, topicNames } from '../../src/events/topics.js';
import type { KafkaSecurity } from '../../src/transport/security.js';
import { run } from './process.js';

/**
 * The secured mode of the local broker (`npm run stack:up -- --secure`): one SASL_SSL listener with a
 * certificate signed by a CA generated here (openssl, nothing downloaded), SCRAM-SHA-256/512 users
 * created when the storage is formatted, KRaft's StandardAuthorizer with `admin` as the only super
 * user, and ACLs per service. Everything lives in `<stateDir>/kafka-secure/` (keys mode 600).
 */

/** Users of the secured stack: the super user, the adapter, and two services. */
export const SECURE_USERS = ['admin', 'adapter', 'service-a', 'service-b'] as const;
export type SecureUser = (typeof SECURE_USERS)[number];

/** SASL mechanism the stack's own tools and `stack.env` use; SCRAM-SHA-256 works as well. */
export const SECURE_MECHANISM = 'SCRAM-SHA-512';

export interface SecureMaterial {
  readonly dir: string;
  /** CA certificate (PEM) that signed the broker's certificate: clients' `KAFKA_SSL_CA_FILE`. */
  readonly caFile: string;
  /** The broker's key and certificate chain, one PEM file (Kafka's `ssl.keystore.type=PEM`). */
  readonly keystoreFile: string;
  /** Password of each user (generated once, kept in `users.json`, mode 600). */
  readonly passwords: Readonly<Record<SecureUser, string>>;
}

/** Generates (once) the CA, the broker's certificate for 127.0.0.1/localhost, and the users' passwords. */
export async function ensureSecureMaterial(stateDir: string): Promise<SecureMaterial> {
  const dir = join(stateDir, 'kafka-secure');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = (name: string) => join(dir, name);
  const material = {
    dir,
    caFile: file('ca.pem'),
    keystoreFile: file('broker-keystore.pem'),
  };
  if (!existsSync(material.keystoreFile)) {
    const openssl = (...args: string[]) => run('openssl', args);
    await openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '3650',
      '-subj',
      '/CN=dbbridge local CA',
      '-keyout',
      file('ca.key'),
      '-out',
      material.caFile,
    );
    // Kafka's PEM keystore wants an unencrypted PKCS#8 key ("BEGIN PRIVATE KEY"), as genpkey writes.
    await openssl(
      'genpkey',
      '-algorithm',
      'RSA',
      '-pkeyopt',
      'rsa_keygen_bits:2048',
      '-out',
      file('broker.key'),
    );
    await openssl(
      'req',
      '-new',
      '-key',
      file('broker.key'),
      '-subj',
      '/CN=localhost',
      '-out',
      file('broker.csr'),
    );
    writeFileSync(
      file('broker.ext'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
    );
    await openssl(
      'x509',
      '-req',
      '-in',
      file('broker.csr'),
      '-CA',
      material.caFile,
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-days',
      '3650',
      '-extfile',
      file('broker.ext'),
      '-out',
      file('broker.pem'),
    );
    writeFileSync(
      material.keystoreFile,
      readFileSync(file('broker.key'), 'utf8') + readFileSync(file('broker.pem'), 'utf8'),
      { mode: 0o600 },
    );
    for (const key of ['ca.key', 'broker.key']) chmodSync(file(key), 0o600);
  }
  const usersFile = file('users.json');
  if (!existsSync(usersFile)) {
    const passwords = Object.fromEntries(SECURE_USERS.map((u) => [u, randomBytes(18).toString('base64url')]));
    writeFileSync(usersFile, `${JSON.stringify(passwords, null, 2)}\n`, { mode: 0o600 });
  }
  const passwords = JSON.parse(readFileSync(usersFile, 'utf8')) as Record<SecureUser, string>;
  return { ...material, passwords };
}

/** The transports' `security` option for `user` of the secured stack. */
export function secureClientSecurity(
  material: SecureMaterial,
  user: SecureUser,
  mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' = SECURE_MECHANISM,
): KafkaSecurity {
  return {
    tls: { ca: readFileSync(material.caFile) },
    sasl: { mechanism, username: user, password: material.passwords[user] },
  };
}

/** The environment variables of `user` (README, "Security"): the lines of `<dir>/<user>.env` and `stack.env`. */
export function secureClientEnv(material: SecureMaterial, user: SecureUser): Record<string, string> {
  return {
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_MECHANISM: SECURE_MECHANISM,
    KAFKA_SASL_USERNAME: user,
    KAFKA_SASL_PASSWORD: material.passwords[user],
    KAFKA_SSL_CA_FILE: material.caFile,
  };
}

/** Writes `<dir>/<user>.env` for every user (mode 600): `set -a; . .dbbridge/kafka-secure/service-a.env`. */
export function writeUserEnvFiles(
  material: SecureMaterial,
  bootstrapServers: string,
  topicEnv: string,
): void {
  for (const user of SECURE_USERS) {
    const vars = {
      KAFKA_BOOTSTRAP_SERVERS: bootstrapServers,
      DBBRIDGE_ENV: topicEnv,
      ...secureClientEnv(material, user),
    };
    const text = Object.entries(vars)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n');
    writeFileSync(join(material.dir, `${user}.env`), `${text}\n`, { mode: 0o600 });
  }
}

/**
 * `server.properties` settings of the secured mode, over the open mode's. The controller listener
 * speaks SASL_PLAINTEXT with PLAIN (SCRAM credentials live in the metadata log, which a controller
 * needs before it can read them); it is on 127.0.0.1 and only `admin` may use it.
 */
export function secureServerSettings(
  material: SecureMaterial,
  port: number,
  controllerPort: number,
): Record<string, string> {
  const admin = material.passwords.admin;
  return {
    listeners: `SASL_SSL://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `SASL_SSL://127.0.0.1:${port}`,
    'inter.broker.listener.name': 'SASL_SSL',
    'listener.security.protocol.map': 'SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT',
    'sasl.enabled.mechanisms': 'SCRAM-SHA-256,SCRAM-SHA-512',
    'sasl.mechanism.inter.broker.protocol': SECURE_MECHANISM,
    // One JAAS entry per enabled mechanism; the broker's own (inter-broker) login is admin's.
    'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config': `org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${admin}";`,
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': `org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${admin}";`,
    'sasl.mechanism.controller.protocol': 'PLAIN',
    'listener.name.controller.sasl.enabled.mechanisms': 'PLAIN',
    'listener.name.controller.plain.sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="${admin}" user_admin="${admin}";`,
    'ssl.keystore.type': 'PEM',
    'ssl.keystore.location': material.keystoreFile,
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.location': material.caFile,
    'ssl.client.auth': 'none',
    'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'super.users': 'User:admin',
    'allow.everyone.if.no.acl.found': 'false',
  };
}

/** `kafka-storage format` arguments that create the SCRAM users (both SHA-256 and SHA-512). */
export function scramFormatArgs(material: SecureMaterial): string[] {
  return SECURE_USERS.flatMap((user) =>
    ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((mechanism) => [
      '--add-scram',
      `${mechanism}=[name=${user},password=${material.passwords[user]}]`,
    ]),
  );
}

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
