import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { kafkajsSecurity } from '../../src/transport/client-security.js';
import type { KafkaSecurity } from '../../src/transport/security.js';
import {
  isAlive,
  logExcerpt,
  pidRunning,
  readPidFile,
  repoRoot,
  retryUntil,
  run,
  stopRecorded,
} from './process.js';
import {
  type SecureMaterial,
  scramFormatArgs,
  secureClientSecurity,
  secureServerSettings,
} from './secure.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

export interface KafkaOptions {
  /** Absolute state directory: jars, server.properties, log file and PID live here. */
  readonly stateDir: string;
  /** Apache Kafka version fetched from Maven Central (`org.apache.kafka:kafka_2.13`). */
  readonly version: string;
  /** Client listener, on 127.0.0.1. */
  readonly port: number;
  /** KRaft controller listener, on 127.0.0.1. */
  readonly controllerPort: number;
  /** Aborting while the broker starts stops it and rejects. */
  readonly signal?: AbortSignal;
  /** Called once the broker process exists (its PID recorded), before it is ready. */
  readonly onSpawn?: (pid: number) => void;
  /** Secured mode (`stack:up -- --secure`): SASL_SSL listener, SCRAM users, ACLs. Default: open (PLAINTEXT). */
  readonly secure?: SecureMaterial;
}

export interface KafkaFiles {
  readonly properties: string;
  readonly logFile: string;
  readonly pidFile: string;
  /** The broker's data (KRaft metadata and topics): on tmpfs when there is one. */
  readonly dataDir: string;
}

const READY_TIMEOUT_MS = 60_000;

export function kafkaFiles(stateDir: string): KafkaFiles {
  const id = createHash('sha256').update(stateDir).digest('hex').slice(0, 12);
  return {
    properties: join(stateDir, 'kafka', 'server.properties'),
    logFile: join(stateDir, 'kafka.log'),
    pidFile: join(stateDir, 'kafka.pid'),
    dataDir: existsSync('/dev/shm') ? `/dev/shm/dbbridge-kafka-${id}` : join(stateDir, 'kafka', 'data'),
  };
}

/** Puts the broker's runtime classpath into `<stateDir>/kafka/<version>/lib` with Maven, unless it is there. */
export async function ensureKafkaJars(stateDir: string, version: string): Promise<string> {
  const libDir = join(stateDir, 'kafka', version, 'lib');
  if (existsSync(libDir)) return libDir;
  const partial = `${libDir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  console.error(`fetching Apache Kafka ${version} jars from Maven Central into ${libDir}`);
  const pom = join(repoRoot, 'scripts', 'stack', 'kafka-pom.xml');
  try {
    await run('mvn', [
      '-B',
      '-q',
      '-Dstyle.color=never',
      '-f',
      pom,
      `-Dkafka.version=${version}`,
      `-Dkafka.lib=${partial}`,
      'dependency:copy-dependencies',
    ]);
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    const hint =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? ' (is Maven installed and on PATH?)' : '';
    throw new Error(`could not fetch Apache Kafka ${version} jars${hint}`, { cause: error });
  }
  renameSync(partial, libDir);
  return libDir;
}

function serverProperties(options: KafkaOptions, dataDir: string): string {
  const { port, controllerPort } = options;
  const settings: Record<string, string | number> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    'controller.listener.names': 'CONTROLLER',
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': dataDir,
    'auto.create.topics.enable': 'false',
    'num.partitions': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 4,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 4,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    // Without this every new consumer group waits 3 s on its first join.
    'group.initial.rebalance.delay.ms': 0,
    // Broker-wide limit; topics keep the default (they inherit it).
    'message.max.bytes': 10 * 1024 * 1024,
    'num.network.threads': 2,
    'num.io.threads': 2,
    'background.threads': 2,
    'num.recovery.threads.per.data.dir': 1,
    'log.cleaner.threads': 1,
    // The default reserves 128 MB of heap for the cleaner.
    'log.cleaner.dedupe.buffer.size': 4 * 1024 * 1024,
    ...(options.secure ? secureServerSettings(options.secure, port, controllerPort) : {}),
  };
  return `${Object.entries(settings)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n')}\n`;
}

/** JVM settings of Kafka's own `kafka-server-start.sh` (1 GiB heap, G1 with 20 ms pauses). */
function javaArgs(libDir: string, mainClass: string, args: readonly string[]): string[] {
  return [
    '-Xms1g',
    '-Xmx1g',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:InitiatingHeapOccupancyPercent=35',
    '-XX:+ExplicitGCInvokesConcurrent',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    '-Dorg.slf4j.simpleLogger.showDateTime=true',
    '-cp',
    `${libDir}/*`,
    mainClass,
    ...args,
  ];
}

/** A KRaft cluster id: 16 random bytes in URL-safe base64 (22 characters), not starting with '-'. */
function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** The PID of the broker this state dir started, if it is still running. */
export function runningKafka(stateDir: string): number | undefined {
  const { pidFile, properties } = kafkaFiles(stateDir);
  const pid = readPidFile(pidFile);
  return pid !== undefined && pidRunning(pid, properties) ? pid : undefined;
}

/** One metadata round trip (an admin `listTopics`): the broker answers requests. */
export async function kafkaAnswers(bootstrapServers: string, security?: KafkaSecurity): Promise<void> {
  const kafka = new Kafka({
    ...kafkajsSecurity(security),
    clientId: 'dbbridge-stack-probe',
    brokers: bootstrapServers.split(','),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 5_000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the broker answers; gives up early if `pid` (when given) exits. */
export async function waitForKafka(
  bootstrapServers: string,
  pid?: number,
  logFile?: string,
  signal?: AbortSignal,
  security?: KafkaSecurity,
): Promise<void> {
  try {
    await retryUntil(() => kafkaAnswers(bootstrapServers, security), {
      timeoutMs: READY_TIMEOUT_MS,
      signal,
      abort: () => (pid !== undefined && !isAlive(pid) ? `Kafka broker (pid ${pid}) exited` : undefined),
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    const log = logFile === undefined ? '' : `\n${logExcerpt(logFile)}`;
    throw new Error(`Kafka at ${bootstrapServers} is not ready: ${(error as Error).message}${log}`, {
      cause: error,
    });
  }
}

/**
 * Starts a single-node KRaft broker+controller in the background and waits until it answers.
 * Fetches the jars and formats the storage first when needed. Returns the bootstrap servers and PID.
 */
export async function startKafka(options: KafkaOptions): Promise<{ bootstrapServers: string; pid: number }> {
  const files = kafkaFiles(options.stateDir);
  const bootstrapServers = `127.0.0.1:${options.port}`;
  const libDir = await ensureKafkaJars(options.stateDir, options.version);
  mkdirSync(files.dataDir, { recursive: true });
  // Secured mode: the file holds the admin's password (JAAS), so only its owner may read it.
  writeFileSync(files.properties, serverProperties(options, files.dataDir), { mode: 0o600 });
  chmodSync(files.properties, 0o600);

  if (!existsSync(join(files.dataDir, 'meta.properties'))) {
    const format = ['format', '-t', clusterId(), '-c', files.properties, '--ignore-formatted'];
    if (options.secure) format.push(...scramFormatArgs(options.secure));
    await run('java', javaArgs(libDir, 'kafka.tools.StorageTool', format), { signal: options.signal });
  }

  const log = openSync(files.logFile, 'w');
  const child = spawn('java', javaArgs(libDir, 'kafka.Kafka', [files.properties]), {
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  child.once('error', () => {}); // reported below: a child that could not be spawned has no pid
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start java (is a Java 17+ runtime on PATH?)');
  child.unref();
  writeFileSync(files.pidFile, `${pid}\n`);
  options.onSpawn?.(pid);
  try {
    const security = options.secure ? secureClientSecurity(options.secure, 'admin') : undefined;
    await waitForKafka(bootstrapServers, pid, files.logFile, options.signal, security);
  } catch (error) {
    await stopKafka(options.stateDir);
    throw error;
  }
  return { bootstrapServers, pid };
}

/**
 * Stops the broker recorded in `<stateDir>/kafka.pid` (SIGTERM, then SIGKILL after 20 s) and deletes
 * its tmpfs data. Returns whether a broker was running.
 */
export async function stopKafka(stateDir: string): Promise<boolean> {
  const files = kafkaFiles(stateDir);
  const stopped = await stopRecorded(files.pidFile, files.properties, 'SIGTERM');
  if (files.dataDir.startsWith('/dev/shm/')) rmSync(files.dataDir, { recursive: true, force: true });
  return stopped;
}
