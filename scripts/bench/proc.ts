import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on every Linux build that matters). */
const CLK_TCK = 100;

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces): index 0 is field 3. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** stime of one process (all its threads), in seconds: its CPU time in the kernel (syscalls, loopback TCP). */
export function processSysSeconds(pid: number): number | undefined {
  const f = statFields(pid);
  return f === undefined ? undefined : Number(f[12]) / CLK_TCK;
}

/** utime + stime of one process (all its threads), in seconds; undefined when it is gone or there is no /proc. */
export function processCpuSeconds(pid: number, withReapedChildren = false): number | undefined {
  const f = statFields(pid);
  if (f === undefined) return undefined;
  // utime, stime, cutime, cstime are fields 14..17.
  const own = Number(f[11]) + Number(f[12]);
  const reaped = withReapedChildren ? Number(f[13]) + Number(f[14]) : 0;
  return (own + reaped) / CLK_TCK;
}

/** PIDs whose parent is `ppid`. */
export function childPids(ppid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f !== undefined && Number(f[1]) === ppid) out.push(Number(name));
  }
  return out;
}

/**
 * CPU seconds of a process tree one level deep (PostgreSQL: the postmaster, its live backends, and the
 * backends it has already reaped).
 */
export function treeCpuSeconds(pid: number): number | undefined {
  const root = processCpuSeconds(pid, true);
  if (root === undefined) return undefined;
  let sum = root;
  for (const child of childPids(pid)) sum += processCpuSeconds(child) ?? 0;
  return sum;
}

/** Busy and total CPU seconds of the whole machine, from the first line of /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
  } catch {
    return undefined;
  }
}

/** The load generator's own CPU (this process), in seconds. */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export interface CpuSnapshot {
  readonly at: number;
  readonly client: number;
  readonly clientSys: number;
  readonly adapter: number | undefined;
  readonly adapterSys: number | undefined;
  readonly kafka: number | undefined;
  readonly postgres: number | undefined;
  readonly machine: { busy: number; total: number } | undefined;
}

export interface WatchedPids {
  readonly adapter?: number | undefined;
  readonly kafka?: number | undefined;
  readonly postgres?: number | undefined;
}

export function cpuSnapshot(pids: WatchedPids): CpuSnapshot {
  return {
    at: performance.now(),
    client: selfCpuSeconds(),
    clientSys: process.cpuUsage().system / 1e6,
    adapter: pids.adapter === undefined ? undefined : processCpuSeconds(pids.adapter),
    adapterSys: pids.adapter === undefined ? undefined : processSysSeconds(pids.adapter),
    kafka: pids.kafka === undefined ? undefined : processCpuSeconds(pids.kafka),
    postgres: pids.postgres === undefined ? undefined : treeCpuSeconds(pids.postgres),
    machine: machineCpuSeconds(),
  };
}

export interface CpuDelta {
  /** CPU seconds spent per 1,000 completed requests. */
  readonly client_cpu_s_per_1k: number | null;
  readonly adapter_cpu_s_per_1k: number | null;
  readonly kafka_cpu_s_per_1k: number | null;
  readonly postgres_cpu_s_per_1k: number | null;
  /** Share of the machine's cores busy during the step (all processes, including other users'). */
  readonly machine_busy_pct: number | null;
  /** Cores used, on average, by each process during the step. */
  readonly client_cores: number;
  readonly adapter_cores: number | null;
  readonly kafka_cores: number | null;
  readonly postgres_cores: number | null;
  /** Cores busy with everything else on the machine (other users' tests, the kernel, ...). */
  readonly other_cores: number | null;
  /** Share of the client's and the adapter's CPU spent in the kernel (system time), %. */
  readonly client_sys_pct: number | null;
  readonly adapter_sys_pct: number | null;
}

export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot, requests: number): CpuDelta {
  const wall = Math.max(1e-9, (after.at - before.at) / 1000);
  const per1k = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || requests === 0 ? null : round4(((b - a) / requests) * 1000);
  const cores = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? null : round4((b - a) / wall);
  const m =
    before.machine && after.machine && after.machine.total > before.machine.total
      ? round4(
          ((after.machine.busy - before.machine.busy) / (after.machine.total - before.machine.total)) * 100,
        )
      : null;
  const machineCores =
    before.machine && after.machine ? (after.machine.busy - before.machine.busy) / wall : undefined;
  const known = [
    after.client - before.client,
    (after.adapter ?? 0) - (before.adapter ?? 0),
    (after.kafka ?? 0) - (before.kafka ?? 0),
    (after.postgres ?? 0) - (before.postgres ?? 0),
  ].reduce((a, b) => a + b, 0);
  const sysPct = (
    cpu0: number | undefined,
    cpu1: number | undefined,
    sys0: number | undefined,
    sys1: number | undefined,
  ) =>
    cpu0 === undefined || cpu1 === undefined || sys0 === undefined || sys1 === undefined || cpu1 <= cpu0
      ? null
      : Math.round(((sys1 - sys0) / (cpu1 - cpu0)) * 1000) / 10;
  return {
    client_sys_pct: sysPct(before.client, after.client, before.clientSys, after.clientSys),
    adapter_sys_pct: sysPct(before.adapter, after.adapter, before.adapterSys, after.adapterSys),
    other_cores: machineCores === undefined ? null : round4(Math.max(0, machineCores - known / wall)),
    client_cpu_s_per_1k: per1k(before.client, after.client),
    adapter_cpu_s_per_1k: per1k(before.adapter, after.adapter),
    kafka_cpu_s_per_1k: per1k(before.kafka, after.kafka),
    postgres_cpu_s_per_1k: per1k(before.postgres, after.postgres),
    machine_busy_pct: m,
    client_cores: round4((after.client - before.client) / wall),
    adapter_cores: cores(before.adapter, after.adapter),
    kafka_cores: cores(before.kafka, after.kafka),
    postgres_cores: cores(before.postgres, after.postgres),
  };
}

function round4(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}
