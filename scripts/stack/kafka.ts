import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
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

/** The two listeners of one node (broker and controller in one JVM), on 127.0.0.1. */
export interface KafkaNodePorts {
  readonly port: number;
  readonly controllerPort: number;
}

export interface KafkaOptions {
  /** Absolute state directory: jars, server.properties, log file and PID live here. */
  readonly stateDir: string;
  /** Apache Kafka version fetched from Maven Central (`org.apache.kafka:kafka_2.13`). */
  readonly version: string;
  /** Client listener of node 1, on 127.0.0.1. */
  readonly port: number;
  /** KRaft controller listener of node 1, on 127.0.0.1. */
  readonly controllerPort: number;
  /**
   * The listeners of nodes 2, 3, ... of the same cluster: each node is a broker and a KRaft voter
   * (combined mode), so three nodes keep a controller quorum and two in-sync replicas when one dies.
   * Default none: a single node.
   */
  readonly moreNodes?: readonly KafkaNodePorts[];
  /** JVM heap of each node (`-Xms`/`-Xmx`). Default `1g` for a single node, `512m` per node of a cluster. */
  readonly heap?: string;
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

/** Nodes of a cluster the local stack starts at most. */
export const MAX_KAFKA_NODES = 9;

/**
 * The files of node `node` (1-based) of the state dir's broker or cluster. Node 1 keeps the names of
 * a single broker (`kafka.pid`, `kafka/server.properties`, ...); node n adds `-n`.
 */
export function kafkaFiles(stateDir: string, node = 1): KafkaFiles {
  const id = createHash('sha256').update(stateDir).digest('hex').slice(0, 12);
  const suffix = node === 1 ? '' : `-${node}`;
  return {
    properties: join(stateDir, 'kafka', `server${suffix}.properties`),
    logFile: join(stateDir, `kafka${suffix}.log`),
    pidFile: join(stateDir, `kafka${suffix}.pid`),
    dataDir: existsSync('/dev/shm')
      ? `/dev/shm/dbbridge-kafka-${id}${suffix}`
      : join(stateDir, 'kafka', `data${suffix}`),
  };
}

/**
 * The local stack's ports for an `n`-node cluster: node i (1-based) listens on `port + 2(i-1)` for
 * clients and `controllerPort + 2(i-1)` for the controller quorum (39092/39094/39096 and
 * 39093/39095/39097 by default).
 */
export function clusterPorts(port: number, controllerPort: number, nodes: number): KafkaNodePorts[] {
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_KAFKA_NODES)
    throw new RangeError(`brokers must be an integer from 1 to ${MAX_KAFKA_NODES}, got ${nodes}`);
  return Array.from({ length: nodes }, (_, i) => ({
    port: port + 2 * i,
    controllerPort: controllerPort + 2 * i,
  }));
}

/** A node of the state dir's broker or cluster, as its server.properties describe it. */
export interface KafkaNode {
  /** 1-based; also the KRaft `node.id`. */
  readonly node: number;
  readonly port: number;
  readonly files: KafkaFiles;
  /** Its PID, if it is running. */
  readonly pid: number | undefined;
}

/**
 * The nodes that the state dir's last `startKafka` configured (its server*.properties), with their
 * client ports and whether each runs. Empty when no broker was ever configured here.
 */
export function kafkaNodes(stateDir: string): KafkaNode[] {
  const nodes: KafkaNode[] = [];
  for (let node = 1; node <= MAX_KAFKA_NODES; node++) {
    const files = kafkaFiles(stateDir, node);
    if (!existsSync(files.properties)) break;
    const text = readFileSync(files.properties, 'utf8');
    const advertised = /^advertised\.listeners=[A-Z_]+:\/\/[^:]+:(\d+)/m.exec(text);
    const pid = readPidFile(files.pidFile);
    nodes.push({
      node,
      port: Number(advertised?.[1] ?? 0),
      files,
      pid: pid !== undefined && pidRunning(pid, files.properties) ? pid : undefined,
    });
  }
  return nodes;
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

/** Every node of the cluster `options` describe: node 1 first. */
function nodesOf(options: KafkaOptions): KafkaNodePorts[] {
  const nodes = [
    { port: options.port, controllerPort: options.controllerPort },
    ...(options.moreNodes ?? []),
  ];
  if (nodes.length > MAX_KAFKA_NODES) throw new RangeError(`at most ${MAX_KAFKA_NODES} Kafka nodes`);
  return nodes;
}

function serverProperties(options: KafkaOptions, node: number, dataDir: string): string {
  const nodes = nodesOf(options);
  const { port, controllerPort } = nodes[node - 1] as KafkaNodePorts;
  // A cluster of three or more keeps every topic (internal ones included) on three replicas and
  // accepts an acks=all write once two have it: one node may die without losing an acknowledged
  // write or refusing new ones.
  const replicas = Math.min(nodes.length, 3);
  const minIsr = replicas >= 3 ? 2 : 1;
  const settings: Record<string, string | number> = {
    'process.roles': 'broker,controller',
    'node.id': node,
    'controller.quorum.voters': nodes.map((n, i) => `${i + 1}@127.0.0.1:${n.controllerPort}`).join(','),
    'controller.listener.names': 'CONTROLLER',
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': dataDir,
    'auto.create.topics.enable': 'false',
    'num.partitions': 1,
    'default.replication.factor': replicas,
    'min.insync.replicas': minIsr,
    'offsets.topic.replication.factor': replicas,
    'offsets.topic.num.partitions': 4,
    'transaction.state.log.replication.factor': replicas,
    'transaction.state.log.min.isr': minIsr,
    'transaction.state.log.num.partitions': 4,
    'share.coordinator.state.topic.replication.factor': replicas,
    'share.coordinator.state.topic.min.isr': minIsr,
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

/** JVM settings of Kafka's own `kafka-server-start.sh` (1 GiB heap unless said, G1 with 20 ms pauses). */
function javaArgs(libDir: string, mainClass: string, args: readonly string[], heap = '1g'): string[] {
  if (!/^\d+[mg]$/.test(heap))
    throw new RangeError(`invalid JVM heap ${JSON.stringify(heap)} (e.g. 512m, 1g)`);
  return [
    `-Xms${heap}`,
    `-Xmx${heap}`,
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

/** The PID of the broker this state dir started (node 1 of a cluster), if it is still running. */
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
 * Starts a KRaft broker+controller in the background (or a cluster of them, `moreNodes`) and waits
 * until every node answers. Fetches the jars and formats the storage first when needed. Returns the
 * bootstrap servers (all nodes) and the PIDs (node 1 first).
 */
export async function startKafka(
  options: KafkaOptions,
): Promise<{ bootstrapServers: string; pid: number; pids: number[] }> {
  const nodes = nodesOf(options);
  const libDir = await ensureKafkaJars(options.stateDir, options.version);
  // Nodes of an earlier, larger cluster of this state dir are no longer part of it.
  for (let node = nodes.length + 1; node <= MAX_KAFKA_NODES; node++) {
    const files = kafkaFiles(options.stateDir, node);
    if (!existsSync(files.properties)) break;
    await stopRecorded(files.pidFile, files.properties, 'SIGKILL');
    rmSync(files.properties, { force: true });
    if (files.dataDir.startsWith('/dev/shm/')) rmSync(files.dataDir, { recursive: true, force: true });
  }
  // One cluster id for every node that still needs formatting.
  const id = clusterId();
  const formats = nodes.map(async (_, i) => {
    const files = kafkaFiles(options.stateDir, i + 1);
    mkdirSync(files.dataDir, { recursive: true });
    mkdirSync(join(files.properties, '..'), { recursive: true });
    // Secured mode: the file holds the admin's password (JAAS), so only its owner may read it.
    writeFileSync(files.properties, serverProperties(options, i + 1, files.dataDir), { mode: 0o600 });
    chmodSync(files.properties, 0o600);
    if (!existsSync(join(files.dataDir, 'meta.properties'))) {
      const format = ['format', '-t', id, '-c', files.properties, '--ignore-formatted'];
      if (options.secure) format.push(...scramFormatArgs(options.secure));
      await run('java', javaArgs(libDir, 'kafka.tools.StorageTool', format, heapOf(options)), {
        signal: options.signal,
      });
    }
  });
  await Promise.all(formats);
  const pids: number[] = [];
  try {
    for (let node = 1; node <= nodes.length; node++) pids.push(spawnNode(options, libDir, node));
    // A node of a cluster answers once the controller quorum has a leader: start them all, then wait.
    await Promise.all(pids.map((pid, i) => waitForNode(options, i + 1, pid)));
  } catch (error) {
    await stopKafka(options.stateDir);
    throw error;
  }
  return {
    bootstrapServers: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    pid: pids[0] as number,
    pids,
  };
}

/**
 * Starts node `node` (1-based) of a cluster that `startKafka(options)` configured and formatted, e.g.
 * after it was killed, and waits until it answers. Returns its PID.
 */
export async function startKafkaNode(options: KafkaOptions, node: number): Promise<number> {
  const libDir = await ensureKafkaJars(options.stateDir, options.version);
  const files = kafkaFiles(options.stateDir, node);
  if (!existsSync(join(files.dataDir, 'meta.properties')))
    throw new Error(`Kafka node ${node} of ${options.stateDir} was never formatted: start the cluster first`);
  const pid = spawnNode(options, libDir, node);
  try {
    // The port its server.properties say (the cluster may have been started with other ports).
    const port = kafkaNodes(options.stateDir).find((n) => n.node === node)?.port;
    await waitForNode(options, node, pid, port);
  } catch (error) {
    await stopRecorded(files.pidFile, files.properties, 'SIGKILL');
    throw error;
  }
  return pid;
}

function heapOf(options: KafkaOptions): string {
  return options.heap ?? (nodesOf(options).length > 1 ? '512m' : '1g');
}

/** Spawns one configured node in the background and records its PID. */
function spawnNode(options: KafkaOptions, libDir: string, node: number): number {
  const files = kafkaFiles(options.stateDir, node);
  const log = openSync(files.logFile, 'w');
  const child = spawn('java', javaArgs(libDir, 'kafka.Kafka', [files.properties], heapOf(options)), {
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
  return pid;
}

function waitForNode(options: KafkaOptions, node: number, pid: number, port?: number): Promise<void> {
  port ??= (nodesOf(options)[node - 1] as KafkaNodePorts).port;
  const security = options.secure ? secureClientSecurity(options.secure, 'admin') : undefined;
  return waitForKafka(
    `127.0.0.1:${port}`,
    pid,
    kafkaFiles(options.stateDir, node).logFile,
    options.signal,
    security,
  );
}

/**
 * Stops every node recorded in `<stateDir>/kafka*.pid` (SIGTERM, then SIGKILL after 20 s; all at
 * once, so that a cluster does not wait on the controller quorum one node at a time) and deletes
 * their tmpfs data. Returns whether a broker was running.
 */
export async function stopKafka(stateDir: string): Promise<boolean> {
  const nodes = [kafkaFiles(stateDir)];
  for (let node = 2; node <= MAX_KAFKA_NODES; node++) {
    const files = kafkaFiles(stateDir, node);
    if (!existsSync(files.properties) && !existsSync(files.pidFile)) break;
    nodes.push(files);
  }
  const stopped = await Promise.all(
    nodes.map(async (files) => {
      const was = await stopRecorded(files.pidFile, files.properties, 'SIGTERM');
      if (files.dataDir.startsWith('/dev/shm/')) rmSync(files.dataDir, { recursive: true, force: true });
      return was;
    }),
  );
  return stopped.some(Boolean);
}
