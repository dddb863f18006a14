import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { assertNodeVersion, type Env, kafkaSecurityFromEnv, readEnv } from '../src/env.js';
import { serviceTopicNames, topicNames } from '../src/events/topics.js';
import { kafkajsSecurity } from '../src/transport/client-security.js';
import { ensureTopics } from '../src/transport/kafka-admin.js';
import type { KafkaSecurity } from '../src/transport/security.js';
import { migrate } from './migrate.js';
import {
  clusterPorts,
  ensureKafkaJars,
  type KafkaNode,
  kafkaFiles,
  kafkaNodes,
  MAX_KAFKA_NODES,
  startKafka,
  startKafkaNode,
  stopKafka,
  waitForKafka,
} from './stack/kafka.js';
import { clusterDir, runningPort, runningPostgres, startPostgres, stopPostgres } from './stack/postgres.js';
import { isAlive, isMain, processStartTime, resolveStateDir, retryUntil } from './stack/process.js';
import { ADAPTER_ROLE, ensureRoles, roleUrl } from './stack/roles.js';
import {
  createBridgeAcls,
  createServiceAcls,
  ensureSecureMaterial,
  type SecureMaterial,
  secureClientEnv,
  secureClientSecurity,
  writeUserEnvFiles,
} from './stack/secure.js';

export interface StackUpResult {
  readonly kafkaBootstrapServers: string;
  /** The adapter's connection: the local stack's `dbbridge_adapter` role (no superuser, DML only), or `DATABASE_URL`. */
  readonly databaseUrl: string;
  /** The schema owner's connection, for migrations, codegen and checks: `DATABASE_OWNER_URL`, else `databaseUrl`'s server as `postgres`. */
  readonly databaseOwnerUrl: string;
  /** Whether this run is to stop the broker when it ends (it started it, or took over a leftover). */
  readonly startedKafka: boolean;
  /** Whether this run is to stop PostgreSQL when it ends (it started it, or took over a leftover). */
  readonly startedPostgres: boolean;
  /** Secured mode: the CA, certificates and users' passwords (`<stateDir>/kafka-secure/`). */
  readonly secure?: SecureMaterial;
}

export interface StackOptions {
  /** Environment to read (see `src/env.ts`). Default: `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface StackUpOptions extends StackOptions {
  /**
   * `stack up`: what it starts stays up after this process ends, until `stack down`. Default false:
   * what this run starts belongs to it, and a later run reports it as left over if it is not stopped.
   */
  readonly keep?: boolean;
  /** Who is starting the stack, for the reports of later runs (e.g. `npm start`). */
  readonly command?: string;
  /** Aborting stops what this call started so far and rejects. */
  readonly signal?: AbortSignal;
  /** Progress and reports, one line each. Default: standard error. */
  readonly report?: (line: string) => void;
  /**
   * Secured broker (`stack:up -- --secure`): SASL_SSL with certificates generated into the state dir,
   * SCRAM users admin, adapter, service-a, service-b, StandardAuthorizer with ACLs. Default false.
   */
  readonly secure?: boolean;
  /**
   * Kafka nodes (`stack:up -- --brokers 3`): each a broker and a KRaft controller (combined mode) on
   * `DBBRIDGE_KAFKA_PORT + 2(i-1)` / `DBBRIDGE_KAFKA_CONTROLLER_PORT + 2(i-1)`, 512 MB of heap each.
   * With three or more, the topics get replication factor 3 and `min.insync.replicas` 2. Default:
   * whatever runs, else 1 (one broker, 1 GB of heap, as before).
   */
  readonly brokers?: number;
}

export interface StackDownOptions extends StackOptions {
  /** Stop the broker recorded in `<stateDir>/kafka.pid`. Default true. */
  readonly kafka?: boolean;
  /** Stop the PostgreSQL of `<stateDir>/postgres/data`. Default true. */
  readonly postgres?: boolean;
}

type Component = 'kafka' | 'postgres';
const LABEL: Record<Component, string> = { kafka: 'Kafka', postgres: 'PostgreSQL' };

function stateOf(env: Env) {
  const stateDir = resolveStateDir(env.DBBRIDGE_STATE_DIR);
  return {
    stateDir,
    pgDataDir: join(stateDir, 'postgres', 'data'),
    pgPidFile: join(stateDir, 'postgres.pid'),
    stackEnvFile: join(stateDir, 'stack.env'),
  };
}
type State = ReturnType<typeof stateOf>;

/**
 * Who a running broker or database belongs to, in `<stateDir>/<component>.owner`: `stack up` (kept
 * until `stack down`), or the run that started it (`pid` + its start time, so a reused PID is not
 * taken for it), which stops it when it ends.
 */
interface Owner {
  readonly command: string;
  /** Kafka only: the nodes the owner started (all of them are its, and `stack down` stops all). */
  readonly brokers?: number;
  readonly kept: boolean;
  readonly pid: number;
  readonly startTime: string | undefined;
}

const ownerFile = (stateDir: string, component: Component) => join(stateDir, `${component}.owner`);

function readOwner(stateDir: string, component: Component): Owner | undefined {
  try {
    return JSON.parse(readFileSync(ownerFile(stateDir, component), 'utf8')) as Owner;
  } catch {
    return undefined;
  }
}

function writeOwner(stateDir: string, component: Component, options: StackUpOptions, brokers?: number): void {
  const owner: Owner = {
    command: options.command ?? (options.keep ? 'stack up' : `process ${process.pid}`),
    ...(brokers === undefined ? {} : { brokers }),
    kept: options.keep ?? false,
    pid: process.pid,
    startTime: processStartTime(process.pid),
  };
  writeFileSync(ownerFile(stateDir, component), `${JSON.stringify(owner)}\n`);
}

/** Whether the run recorded as `owner` is still running. */
function ownerAlive(owner: Owner): boolean {
  return isAlive(owner.pid) && processStartTime(owner.pid) === owner.startTime;
}

/** One line on who holds a running component, for reports and `stack status`. */
function describeOwner(owner: Owner | undefined): string {
  if (owner === undefined) return 'left by an earlier run (no owner recorded)';
  if (owner.kept) return 'started by `stack up`; stays up until `npm run stack:down`';
  if (ownerAlive(owner))
    return `belongs to \`${owner.command}\` (pid ${owner.pid}), which stops it when it ends`;
  return `left by \`${owner.command}\` (pid ${owner.pid}), which ended without stopping it`;
}

/**
 * A component already runs. Reuse it when `stack up` keeps it or a live run owns it; otherwise it was
 * left over: say so and take it over (this run stops it when it ends, unless it is `stack up`).
 * Returns whether this run now owns it.
 */
function claim(
  state: State,
  component: Component,
  pid: number,
  options: StackUpOptions,
  brokers?: number,
): boolean {
  const report = options.report ?? ((line: string) => console.error(line));
  const owner = readOwner(state.stateDir, component);
  if (owner !== undefined && (owner.kept || ownerAlive(owner))) {
    report(`${LABEL[component]}: reusing the running server (pid ${pid}, ${describeOwner(owner)})`);
    return false;
  }
  report(
    `${LABEL[component]}: pid ${pid} was ${describeOwner(owner)}. ` +
      (options.keep
        ? 'It stays up now, until `npm run stack:down`.'
        : 'This run takes it over and stops it when it ends.') +
      ' `npm run stack:status` shows what runs; `npm run stack:down` stops it.',
  );
  writeOwner(state.stateDir, component, options, brokers);
  return !options.keep;
}

/** `127.0.0.1:p1,127.0.0.1:p2,...` of the nodes of a running broker or cluster. */
function bootstrapOf(nodes: readonly KafkaNode[]): string {
  return nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
}

async function kafkaUp(
  env: Env,
  state: State,
  options: StackUpOptions,
): Promise<{
  servers: string;
  started: boolean;
  /** Nodes of the local stack's broker or cluster; undefined for a broker named by `KAFKA_BOOTSTRAP_SERVERS`. */
  brokers?: number;
  secure?: SecureMaterial;
  admin?: KafkaSecurity;
}> {
  if (env.KAFKA_BOOTSTRAP_SERVERS !== undefined) {
    const admin = kafkaSecurityFromEnv(env);
    return { servers: env.KAFKA_BOOTSTRAP_SERVERS, started: false, ...(admin ? { admin } : {}) };
  }
  if (options.secure && (options.brokers ?? 1) > 1)
    throw new Error('a secured cluster of several brokers is not supported yet: use --secure or --brokers');
  const secure = options.secure ? await ensureSecureMaterial(state.stateDir) : undefined;
  const admin = secure ? secureClientSecurity(secure, 'admin') : undefined;
  const mode = { ...(secure ? { secure, admin } : {}) };
  // Any node of the state dir's broker or cluster that runs (node 1 may be the one that died).
  const running = kafkaNodes(state.stateDir).find((n) => n.pid !== undefined)?.pid;
  if (running !== undefined) {
    const { properties } = kafkaFiles(state.stateDir);
    const runningSecure = readFileSync(properties, 'utf8').includes('SASL_SSL://');
    if (runningSecure !== (secure !== undefined))
      throw new Error(
        `a ${runningSecure ? 'secured (SASL_SSL)' : 'open (PLAINTEXT)'} Kafka broker runs (pid ${running}); \`npm run stack:down\` stops it before a ${secure ? 'secured' : 'open'} one can start`,
      );
    const nodes = kafkaNodes(state.stateDir);
    if (options.brokers !== undefined && options.brokers !== nodes.length)
      throw new Error(
        `a Kafka ${nodes.length === 1 ? 'broker' : `cluster of ${nodes.length} brokers`} runs (pid ${running}); \`npm run stack:down\` stops it before ${options.brokers === 1 ? 'a single broker' : `a cluster of ${options.brokers}`} can start`,
      );
    const owned = claim(state, 'kafka', running, options, nodes.length);
    // A node of the cluster that is down (killed, crashed) is started again: the cluster is whole.
    for (const node of nodes.filter((n) => n.pid === undefined)) {
      (options.report ?? console.error)(`Kafka: node ${node.node} of ${nodes.length} is down; starting it`);
      // Not this run's unless it owns the cluster (the owner record stays as it is).
      const restart = { ...kafkaOptions(env, state, nodes.length, options, secure), onSpawn: undefined };
      await startKafkaNode(restart, node.node);
    }
    const ready = kafkaNodes(state.stateDir);
    await Promise.all(
      ready.map((n) => waitForKafka(`127.0.0.1:${n.port}`, n.pid, n.files.logFile, options.signal, admin)),
    );
    return { servers: bootstrapOf(ready), started: owned, brokers: ready.length, ...mode };
  }
  const brokers = options.brokers ?? 1;
  await ensureKafkaJars(state.stateDir, env.DBBRIDGE_KAFKA_VERSION);
  options.signal?.throwIfAborted();
  const startedAt = Date.now();
  const { pids, bootstrapServers } = await startKafka(kafkaOptions(env, state, brokers, options, secure));
  (options.report ?? console.error)(
    `Kafka ${env.DBBRIDGE_KAFKA_VERSION}${secure ? ' (secured: SASL_SSL, SCRAM, ACLs)' : ''}${brokers > 1 ? ` cluster of ${brokers} brokers (${bootstrapServers})` : ''}: ready in ${Date.now() - startedAt} ms (pid ${pids.join(', ')})`,
  );
  return { servers: bootstrapServers, started: !options.keep, brokers, ...mode };
}

/** How the stack starts its broker, or node `i` of its cluster (ports by `clusterPorts`). */
function kafkaOptions(
  env: Env,
  state: State,
  brokers: number,
  options: StackUpOptions,
  secure: SecureMaterial | undefined,
) {
  const [first, ...moreNodes] = clusterPorts(
    env.DBBRIDGE_KAFKA_PORT,
    env.DBBRIDGE_KAFKA_CONTROLLER_PORT,
    brokers,
  );
  return {
    stateDir: state.stateDir,
    version: env.DBBRIDGE_KAFKA_VERSION,
    port: first?.port ?? env.DBBRIDGE_KAFKA_PORT,
    controllerPort: first?.controllerPort ?? env.DBBRIDGE_KAFKA_CONTROLLER_PORT,
    moreNodes,
    signal: options.signal,
    onSpawn: () => writeOwner(state.stateDir, 'kafka', options, brokers),
    ...(secure ? { secure } : {}),
  };
}

async function postgresUp(
  env: Env,
  state: State,
  options: StackUpOptions,
): Promise<{ url: string; started: boolean }> {
  if (env.DATABASE_URL !== undefined) return { url: env.DATABASE_URL, started: false };
  const before = runningPostgres(state.pgDataDir);
  const owned = before !== undefined && claim(state, 'postgres', before, options);
  const startedAt = Date.now();
  let server: Awaited<ReturnType<typeof startPostgres>>;
  try {
    server = await startPostgres({
      dataDir: state.pgDataDir,
      port: env.DBBRIDGE_PG_PORT,
      signal: options.signal,
    });
  } catch (error) {
    // Started here (or took over) and then failed or was aborted: do not leave it running.
    if (owned || (before === undefined && runningPostgres(state.pgDataDir) !== undefined)) {
      await stopPostgres(state.pgDataDir);
    }
    throw error;
  }
  const started = server.pid !== before;
  writeFileSync(state.pgPidFile, `${server.pid}\n`);
  if (started) {
    writeOwner(state.stateDir, 'postgres', options);
    (options.report ?? console.error)(
      `PostgreSQL: ready in ${Date.now() - startedAt} ms (pid ${server.pid})`,
    );
  }
  return { url: server.url, started: started ? !options.keep : owned };
}

/**
 * Brings the local stack up: a Kafka broker and a PostgreSQL server (each reused if already running,
 * skipped if `KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` point elsewhere), the three topics of
 * `DBBRIDGE_ENV`, the migrations, and `<stateDir>/stack.env`. If any step fails (or `signal` is
 * aborted), what this call started is stopped again before it rejects.
 */
export async function stackUp(options: StackUpOptions = {}): Promise<StackUpResult> {
  const env = readEnv(options.env);
  const state = stateOf(env);
  mkdirSync(state.stateDir, { recursive: true });
  const [kafka, postgres] = await Promise.allSettled([
    kafkaUp(env, state, options),
    postgresUp(env, state, options),
  ]);
  const stopOwned = () =>
    stackDown({
      env: options.env,
      kafka: kafka.status === 'fulfilled' && kafka.value.started,
      postgres: postgres.status === 'fulfilled' && postgres.value.started,
    });
  try {
    if (kafka.status === 'rejected') throw kafka.reason;
    if (postgres.status === 'rejected') throw postgres.reason;
    options.signal?.throwIfAborted();
    const { secure } = kafka.value;
    const admin = new Kafka({
      clientId: 'dbbridge-stack',
      brokers: kafka.value.servers.split(','),
      logLevel: logLevel.NOTHING, // failures are thrown; retries on the way are noise
      ...kafkajsSecurity(kafka.value.admin),
    }).admin();
    await admin.connect();
    try {
      // A cluster of three or more: three replicas of every partition, and an acks=all write (both
      // transports' producers) is acknowledged once two of them have it.
      const replicated =
        (kafka.value.brokers ?? 1) >= 3 ? { replicationFactor: 3, minInsyncReplicas: 2 } : {};
      await ensureTopics(admin, topicNames(env.DBBRIDGE_ENV), {
        requestPartitions: 12,
        replyPartitions: 24,
        ...replicated,
      });
      if (secure) {
        const acls = {
          adapters: ['adapter'],
          adapterGroup: env.DBBRIDGE_ADAPTER_GROUP,
          services: ['service-a', 'service-b'],
        };
        await createBridgeAcls(admin, env.DBBRIDGE_ENV, acls);
        // Each service's own topics (identity from the topic, docs/per-service-topics.md). A topic
        // created a moment ago may still be unknown to the metadata check: retried, idempotent.
        for (const service of acls.services) {
          const topics = serviceTopicNames(env.DBBRIDGE_ENV, service);
          await retryUntil(() => ensureTopics(admin, topics, { requestPartitions: 6, replyPartitions: 24 }), {
            timeoutMs: 30_000,
            ...(options.signal ? { signal: options.signal } : {}),
          });
        }
        await createServiceAcls(admin, env.DBBRIDGE_ENV, acls);
      }
      // A coordinator lookup makes a fresh broker create __consumer_offsets now, so the first consumer
      // group of a test does not wait for it (and kafkajs does not log "coordinator not available").
      await admin.describeGroups(['dbbridge-stack-warm-up']);
    } finally {
      await admin.disconnect();
    }
    options.signal?.throwIfAborted();
    // Migrations run as the schema owner; the adapter connects as a role that owns nothing (the
    // local stack's; a database named by DATABASE_URL brings its own roles).
    const ownerUrl =
      env.DATABASE_URL === undefined ? postgres.value.url : (env.DATABASE_OWNER_URL ?? env.DATABASE_URL);
    await migrate(ownerUrl);
    let databaseUrl = postgres.value.url;
    if (env.DATABASE_URL === undefined) {
      await ensureRoles(ownerUrl);
      databaseUrl = roleUrl(ownerUrl, ADAPTER_ROLE);
    }
    // Secured: the adapter's credentials (`npm run adapter` reads this file); services' in <user>.env.
    const security = secure
      ? Object.entries({
          ...secureClientEnv(secure, 'adapter'),
          DBBRIDGE_SERVICES: 'service-a,service-b',
        }).map(([k, v]) => `${k}=${v}\n`)
      : [];
    if (secure) writeUserEnvFiles(secure, kafka.value.servers, env.DBBRIDGE_ENV);
    writeFileSync(
      state.stackEnvFile,
      `KAFKA_BOOTSTRAP_SERVERS=${kafka.value.servers}\nDATABASE_URL=${databaseUrl}\nDATABASE_OWNER_URL=${ownerUrl}\nDBBRIDGE_ENV=${env.DBBRIDGE_ENV}\n${security.join('')}`,
      { mode: 0o600 },
    );
    return {
      kafkaBootstrapServers: kafka.value.servers,
      databaseUrl,
      databaseOwnerUrl: ownerUrl,
      startedKafka: kafka.value.started,
      startedPostgres: postgres.value.started,
      ...(secure ? { secure } : {}),
    };
  } catch (error) {
    await stopOwned();
    throw error;
  }
}

/**
 * Stops the broker recorded in `<stateDir>/kafka.pid` and the PostgreSQL of the stack's data directory
 * (only those: never by name), and removes `stack.env` when both are asked for.
 */
export async function stackDown(options: StackDownOptions = {}): Promise<void> {
  const env = readEnv(options.env);
  const state = stateOf(env);
  if (options.kafka ?? true) {
    if (await stopKafka(state.stateDir)) console.error('Kafka: stopped');
    rmSync(ownerFile(state.stateDir, 'kafka'), { force: true });
  }
  if (options.postgres ?? true) {
    if (await stopPostgres(state.pgDataDir)) console.error('PostgreSQL: stopped');
    rmSync(state.pgPidFile, { force: true });
    rmSync(ownerFile(state.stateDir, 'postgres'), { force: true });
  }
  if ((options.kafka ?? true) && (options.postgres ?? true)) rmSync(state.stackEnvFile, { force: true });
}

export interface ComponentStatus {
  /** Kafka: the first running node's. */
  readonly pid: number | undefined;
  /** Kafka only, while any node runs: every node of the broker or cluster, with its PID if it runs. */
  readonly nodes?: readonly {
    readonly node: number;
    readonly port: number;
    readonly pid: number | undefined;
  }[];
  /** Who holds it (see `describeOwner`); undefined when it is not running. */
  readonly owner: string | undefined;
  /** Whether it runs without a live owner that will stop it (and is not kept by `stack up`). */
  readonly leftover: boolean;
}

/** What of the local stack runs, and who will stop it. */
export function stackStatus(options: StackOptions = {}): Record<Component, ComponentStatus> {
  const state = stateOf(readEnv(options.env));
  const of = (component: Component, pid: number | undefined): ComponentStatus => {
    if (pid === undefined) return { pid, owner: undefined, leftover: false };
    const owner = readOwner(state.stateDir, component);
    return {
      pid,
      owner: describeOwner(owner),
      leftover: owner === undefined || (!owner.kept && !ownerAlive(owner)),
    };
  };
  const nodes = kafkaNodes(state.stateDir);
  const kafka = of('kafka', nodes.find((n) => n.pid !== undefined)?.pid);
  return {
    kafka:
      kafka.pid === undefined
        ? kafka
        : { ...kafka, nodes: nodes.map(({ node, port, pid }) => ({ node, port, pid })) },
    postgres: of('postgres', runningPostgres(state.pgDataDir)),
  };
}

function printStatus(): void {
  const env = readEnv();
  const state = stateOf(env);
  const status = stackStatus();
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`state directory: ${state.stateDir}`);
  const { kafka, postgres } = status;
  const nodes = kafka.nodes ?? [];
  if (kafka.pid === undefined) out('Kafka:      not running');
  else if (nodes.length <= 1)
    out(
      `Kafka:      running, pid ${kafka.pid}, 127.0.0.1:${nodes[0]?.port ?? env.DBBRIDGE_KAFKA_PORT} (log ${kafkaFiles(state.stateDir).logFile}); ${kafka.owner}`,
    );
  else {
    const up = nodes.filter((n) => n.pid !== undefined).length;
    out(`Kafka:      cluster of ${nodes.length} brokers, ${up} running; ${kafka.owner}`);
    for (const n of nodes)
      out(
        `  broker ${n.node}: ${n.pid === undefined ? 'DOWN' : `running, pid ${n.pid}`}, 127.0.0.1:${n.port} (log ${kafkaFiles(state.stateDir, n.node).logFile})`,
      );
  }
  out(
    postgres.pid === undefined
      ? 'PostgreSQL: not running'
      : `PostgreSQL: running, pid ${postgres.pid}, 127.0.0.1:${runningPort(state.pgDataDir)} (cluster ${clusterDir(state.pgDataDir)}); ${postgres.owner}`,
  );
  if (existsSync(state.stackEnvFile)) out(`addresses:  ${state.stackEnvFile}`);
  if (kafka.leftover || postgres.leftover)
    out(
      'Left over from an earlier run: `npm run stack:down` stops it (the next `npm start` or `npm test` would take it over and stop it).',
    );
  else if (kafka.pid !== undefined || postgres.pid !== undefined) out('`npm run stack:down` stops it.');
}

/** `postgres://user:secret@host` -> `postgres://user:***@host`, `KAFKA_SASL_PASSWORD=***`, for printing. */
function redact(text: string): string {
  return text.replace(/(\/\/[^:/@\s]+:)[^@\s]+@/g, '$1***@').replace(/^(KAFKA_SASL_PASSWORD=).*$/gm, '$1***');
}

/** `--brokers N` / `--brokers=N` of `stack up`, if given. */
function brokersArgument(args: readonly string[]): number | undefined {
  const i = args.findIndex((a) => a === '--brokers' || a.startsWith('--brokers='));
  if (i < 0) return undefined;
  const arg = args[i] as string;
  const text = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : args[i + 1];
  const n = Number(text);
  if (text === undefined || !/^\d+$/.test(text) || n < 1 || n > MAX_KAFKA_NODES)
    throw new Error(
      `--brokers takes a number of Kafka brokers from 1 to ${MAX_KAFKA_NODES}, got ${JSON.stringify(text ?? '')}`,
    );
  return n;
}

if (isMain(import.meta.url)) {
  assertNodeVersion();
  const command = process.argv[2];
  try {
    if (command === 'up') {
      const secure = process.argv.includes('--secure');
      const brokers = brokersArgument(process.argv.slice(3));
      const up = await stackUp({
        keep: true,
        command: 'stack up',
        secure,
        ...(brokers === undefined ? {} : { brokers }),
      });
      process.stdout.write(redact(readFileSync(stateOf(readEnv()).stackEnvFile, 'utf8')));
      if (up.secure)
        process.stdout.write(
          `# secured: each user's variables (passwords included, mode 600) are in ${up.secure.dir}/<user>.env\n#   set -a; . ${up.secure.dir}/service-a.env; set +a\n`,
        );
    } else if (command === 'down') {
      await stackDown();
    } else if (command === 'status') {
      printStatus();
    } else {
      console.error('usage: tsx scripts/stack.ts up [--secure] [--brokers N]|down|status');
      process.exitCode = 2;
    }
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  }
}
