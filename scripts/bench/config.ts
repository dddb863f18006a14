import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_TRANSPORT } from '../../src/transport/create-transport.js';
import { repoRoot } from '../stack/process.js';

export const DEFAULT_LADDER = [100, 500, 1000, 2000, 5000, 10_000, 20_000, 40_000] as const;
export const PHASES = ['breakdown', 'ladder', 'closed'] as const;
export type Phase = (typeof PHASES)[number];

/** How one workload is measured. */
export interface WorkloadPlan {
  readonly rates: readonly number[];
  readonly stepSeconds: number;
  /** Closed-loop run after the ladder (0: none). */
  readonly closedSeconds: number;
  /** Share of the time budget, relative to the other workloads. */
  readonly weight: number;
}

export interface BenchConfig {
  readonly quick: boolean;
  readonly out: string;
  readonly markdown: string;
  readonly svg: string;
  /** Client memory over the soak (written only with --soak-seconds). */
  readonly soakSvg: string;
  readonly workloads: readonly string[] | undefined;
  readonly phases: ReadonlySet<Phase>;
  readonly plan: (workload: string) => WorkloadPlan;
  readonly poolMax: number;
  readonly maxInFlight: number | undefined;
  readonly concurrency: number;
  readonly clients: number;
  readonly seedRows: number;
  readonly timeoutMs: number;
  readonly maxP99Ms: number;
  readonly warmupSeconds: number;
  /** Seconds for the measured phases (ladder, closed loop) of all workloads together. */
  readonly budgetSeconds: number;
  readonly breakdownRates: readonly number[];
  readonly breakdownSeconds: number;
  readonly soakSeconds: number;
  readonly soakRate: number;
  readonly soakSampleSeconds: number;
  readonly profile: boolean;
  readonly profileWorkload: string;
  readonly profileRate: number;
  readonly profileSeconds: number;
  readonly profileDir: string;
  /** Kafka client library of the adapter and the bench's clients (--transport). */
  readonly transport: 'kafkajs' | 'platformatic';
  /** The clients send writes with idempotency keys (--idempotent-writes on|off; default on, the client's). */
  readonly idempotentWrites: boolean;
}

export const USAGE = `npm run bench -- [options]

Measures the same workloads through dbbridge (client -> Kafka -> adapter -> PostgreSQL -> Kafka -> client)
and through a direct pg pool of the same size, open loop at rising rates until each path saturates,
plus a closed-loop run for peak throughput. Starts (or reuses) the local stack and runs the adapter as
a child process. Reports; never fails on numbers.

  --quick                   about 2 minutes: the full ladder for pk_select only, 2 s steps
  --out PATH                results JSON (default bench/results.json); the Markdown table and the
                            SVG chart go next to it (results.md, latency.svg; soak.svg with --soak-seconds)
  --workloads a,b           pk_select, select_100, pattern3_aggregate, update_pk, insert, insert_api
  --phases a,b              breakdown, ladder, closed (default: all)
  --rates 100,500,...       offered rates of the ladder (default ${DEFAULT_LADDER.join(',')})
  --max-rate N              cap the ladder at N requests/s
  --step-seconds N          length of each open-loop step (default 10 for pk_select, 5 for the others; quick 2)
  --budget-seconds N        time for the ladder and closed-loop phases together (default 500; quick 90)
  --pool-max N              pool size of the adapter and of the direct pool (default DBBRIDGE_POOL_MAX or 20)
  --max-in-flight N         DBBRIDGE_MAX_IN_FLIGHT of the adapter (default: the adapter's, 4 x pool size)
  --concurrency N           closed-loop workers (default 64)
  --clients N               DatabaseEventClient instances sharing the load (default 1)
  --seed-rows N             agent_execution_logs rows to seed (default 10000)
  --timeout-ms N            dbbridge reply timeout (default 5000)
  --max-p99-ms N            a step with a higher p99 counts as saturated (default 1000)
  --soak-seconds N          also run dbbridge pk_select at --soak-rate for N s, sampling client RSS
  --soak-rate N             (default 1000)    --soak-sample-seconds N   (default 5)
  --profile                 instead of the ladder: CPU profiles of the adapter (--cpu-prof) and of the
                            bench process under a steady dbbridge load; summary in bench/results-profile/
  --transport NAME          platformatic (@platformatic/kafka, default) or kafkajs, for the adapter
                            and the bench's clients; the breakdown phase's raw Kafka hop stays kafkajs
  --idempotent-writes on|off  writes carry idempotency keys, recorded by the adapter (default on, the
                            client's default); off: the cost of writes without exactly-once recording
  --profile-workload NAME   (default pk_select)  --profile-rate N (default 1000)  --profile-seconds N (default 15)
`;

function num(value: string | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min} (got ${value})`);
  return n;
}

function list(value: string | undefined): string[] | undefined {
  return value === undefined
    ? undefined
    : value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
}

export function parseConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): BenchConfig | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: 'boolean', short: 'h' },
      quick: { type: 'boolean' },
      out: { type: 'string' },
      workloads: { type: 'string' },
      phases: { type: 'string' },
      rates: { type: 'string' },
      'max-rate': { type: 'string' },
      'step-seconds': { type: 'string' },
      'budget-seconds': { type: 'string' },
      'pool-max': { type: 'string' },
      'max-in-flight': { type: 'string' },
      concurrency: { type: 'string' },
      clients: { type: 'string' },
      'seed-rows': { type: 'string' },
      'timeout-ms': { type: 'string' },
      'max-p99-ms': { type: 'string' },
      'soak-seconds': { type: 'string' },
      'soak-rate': { type: 'string' },
      'soak-sample-seconds': { type: 'string' },
      profile: { type: 'boolean' },
      'profile-workload': { type: 'string' },
      'profile-rate': { type: 'string' },
      'profile-seconds': { type: 'string' },
      transport: { type: 'string' },
      'idempotent-writes': { type: 'string' },
    },
  });
  if (values.help) return 'help';
  const quick = values.quick ?? false;
  const out = resolve(values.out ?? join(repoRoot, 'bench/results.json'));
  const base = out.replace(/\.json$/, '');
  const phases = new Set<Phase>();
  for (const p of list(values.phases) ?? PHASES) {
    if (!(PHASES as readonly string[]).includes(p))
      throw new Error(`unknown phase ${p} (use ${PHASES.join(', ')})`);
    phases.add(p as Phase);
  }
  const maxRate = num(values['max-rate'], 'max-rate', Number.POSITIVE_INFINITY, 1);
  const rates = (list(values.rates)?.map((r) => num(r, 'rates', 0, 1)) ?? [...DEFAULT_LADDER])
    .filter((r) => r <= maxRate)
    .sort((a, b) => a - b);
  const stepOverride =
    values['step-seconds'] === undefined ? undefined : num(values['step-seconds'], 'step-seconds', 0, 0.5);
  const ratesGiven = values.rates !== undefined;
  const plan = (workload: string): WorkloadPlan => {
    const primary = workload === 'pk_select';
    if (quick) {
      return {
        rates: primary || ratesGiven ? rates : rates.filter((r) => r === 500).slice(0, 1),
        stepSeconds: stepOverride ?? 2,
        closedSeconds: primary ? (stepOverride ?? 2) : 0,
        weight: primary ? 6 : 1,
      };
    }
    return {
      rates,
      stepSeconds: stepOverride ?? (primary ? 10 : 5),
      closedSeconds: stepOverride ?? 5,
      weight: primary ? 2 : 1,
    };
  };
  const transport = values.transport ?? env.DBBRIDGE_TRANSPORT ?? DEFAULT_TRANSPORT;
  if (transport !== 'kafkajs' && transport !== 'platformatic')
    throw new Error(`--transport must be kafkajs or platformatic (got ${transport})`);
  const keys = values['idempotent-writes'] ?? 'on';
  if (keys !== 'on' && keys !== 'off') throw new Error(`--idempotent-writes must be on or off (got ${keys})`);
  const poolMax = num(values['pool-max'] ?? env.DBBRIDGE_POOL_MAX, 'pool-max', 20, 1);
  return {
    quick,
    out,
    markdown: `${base}.md`,
    svg: basename(base) === 'results' ? join(dirname(out), 'latency.svg') : `${base}.svg`,
    soakSvg: basename(base) === 'results' ? join(dirname(out), 'soak.svg') : `${base}-soak.svg`,
    workloads: list(values.workloads),
    phases,
    plan,
    poolMax,
    maxInFlight:
      values['max-in-flight'] === undefined ? undefined : num(values['max-in-flight'], 'max-in-flight', 0, 1),
    concurrency: num(values.concurrency, 'concurrency', 64, 1),
    clients: num(values.clients, 'clients', 1, 1),
    seedRows: num(values['seed-rows'], 'seed-rows', 10_000, 200),
    timeoutMs: num(values['timeout-ms'], 'timeout-ms', 5000, 100),
    maxP99Ms: num(values['max-p99-ms'], 'max-p99-ms', 1000, 1),
    warmupSeconds: quick ? 0.5 : 1,
    budgetSeconds: num(values['budget-seconds'], 'budget-seconds', quick ? 90 : 500, 1),
    breakdownRates: quick ? [200] : [200, 1000],
    breakdownSeconds: quick ? 2 : 5,
    soakSeconds: num(values['soak-seconds'], 'soak-seconds', 0, 0),
    soakRate: num(values['soak-rate'], 'soak-rate', 1000, 1),
    soakSampleSeconds: num(values['soak-sample-seconds'], 'soak-sample-seconds', 5, 1),
    profile: values.profile ?? false,
    profileWorkload: values['profile-workload'] ?? 'pk_select',
    profileRate: num(values['profile-rate'], 'profile-rate', 1000, 1),
    profileSeconds: num(values['profile-seconds'], 'profile-seconds', quick ? 6 : 15, 1),
    profileDir: join(dirname(out), 'results-profile'),
    transport,
    idempotentWrites: keys === 'on',
  };
}
