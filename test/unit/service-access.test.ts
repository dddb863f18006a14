/** `dbbridge service add`'s grants and shell lines, and the shared topics' default in secured mode (no I/O). */
import { describe, expect, it } from 'vitest';
import { sharedTopicsInSecuredMode } from '../../scripts/stack/secure.js';
import { adapterFromEnv } from '../../src/adapter/main.js';
import { type Io, serviceAdd } from '../../src/cli/commands.js';
import { readEnv } from '../../src/env.js';
import { ConfigurationError } from '../../src/errors.js';
import { serviceTopicNames } from '../../src/events/topics.js';
import { silentLogger } from '../../src/logger.js';
import {
  kafkaAclsLines,
  kafkaTopicsLines,
  replyGroupPrefix,
  serviceGrants,
} from '../../src/transport/service-access.js';

const access = {
  topicEnv: 'prod',
  service: 'billing',
  adapters: ['adapter'],
  adapterGroup: 'dbbridge-adapter',
};
const topics = serviceTopicNames('prod', 'billing');

describe('serviceGrants', () => {
  const grants = serviceGrants(access);
  const of = (principal: string) =>
    grants
      .filter((g) => g.principal === principal)
      .map((g) => `${g.operation} ${g.resourceType} ${g.patternType} ${g.resourceName}`)
      .sort();

  it('lets the service write its request topic and read its reply topics and reply groups, nothing else', () => {
    expect(of('billing')).toEqual(
      [
        `WRITE TOPIC LITERAL ${topics.requested}`,
        `READ TOPIC LITERAL ${topics.completed}`,
        `READ TOPIC LITERAL ${topics.failed}`,
        'READ GROUP PREFIXED dbbridge-reply-billing.',
        'DELETE GROUP PREFIXED dbbridge-reply-billing.',
      ].sort(),
    );
  });

  it("lets the adapter read the service's request topic in its group and write its reply and dead-letter topics", () => {
    expect(of('adapter')).toEqual(
      [
        `READ TOPIC LITERAL ${topics.requested}`,
        `WRITE TOPIC LITERAL ${topics.completed}`,
        `WRITE TOPIC LITERAL ${topics.failed}`,
        `WRITE TOPIC LITERAL ${topics.deadLettered}`,
        'READ GROUP LITERAL dbbridge-adapter',
      ].sort(),
    );
    expect(grants).toHaveLength(10);
  });

  it("keeps one service's reply-group prefix from matching another's ('.' ends it)", () => {
    expect(replyGroupPrefix('a')).toBe('dbbridge-reply-a.');
    expect('dbbridge-reply-a-b.1234abcd-x'.startsWith(replyGroupPrefix('a'))).toBe(false);
  });

  it('refuses bad names before anything is created', () => {
    expect(() => serviceGrants({ ...access, service: 'Billing' })).toThrow(/invalid service name/);
    expect(() => serviceGrants({ ...access, service: 'a.b' })).toThrow(/invalid service name/);
    expect(() => serviceGrants({ ...access, adapters: [] })).toThrow(/adapter principal/);
    expect(() => serviceGrants({ ...access, adapters: ['a b'] })).toThrow(/invalid adapter principal/);
    expect(() => serviceGrants({ ...access, adapterGroup: 'g;rm' })).toThrow(/invalid adapter group/);
    expect(() => serviceGrants({ ...access, topicEnv: 'a b' })).toThrow(/invalid topic environment/);
  });
});

describe('kafka-acls.sh and kafka-topics.sh lines', () => {
  it('one kafka-acls.sh line per principal and resource, with its operations', () => {
    const lines = kafkaAclsLines(serviceGrants(access), { bootstrap: 'b:9093' });
    expect(lines).toHaveLength(9);
    expect(lines).toContain(
      'kafka-acls.sh --bootstrap-server b:9093 --command-config admin.properties --add --allow-principal User:billing --operation Read --operation Delete --resource-pattern-type prefixed --group dbbridge-reply-billing.',
    );
    expect(lines).toContain(
      `kafka-acls.sh --bootstrap-server b:9093 --command-config admin.properties --add --allow-principal User:adapter --operation Read --topic ${topics.requested}`,
    );
  });

  it('kafka-topics.sh lines with partitions, replication factor and min.insync.replicas', () => {
    const lines = kafkaTopicsLines(topics, {
      requestPartitions: 3,
      replyPartitions: 12,
      replicationFactor: 3,
      minInsyncReplicas: 2,
    });
    expect(lines).toEqual([
      `kafka-topics.sh --bootstrap-server $B --command-config admin.properties --create --if-not-exists --topic ${topics.requested} --partitions 3 --replication-factor 3 --config message.timestamp.type=LogAppendTime --config min.insync.replicas=2`,
      `kafka-topics.sh --bootstrap-server $B --command-config admin.properties --create --if-not-exists --topic ${topics.completed} --partitions 12 --replication-factor 3 --config min.insync.replicas=2`,
      `kafka-topics.sh --bootstrap-server $B --command-config admin.properties --create --if-not-exists --topic ${topics.failed} --partitions 12 --replication-factor 3 --config min.insync.replicas=2`,
      `kafka-topics.sh --bootstrap-server $B --command-config admin.properties --create --if-not-exists --topic ${topics.deadLettered} --partitions 1 --replication-factor 3 --config min.insync.replicas=2`,
    ]);
  });

  it('`service add --dry-run` prints them without connecting; a bad option is a usage error', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) };
    const args = {
      service: 'billing',
      adapters: ['adapter'],
      requestPartitions: 6,
      replyPartitions: 24,
      replicationFactor: 3,
      dryRun: true,
    };
    // No broker at this address: a dry run must not try it.
    const env = readEnv({ KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:1', DBBRIDGE_ENV: 'prod' });
    expect(await serviceAdd(env, args, io)).toBe(0);
    expect(out.filter((l) => l.startsWith('kafka-topics.sh'))).toHaveLength(4);
    expect(out.filter((l) => l.startsWith('kafka-acls.sh'))).toHaveLength(9);
    expect(out.join('\n')).toContain('--bootstrap-server 127.0.0.1:1');
    out.length = 0;
    expect(await serviceAdd(env, { ...args, replyPartitions: 0 }, io)).toBe(2);
    expect(await serviceAdd(env, { ...args, minInsyncReplicas: 1.5 }, io)).toBe(2);
    expect(out).toEqual([]);
    expect(err).toEqual([
      '--reply-partitions must be a whole number from 1',
      '--min-insync-replicas must be a whole number from 1',
    ]);
  });
});

describe('shared topics in secured mode', () => {
  it('are on by default with PLAINTEXT, off with SSL or SASL; an explicit setting wins', () => {
    expect(readEnv({}).DBBRIDGE_SHARED_TOPICS).toBe(true);
    for (const protocol of ['SASL_SSL', 'SASL_PLAINTEXT', 'SSL'])
      expect(readEnv({ KAFKA_SECURITY_PROTOCOL: protocol }).DBBRIDGE_SHARED_TOPICS).toBe(false);
    expect(
      readEnv({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', DBBRIDGE_SHARED_TOPICS: 'true' }).DBBRIDGE_SHARED_TOPICS,
    ).toBe(true);
    expect(readEnv({ DBBRIDGE_SHARED_TOPICS: 'off' }).DBBRIDGE_SHARED_TOPICS).toBe(false);
  });

  it('the secured stack grants none on them unless DBBRIDGE_SHARED_TOPICS turns them on', () => {
    expect(sharedTopicsInSecuredMode({})).toBe(false);
    expect(sharedTopicsInSecuredMode({ DBBRIDGE_SHARED_TOPICS: 'true' })).toBe(true);
  });

  it('an adapter with no topic to consume is a configuration error that says what to set', () => {
    const env = readEnv({
      KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:1',
      DATABASE_URL: 'postgres://x@127.0.0.1:1/x',
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    });
    expect(() => adapterFromEnv(env, silentLogger)).toThrow(ConfigurationError);
    expect(() => adapterFromEnv(env, silentLogger)).toThrow(/DBBRIDGE_SERVICES.*DBBRIDGE_SHARED_TOPICS=true/);
  });
});
