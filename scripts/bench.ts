import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { DatabaseEventClient } from '../src/client/index.js';
import { assertNodeVersion, kafkaSecurityFromEnv, readEnv } from '../src/env.js';
import { type TopicNames, topicNames } from '../src/events/topics.js';
import { kafkajsSecurity } from '../src/transport/client-security.js';
import { ensureTopics } from '../src/transport/kafka-admin.js';
import { PlatformaticTransport } from '../src/transport/platformatic-transport.js';
import type { Transport } from '../src/transport/types.js';
import { AdapterProcess } from './bench/adapter-process.js';
import { KafkaTap, measureBreakdown, measureKafkaHop } from './bench/breakdown.js';
import { type BenchConfig, parseConfig, USAGE, type WorkloadPlan } from './bench/config.js';
import { closedLoop, type LoadResult, openLoop } from './bench/load.js';
import { type CpuSnapshot, cpuDelta, cpuSnapshot, type WatchedPids } from './bench/proc.js';
import { type CpuProfile, profileMarkdown, readProfile, summarizeProfile } from './bench/profile.js';
import {
  type BenchResults,
  latencyChart,
  markdownReport,
  type PathName,
  type Scenario,
  type SoakSample,
  soakChart,
} from './bench/report.js';
import {
  deleteRows,
  deleteStaleRows,
  seedRows,
  WORKLOADS,
  type Workload,
  type WorkloadContext,
} from './bench/workloads.js';
import { isMain, readPidFile, repoRoot, resolveStateDir } from './stack/process.js';
import { type StackUpResult, stackDown, stackUp } from './stack.js';

const log = (message: string) => console.error(`[bench] ${message}`);

/** Everything a run sets up, so that it can be torn down whatever happened. */
interface Harness {
  readonly config: BenchConfig;
  readonly runTag: string;
  readonly topics: TopicNames;
  readonly pool: pg.Pool;
  readonly clients: DatabaseEventClient[];
  readonly adapter: AdapterProcess;
  readonly pids: WatchedPids;
  readonly ctx: WorkloadContext;
  readonly results: BenchResults;
}

/** What a run has set up so far: torn down whatever step failed. */
interface Resources {
  readonly runTag: string;
  readonly topics: TopicNames;
  stack?: StackUpResult;
  topicsCreated?: boolean;
  pool?: pg.Pool;
  adapter?: AdapterProcess;
  readonly clients: DatabaseEventClient[];
}

let interrupted = false;
/** --transport platformatic: the clients' transports (a client does not close a transport it was given). */
const clientTransports: Transport[] = [];

function gitDescribe(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: repoRoot,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', 'src'], {
      cwd: repoRoot,
      encoding: 'utf8',
    }).trim();
    return dirty === '' ? head : `${head} (+${dirty.split('\n').length} changed files under src/)`;
  } catch {
    return 'unknown';
  }
}

/**
 * TLS and SASL of the bench's Kafka clients (`KAFKA_SECURITY_PROTOCOL`, ...): against a secured
 * cluster the bench needs a principal that may create and delete its run's topics and groups.
 */
function kafkaSecurity() {
  return kafkaSecurityFromEnv(readEnv());
}

function stackPids(env: NodeJS.ProcessEnv): { kafka?: number | undefined; postgres?: number | undefined } {
  const e = readEnv(env);
  const stateDir = resolveStateDir(e.DBBRIDGE_STATE_DIR);
  return {
    kafka: e.KAFKA_BOOTSTRAP_SERVERS === undefined ? readPidFile(join(stateDir, 'kafka.pid')) : undefined,
    postgres: e.DATABASE_URL === undefined ? readPidFile(join(stateDir, 'postgres.pid')) : undefined,
  };
}

function callFor(h: Harness, workload: Workload, path: PathName): (i: number) => Promise<unknown> {
  if (path === 'direct') return () => workload.direct(h.pool, h.ctx);
  const clients = h.clients;
  return (i) => workload.dbbridge(clients[i % clients.length] as DatabaseEventClient, h.ctx);
}

function scenarioOf(
  h: Harness,
  base: {
    name: string;
    path: PathName;
    mode: 'open' | 'closed';
    target: number | null;
    concurrency: number | null;
  },
  durationS: number,
  startedAt: Date,
  result: LoadResult,
  before: CpuSnapshot,
  after: CpuSnapshot,
): Scenario {
  const total = result.ok + result.errors;
  let reason: string | undefined;
  if (base.mode === 'open' && base.target !== null) {
    if (result.achievedRps < 0.9 * base.target)
      reason = `achieved ${result.achievedRps}/s < 90 % of ${base.target}/s`;
    else if (total > 0 && result.errors / total > 0.01) reason = `${result.errors} errors`;
    else if (result.latency.p99_ms > h.config.maxP99Ms)
      reason = `p99 ${result.latency.p99_ms} ms > ${h.config.maxP99Ms} ms`;
    if (result.abortedReason !== undefined) reason = `${reason ?? 'stopped'}; ${result.abortedReason}`;
  }
  const { count: _count, min_ms: _min, ...latency } = result.latency;
  return {
    name: base.name,
    path: base.path,
    mode: base.mode,
    target_rps: base.target,
    concurrency: base.concurrency,
    achieved_rps: result.achievedRps,
    ...latency,
    errors: result.errors,
    error_kinds: result.errorKinds,
    ok: result.ok,
    sent: result.sent,
    duration_s: durationS,
    elapsed_s: result.elapsedS,
    max_outstanding: result.maxOutstanding,
    saturated: reason !== undefined,
    ...(reason === undefined ? {} : { saturation_reason: reason }),
    ...cpuDelta(before, after, result.ok),
    client_rss_mb: Math.round(process.memoryUsage().rss / 1024 / 102.4) / 10,
    started_at: startedAt.toISOString(),
  };
}

function describe(s: Scenario): string {
  const rate = s.mode === 'open' ? `${s.target_rps}/s` : `closed x${s.concurrency}`;
  const cpu = `cpu s/1k client ${s.client_cpu_s_per_1k ?? '-'} adapter ${s.adapter_cpu_s_per_1k ?? '-'}`;
  return (
    `${s.name.padEnd(18)} ${s.path.padEnd(8)} ${rate.padStart(12)}: achieved ${String(s.achieved_rps).padStart(8)}/s ` +
    `p50 ${s.p50_ms} p99 ${s.p99_ms} p99.9 ${s.p999_ms} max ${s.max_ms} ms, errors ${s.errors}; ${cpu}` +
    (s.saturated ? `  [saturated: ${s.saturation_reason}]` : '')
  );
}

async function measureOpen(h: Harness, workload: Workload, path: PathName, rate: number, seconds: number) {
  const startedAt = new Date();
  const before = cpuSnapshot(h.pids);
  const result = await openLoop({
    rate,
    durationMs: seconds * 1000,
    call: callFor(h, workload, path),
    drainTimeoutMs: h.config.timeoutMs + 1000,
    maxOutstanding: Math.max(1000, rate * 2),
  });
  const after = cpuSnapshot(h.pids);
  const s = scenarioOf(
    h,
    { name: workload.name, path, mode: 'open', target: rate, concurrency: null },
    seconds,
    startedAt,
    result,
    before,
    after,
  );
  h.results.scenarios.push(s);
  log(describe(s));
  return s;
}

async function measureClosed(h: Harness, workload: Workload, path: PathName, seconds: number) {
  const startedAt = new Date();
  const before = cpuSnapshot(h.pids);
  const result = await closedLoop({
    concurrency: h.config.concurrency,
    durationMs: seconds * 1000,
    call: callFor(h, workload, path),
  });
  const after = cpuSnapshot(h.pids);
  const s = scenarioOf(
    h,
    { name: workload.name, path, mode: 'closed', target: null, concurrency: h.config.concurrency },
    seconds,
    startedAt,
    result,
    before,
    after,
  );
  h.results.scenarios.push(s);
  log(describe(s));
  return s;
}

async function warmUp(h: Harness, workload: Workload): Promise<void> {
  for (const path of ['direct', 'dbbridge'] as const) {
    await openLoop({
      rate: 300,
      durationMs: h.config.warmupSeconds * 1000,
      call: callFor(h, workload, path),
      drainTimeoutMs: h.config.timeoutMs + 1000,
      maxOutstanding: 2000,
    });
  }
}

/** The ladder of one workload, both paths interleaved rate by rate, each stopping at its first saturated step. */
async function runWorkload(
  h: Harness,
  workload: Workload,
  plan: WorkloadPlan,
  deadline: number,
): Promise<void> {
  await warmUp(h, workload);
  const stepCost = plan.stepSeconds * 1000 + 700;
  const closedCost =
    plan.closedSeconds > 0 && h.config.phases.has('closed') ? 2 * (plan.closedSeconds * 1000 + 700) : 0;
  if (h.config.phases.has('ladder')) {
    const live = new Set<PathName>(['direct', 'dbbridge']);
    for (const rate of plan.rates) {
      for (const path of ['direct', 'dbbridge'] as const) {
        if (!live.has(path) || interrupted) continue;
        if (Date.now() + stepCost + closedCost > deadline) {
          h.results.notes.push(
            `${workload.name}: ladder cut at ${rate}/s for ${path} (time budget); pass --budget-seconds for more.`,
          );
          live.clear();
          break;
        }
        const s = await measureOpen(h, workload, path, rate, plan.stepSeconds);
        if (s.saturated) live.delete(path);
        await sleep(500);
      }
      if (live.size === 0) break;
    }
  }
  if (plan.closedSeconds > 0 && h.config.phases.has('closed') && !interrupted) {
    for (const path of ['direct', 'dbbridge'] as const) {
      await measureClosed(h, workload, path, plan.closedSeconds);
      await sleep(500);
    }
  }
  if (workload.writes) {
    const deleted = await deleteRows(h.pool, h.runTag, true);
    if (deleted > 0) log(`${workload.name}: deleted the ${deleted} rows it inserted`);
  }
}

function writeOutputs(h: Harness): void {
  const { config, results } = h;
  mkdirSync(dirname(config.out), { recursive: true });
  const descriptions = Object.fromEntries(WORKLOADS.map((w) => [w.name, w.description]));
  writeFileSync(config.out, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(config.markdown, markdownReport(results, descriptions));
  if (results.scenarios.some((s) => s.mode === 'open')) writeFileSync(config.svg, latencyChart(results));
  if (results.soak.length > 0) writeFileSync(config.soakSvg, soakChart(results));
}

async function runSoak(h: Harness): Promise<void> {
  const { soakSeconds, soakRate, soakSampleSeconds } = h.config;
  const workload = WORKLOADS.find((w) => w.name === 'pk_select') as Workload;
  log(
    `soak: dbbridge pk_select at ${soakRate}/s for ${soakSeconds} s, sampling every ${soakSampleSeconds} s`,
  );
  const started = performance.now();
  const samples: SoakSample[] = h.results.soak;
  while ((performance.now() - started) / 1000 < soakSeconds && !interrupted) {
    const r = await openLoop({
      rate: soakRate,
      durationMs: soakSampleSeconds * 1000,
      call: callFor(h, workload, 'dbbridge'),
      drainTimeoutMs: h.config.timeoutMs + 1000,
      maxOutstanding: Math.max(1000, soakRate * 2),
    });
    const mem = process.memoryUsage();
    const sample: SoakSample = {
      t_s: Math.round((performance.now() - started) / 100) / 10,
      rss_mb: Math.round(mem.rss / 1024 / 102.4) / 10,
      heap_used_mb: Math.round(mem.heapUsed / 1024 / 102.4) / 10,
      achieved_rps: r.achievedRps,
      p50_ms: r.latency.p50_ms,
      p99_ms: r.latency.p99_ms,
      errors: r.errors,
    };
    samples.push(sample);
    log(
      `soak t=${sample.t_s}s rss ${sample.rss_mb} MB heap ${sample.heap_used_mb} MB p99 ${sample.p99_ms} ms`,
    );
  }
}

/** Steady dbbridge load with both processes profiled; writes the profiles and a summary. */
async function runProfile(
  h: Harness,
): Promise<{ fromUs: number; toUs: number; requests: number; client: CpuProfile }> {
  const { profileRate, profileSeconds, profileWorkload } = h.config;
  const workload = WORKLOADS.find((w) => w.name === profileWorkload);
  if (workload === undefined) throw new Error(`unknown --profile-workload ${profileWorkload}`);
  log(
    `profile: dbbridge ${workload.name} at ${profileRate}/s for ${profileSeconds} s (after 3 s of warm-up)`,
  );
  await openLoop({
    rate: profileRate,
    durationMs: 3000,
    call: callFor(h, workload, 'dbbridge'),
    drainTimeoutMs: h.config.timeoutMs + 1000,
    maxOutstanding: profileRate * 5,
  });
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const s = await measureOpen(h, workload, 'dbbridge', profileRate, profileSeconds);
  const toUs = Number(process.hrtime.bigint() / 1000n);
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  return { fromUs, toUs, requests: s.ok, client: profile as unknown as CpuProfile };
}

async function setUp(config: BenchConfig, res: Resources): Promise<Harness> {
  const stack = await stackUp();
  res.stack = stack;
  const { runTag, topics } = res;
  const results: BenchResults = {
    meta: {
      started_at: new Date().toISOString(),
      quick: config.quick,
      transport: config.transport,
      idempotent_writes: config.idempotentWrites,
      node: process.versions.node,
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model ?? 'unknown',
      load_average_at_start: loadavg().map((l) => Math.round(l * 100) / 100),
      git: gitDescribe(),
      pool_max: config.poolMax,
      adapter_max_in_flight: config.maxInFlight ?? config.poolMax,
      clients: config.clients,
      closed_loop_concurrency: config.concurrency,
      step_seconds: config.quick ? 2 : '10 (pk_select), 5 (others)',
      seed_rows: config.seedRows,
      request_timeout_ms: config.timeoutMs,
      max_p99_ms: config.maxP99Ms,
      run_tag: runTag,
      topic_env: runTag,
      client_options:
        'maxRetries 0, circuit breaker off (so an overload shows as latency and errors, not as retries or fast failures)',
    },
    scenarios: [],
    breakdown: [],
    soak: [],
    notes: [],
  };

  const admin = new Kafka({
    clientId: 'dbbridge-bench',
    brokers: stack.kafkaBootstrapServers.split(','),
    logLevel: logLevel.NOTHING,
    ...kafkajsSecurity(kafkaSecurity()),
  }).admin();
  await admin.connect();
  try {
    res.topicsCreated = true;
    await ensureTopics(admin, topics, { requestPartitions: 12, replyPartitions: 24 });
  } finally {
    await admin.disconnect();
  }

  const pool = new pg.Pool({
    connectionString: stack.databaseUrl,
    max: config.poolMax,
    application_name: 'dbbridge-bench',
  });
  pool.on('error', () => {});
  res.pool = pool;
  const stale = await deleteStaleRows(pool);
  if (stale > 0) log(`deleted ${stale} rows left by earlier benchmark runs`);
  log(`seeding ${config.seedRows} agent_execution_logs rows tagged ${runTag}`);
  const ids = await seedRows(pool, runTag, config.seedRows);

  log(`starting the adapter (DBBRIDGE_ENV=${runTag}, pool ${config.poolMax})`);
  const adapter = await AdapterProcess.start({
    bootstrapServers: stack.kafkaBootstrapServers,
    databaseUrl: stack.databaseUrl,
    topicEnv: runTag,
    groupId: `dbbridge-bench-adapter-${runTag}`,
    poolMax: config.poolMax,
    maxInFlight: config.maxInFlight,
    cpuProfileDir: config.profile ? config.profileDir : undefined,
    transport: config.transport,
  });
  res.adapter = adapter;
  const clients = res.clients;
  const harness: Harness = {
    config,
    runTag,
    topics,
    pool,
    clients,
    adapter,
    pids: { adapter: adapter.pid, ...stackPids(process.env) },
    ctx: { ids, runTag, timeoutMs: config.timeoutMs },
    results,
  };
  for (let i = 0; i < config.clients; i++) {
    let transport: Transport | undefined;
    if (config.transport === 'platformatic') {
      transport = new PlatformaticTransport({
        brokers: stack.kafkaBootstrapServers.split(','),
        clientId: 'bench',
        ...(kafkaSecurity() ? { security: kafkaSecurity() } : {}),
      });
      clientTransports.push(transport);
    }
    const client = new DatabaseEventClient({
      ...(transport === undefined ? {} : { transport }),
      bootstrapServers: stack.kafkaBootstrapServers,
      topicEnv: runTag,
      requestTimeoutMs: config.timeoutMs,
      maxRetries: 0,
      enableCircuitBreaker: false,
      idempotentWrites: config.idempotentWrites,
      replyPartition: i % 24,
    });
    clients.push(client);
    await client.start();
  }
  // The adapter's group may still be joining: requests sent before it owns the partitions are not read.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await (clients[0] as DatabaseEventClient).healthCheck({ roundTrip: true, timeoutMs: 1500 });
    if (ok) break;
    await sleep(200);
    if (Date.now() > deadline)
      throw new Error(`no round trip through the adapter after 60 s:\n${adapter.logTail()}`);
  }
  log('round trip through the adapter works');
  return harness;
}

async function tearDown(res: Resources): Promise<void> {
  await Promise.all(res.clients.map((c) => c.stop().catch(() => {})));
  await Promise.all(clientTransports.map((t) => t.close().catch(() => {})));
  if (res.adapter !== undefined) {
    const code = await res.adapter.stop();
    if (code !== 0) log(`the adapter exited with ${code}:\n${res.adapter.logTail()}`);
  }
  if (res.pool !== undefined) {
    const deleted = await deleteRows(res.pool, res.runTag).catch(() => 0);
    log(`deleted the run's ${deleted} rows`);
    await res.pool.end().catch(() => {});
  }
  const stack = res.stack;
  if (stack !== undefined && res.topicsCreated) {
    const admin = new Kafka({
      clientId: 'dbbridge-bench',
      brokers: stack.kafkaBootstrapServers.split(','),
      logLevel: logLevel.NOTHING,
      ...kafkajsSecurity(kafkaSecurity()),
    }).admin();
    try {
      await admin.connect();
      await admin.deleteGroups([`dbbridge-bench-adapter-${res.runTag}`]).catch(() => {});
      await admin.deleteTopics({ topics: [res.topics.requested, res.topics.completed, res.topics.failed] });
    } catch (error) {
      log(`could not delete the run's topics: ${(error as Error).message}`);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
  if (stack?.startedKafka || stack?.startedPostgres) {
    log('stopping the stack this run started');
    await stackDown({ kafka: stack.startedKafka, postgres: stack.startedPostgres });
  }
}

async function main(): Promise<number> {
  assertNodeVersion();
  const config = parseConfig(process.argv.slice(2));
  if (config === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const selected = WORKLOADS.filter(
    (w) => config.workloads === undefined || config.workloads.includes(w.name),
  );
  const unknown = (config.workloads ?? []).filter((n) => !WORKLOADS.some((w) => w.name === n));
  if (unknown.length > 0) throw new Error(`unknown workloads: ${unknown.join(', ')}`);
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    log('interrupted: finishing the current step, then cleaning up');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const t0 = Date.now();
  const runTag = `bench-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const res: Resources = { runTag, topics: topicNames(runTag), clients: [] };
  let harness: Harness | undefined;
  let profiled: Awaited<ReturnType<typeof runProfile>> | undefined;
  try {
    harness = await setUp(config, res);
    const h = harness;
    const kafkaServers = (res.stack as StackUpResult).kafkaBootstrapServers;
    if (config.profile) {
      profiled = await runProfile(h);
    } else {
      if (config.phases.has('breakdown')) {
        const tap = new KafkaTap(kafkaServers, h.topics, h.runTag, kafkaSecurity());
        await tap.start();
        try {
          await openLoop({
            rate: 300,
            durationMs: config.quick ? 1000 : 3000,
            call: callFor(h, WORKLOADS[0] as Workload, 'dbbridge'),
            drainTimeoutMs: config.timeoutMs + 1000,
            maxOutstanding: 2000,
          });
          for (const rate of config.breakdownRates) {
            if (interrupted) break;
            const b = await measureBreakdown({
              client: h.clients[0] as DatabaseEventClient,
              tap,
              ctx: h.ctx,
              rate,
              durationMs: config.breakdownSeconds * 1000,
            });
            h.results.breakdown.push(b);
            const seg = Object.entries(b.segments)
              .map(([k, v]) => `${k} ${v.mean_ms}`)
              .join(', ');
            log(`breakdown at ${rate}/s (mean ms, ${b.samples} samples): ${seg}`);
          }
        } finally {
          await tap.stop();
        }
        for (const rate of config.breakdownRates) {
          if (interrupted) break;
          const b = await measureKafkaHop({
            bootstrapServers: kafkaServers,
            security: kafkaSecurity(),
            topic: `${h.runTag}.bench-hop-${rate}`,
            rate,
            durationMs: config.breakdownSeconds * 1000,
          });
          h.results.breakdown.push(b);
          const seg = Object.entries(b.segments)
            .map(([k, v]) => `${k} ${v.mean_ms}`)
            .join(', ');
          log(`kafka hop at ${rate}/s (mean ms, ${b.samples} samples): ${seg}`);
        }
      }
      const budgetEnd = Date.now() + config.budgetSeconds * 1000;
      let weights = selected.reduce((sum, w) => sum + config.plan(w.name).weight, 0);
      const measured = config.phases.has('ladder') || config.phases.has('closed') ? selected : [];
      for (const workload of measured) {
        if (interrupted) break;
        const plan = config.plan(workload.name);
        const deadline = Date.now() + ((budgetEnd - Date.now()) * plan.weight) / weights;
        weights -= plan.weight;
        log(`workload ${workload.name}: rates ${plan.rates.join(', ')}; ${plan.stepSeconds} s steps`);
        await runWorkload(h, workload, plan, deadline);
        writeOutputs(h);
      }
      if (config.soakSeconds > 0 && !interrupted) await runSoak(h);
      h.results.meta.finished_at = new Date().toISOString();
      h.results.meta.wall_seconds = Math.round((Date.now() - t0) / 1000);
      h.results.meta.adapter_warn_or_error_lines = h.adapter.warnings;
      writeOutputs(h);
    }
  } finally {
    await tearDown(res);
  }

  if (profiled !== undefined && harness !== undefined) {
    const dir = config.profileDir;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'client.cpuprofile'), JSON.stringify(profiled.client));
    const adapterProfile = readProfile(join(dir, 'adapter.cpuprofile'));
    const adapterWindowed = summarizeProfile(adapterProfile, profiled.fromUs, profiled.toUs);
    const windowOk = adapterWindowed.windowMs > 0;
    const md = [
      `# CPU profiles: dbbridge ${config.profileWorkload} at ${config.profileRate}/s for ${config.profileSeconds} s`,
      '',
      `Open in Chrome DevTools or speedscope: ${relative(repoRoot, join(dir, 'adapter.cpuprofile'))}, ${relative(repoRoot, join(dir, 'client.cpuprofile'))}. ` +
        'Profiling slows both processes; use the shares, not the absolute times.',
      '',
      profileMarkdown(
        `Adapter process${windowOk ? ' (samples inside the measured window)' : ' (whole run: the window did not match the profile clock)'}`,
        windowOk ? adapterWindowed : summarizeProfile(adapterProfile),
        profiled.requests,
      ),
      profileMarkdown(
        'Bench process (dbbridge client + load generator)',
        summarizeProfile(profiled.client),
        profiled.requests,
      ),
    ].join('\n');
    writeFileSync(join(dir, 'summary.md'), md);
    log(`profiles and summary in ${relative(repoRoot, dir)}/`);
  } else if (harness !== undefined) {
    log(
      `results: ${relative(repoRoot, config.out)}, ${relative(repoRoot, config.markdown)}, ${relative(repoRoot, config.svg)} ` +
        `(${Math.round((Date.now() - t0) / 1000)} s)`,
    );
  }
  return 0;
}

if (isMain(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (error) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : error);
      process.exit(1);
    },
  );
}
