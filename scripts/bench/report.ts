import type { CpuDelta } from './proc.js';

export type PathName = 'dbbridge' | 'direct';

/** One measured step: one workload, one path, one offered rate (open loop) or concurrency (closed loop). */
export interface Scenario extends CpuDelta {
  readonly name: string;
  readonly path: PathName;
  readonly mode: 'open' | 'closed';
  /** Offered rate (open loop); null for closed loop. */
  readonly target_rps: number | null;
  /** Workers (closed loop); null for open loop. */
  readonly concurrency: number | null;
  readonly achieved_rps: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p95_ms: number;
  readonly p99_ms: number;
  readonly p999_ms: number;
  readonly max_ms: number;
  readonly mean_ms: number;
  readonly errors: number;
  readonly error_kinds: Readonly<Record<string, number>>;
  readonly ok: number;
  readonly sent: number;
  readonly duration_s: number;
  readonly elapsed_s: number;
  readonly max_outstanding: number;
  /** Open loop: achieved < 90 % of target, errors > 1 %, or p99 over the limit. */
  readonly saturated: boolean;
  readonly saturation_reason?: string;
  readonly client_rss_mb: number;
  readonly started_at: string;
}

export interface BreakdownSegment {
  readonly mean_ms: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
}

/** Where one dbbridge round trip's time goes, from Kafka message timestamps (ms resolution) and the adapter's execution time. */
export interface Breakdown {
  readonly name: string;
  readonly target_rps: number;
  readonly samples: number;
  readonly segments: Readonly<Record<string, BreakdownSegment>>;
  readonly notes: readonly string[];
}

export interface SoakSample {
  readonly t_s: number;
  readonly rss_mb: number;
  readonly heap_used_mb: number;
  readonly achieved_rps: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly errors: number;
}

export interface BenchResults {
  readonly meta: Record<string, unknown>;
  readonly scenarios: Scenario[];
  readonly breakdown: Breakdown[];
  readonly soak: SoakSample[];
  readonly notes: string[];
}

// ---------------------------------------------------------------------------------------------
// Markdown

const fmt = (n: number | null | undefined, digits = 2) =>
  n === null || n === undefined ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits });
const ms = (n: number) => (n >= 100 ? fmt(n, 0) : n >= 10 ? fmt(n, 1) : fmt(n, 2));

/** Highest offered rate the path sustained (not saturated) and the closed-loop peak, per workload. */
export function peaks(scenarios: readonly Scenario[], name: string, path: PathName) {
  const open = scenarios.filter((s) => s.name === name && s.path === path && s.mode === 'open');
  const sustained = open
    .filter((s) => !s.saturated)
    .reduce<Scenario | undefined>(
      (best, s) => (best === undefined || (s.target_rps ?? 0) > (best.target_rps ?? 0) ? s : best),
      undefined,
    );
  const bestOpen = open.reduce((m, s) => Math.max(m, s.achieved_rps), 0);
  const closed = scenarios
    .filter((s) => s.name === name && s.path === path && s.mode === 'closed')
    .reduce<Scenario | undefined>(
      (best, s) => (best === undefined || s.achieved_rps > best.achieved_rps ? s : best),
      undefined,
    );
  const firstSaturated = open
    .filter((s) => s.saturated)
    .reduce<Scenario | undefined>(
      (first, s) => (first === undefined || (s.target_rps ?? 0) < (first.target_rps ?? 0) ? s : first),
      undefined,
    );
  return { sustained, bestOpen, closed, firstSaturated };
}

export function workloadNames(scenarios: readonly Scenario[]): string[] {
  return [...new Set(scenarios.map((s) => s.name))];
}

export function markdownReport(
  results: BenchResults,
  descriptions: Readonly<Record<string, string>>,
): string {
  const { meta, scenarios } = results;
  const out: string[] = [];
  out.push('# dbbridge benchmark: the event path against a direct `pg` pool', '');
  out.push(
    `Run ${String(meta.started_at)} (${meta.quick ? 'quick' : 'full'}), ${String(meta.cpus)} CPUs, Node ${String(meta.node)}, ` +
      `pool size ${String(meta.pool_max)} on both paths, adapter in its own process, load generator (client and direct pool) in the bench process. ` +
      `Open-loop steps of ${String(meta.step_seconds)} s; latency counts from each request's scheduled send time. ` +
      'Broker, database, adapter and load generator share the machine, and other work may have run on it: treat the figures as noisy.',
    '',
  );
  out.push('## Summary', '');
  out.push(
    '| workload | path | highest rate sustained (req/s) | highest rate with p99 ≤ 50 ms (req/s) | p50 / p99 at 500/s (ms) | closed-loop peak (req/s) | best achieved, any step (req/s) | ÷ direct (closed-loop peak) | client + adapter CPU ms per request at 1,000/s |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const name of workloadNames(scenarios)) {
    const closedDirect = peaks(scenarios, name, 'direct').closed?.achieved_rps;
    for (const path of ['direct', 'dbbridge'] as const) {
      const p = peaks(scenarios, name, path);
      const open = scenarios.filter((s) => s.name === name && s.path === path && s.mode === 'open');
      const under50 = open
        .filter((s) => !s.saturated && s.p99_ms <= 50)
        .reduce((m, s) => Math.max(m, s.target_rps ?? 0), 0);
      const at500 = open.find((s) => s.target_rps === 500);
      const at1000 = open.find((s) => s.target_rps === 1000);
      const cpu =
        at1000 === undefined
          ? '–'
          : `${fmt(at1000.client_cpu_s_per_1k, 3)} + ${fmt(at1000.adapter_cpu_s_per_1k, 3)}`;
      const ratio =
        path === 'dbbridge' && p.closed !== undefined && closedDirect !== undefined && closedDirect > 0
          ? fmt(p.closed.achieved_rps / closedDirect, 2)
          : '';
      out.push(
        `| ${path === 'direct' ? name : ''} | ${path} | ${fmt(p.sustained?.target_rps ?? null, 0)} | ` +
          `${under50 > 0 ? fmt(under50, 0) : '–'} | ${at500 === undefined ? '–' : `${ms(at500.p50_ms)} / ${ms(at500.p99_ms)}`} | ` +
          `${fmt(p.closed?.achieved_rps ?? null, 0)} | ${fmt(p.bestOpen > 0 ? p.bestOpen : null, 0)} | ${ratio} | ${cpu} |`,
      );
    }
  }
  out.push(
    '',
    '"Sustained" is the highest offered rate of the ladder served with achieved ≥ 90 % of the target, ' +
      "errors ≤ 1 % and p99 under the limit (`--max-p99-ms`); each path's ladder stops at its first rate that is not " +
      '(or when the time budget runs out: see the notes). ' +
      'CPU per request counts only the client (bench) process and the adapter process; the Kafka and PostgreSQL ' +
      'columns of the next table add the rest.',
    '',
  );

  out.push('## All steps', '');
  out.push(
    '| workload | path | mode | target/s | achieved/s | p50 ms | p95 ms | p99 ms | p99.9 ms | max ms | errors | client CPU s/1k | adapter CPU s/1k | Kafka CPU s/1k | PG CPU s/1k | machine busy % | other processes (cores) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const s of scenarios) {
    const mode = s.mode === 'open' ? 'open' : `closed ×${s.concurrency}`;
    const errors = s.errors === 0 ? '0' : `${fmt(s.errors, 0)} (${Object.keys(s.error_kinds).join(', ')})`;
    out.push(
      `| ${s.name} | ${s.path} | ${mode} | ${fmt(s.target_rps, 0)} | ${fmt(s.achieved_rps, 0)}${s.saturated ? ' ⚠' : ''} | ` +
        `${ms(s.p50_ms)} | ${ms(s.p95_ms)} | ${ms(s.p99_ms)} | ${ms(s.p999_ms)} | ${ms(s.max_ms)} | ${errors} | ` +
        `${fmt(s.client_cpu_s_per_1k, 3)} | ${fmt(s.adapter_cpu_s_per_1k, 3)} | ${fmt(s.kafka_cpu_s_per_1k, 3)} | ` +
        `${fmt(s.postgres_cpu_s_per_1k, 3)} | ${fmt(s.machine_busy_pct, 0)} | ${fmt(s.other_cores, 2)} |`,
    );
  }
  out.push(
    '',
    '⚠ = saturated (achieved < 90 % of the target, errors > 1 %, or p99 over the limit). CPU is seconds of CPU ' +
      'per 1,000 completed requests: client = the bench process (load generator plus the dbbridge client or the `pg` pool), ' +
      'adapter = the adapter child process (`/proc/<pid>/stat`), Kafka = the broker JVM, PG = the postmaster and its backends. ' +
      'Kafka and PG also count whatever else used them during the step. "Other processes" is the machine\'s busy time ' +
      "not spent in any of these (other users' test runs, the kernel): the noise of the step.",
    '',
  );

  out.push('## Workloads', '');
  for (const name of workloadNames(scenarios)) out.push(`- \`${name}\`: ${descriptions[name] ?? ''}`);
  out.push('');

  if (results.breakdown.length > 0) {
    out.push('## Where a dbbridge round trip spends its time', '');
    out.push(
      '| measurement | rate/s | samples | segment | mean ms | p50 ms | p99 ms |',
      '|---|---|---|---|---|---|---|',
    );
    for (const b of results.breakdown) {
      Object.entries(b.segments).forEach(([key, seg], i) => {
        const head = i === 0 ? `| ${b.name} | ${fmt(b.target_rps, 0)} | ${b.samples}` : '| | |';
        out.push(`${head} | ${key} | ${ms(seg.mean_ms)} | ${ms(seg.p50_ms)} | ${ms(seg.p99_ms)} |`);
      });
    }
    out.push('', ...new Set(results.breakdown.flatMap((b) => b.notes.map((n) => `- ${n}`))), '');
  }

  if (results.soak.length > 0) {
    out.push('## Soak (dbbridge pk_select, open loop)', '');
    out.push(
      '| t (s) | client RSS MB | heap used MB | achieved/s | p50 ms | p99 ms | errors |',
      '|---|---|---|---|---|---|---|',
    );
    for (const s of results.soak) {
      out.push(
        `| ${fmt(s.t_s, 0)} | ${fmt(s.rss_mb, 1)} | ${fmt(s.heap_used_mb, 1)} | ${fmt(s.achieved_rps, 0)} | ${ms(s.p50_ms)} | ${ms(s.p99_ms)} | ${s.errors} |`,
      );
    }
    out.push('');
  }
  if (results.notes.length > 0) out.push('## Notes', '', ...results.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// SVG chart: one panel per workload, latency (p50, p99) against offered rate, log-log.

const COLORS: Record<PathName, string> = { dbbridge: '#1f5fbf', direct: '#e0701a' };
const NICE = [1, 2, 5];

function logTicks(min: number, max: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(min)) - 1; e <= Math.ceil(Math.log10(max)) + 1; e++) {
    for (const n of NICE) {
      const v = n * 10 ** e;
      if (v >= min * 0.999 && v <= max * 1.001) out.push(v);
    }
  }
  return out;
}

function label(v: number, unit = ''): string {
  if (v >= 1000) return `${fmt(v / 1000, 1)}k${unit}`;
  return `${fmt(v, v < 1 ? 2 : 1)}${unit}`;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function latencyChart(results: BenchResults): string {
  const open = results.scenarios.filter((s) => s.mode === 'open' && s.target_rps !== null && s.ok > 0);
  const names = workloadNames(open);
  const cols = Math.min(3, Math.max(1, names.length));
  const rows = Math.ceil(names.length / cols);
  const pw = Math.max(400, Math.floor(980 / cols));
  const ph = 304;
  const top = 92;
  const width = cols * pw + 20;
  const height = top + rows * ph + 30;
  const svg: string[] = [];
  svg.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="bold">dbbridge (client → Kafka → adapter → PostgreSQL → Kafka → client) vs direct pg pool</text>`,
    `<text x="16" y="42" font-size="12" fill="#444">Latency against offered rate, open loop (counted from the scheduled send time), log–log. ${esc(
      `${String(results.meta.started_at)}, ${results.meta.quick ? 'quick' : 'full'} run, ${String(results.meta.cpus)} CPUs, pool ${String(results.meta.pool_max)}; noisy shared machine.`,
    )}</text>`,
  );
  // legend
  const legend: [string, string, string][] = [
    ['dbbridge p50', COLORS.dbbridge, ''],
    ['dbbridge p99', COLORS.dbbridge, '6 4'],
    ['direct pg p50', COLORS.direct, ''],
    ['direct pg p99', COLORS.direct, '6 4'],
  ];
  legend.forEach(([text, color, dash], i) => {
    const x = 16 + i * 150;
    svg.push(
      `<line x1="${x}" y1="62" x2="${x + 34}" y2="62" stroke="${color}" stroke-width="2.5"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
      `<text x="${x + 40}" y="66" font-size="12">${text}</text>`,
    );
  });
  svg.push(
    `<circle cx="${16 + 4 * 150 + 6}" cy="62" r="4" fill="#fff" stroke="#555" stroke-width="1.5"/>`,
    `<text x="${16 + 4 * 150 + 16}" y="66" font-size="12">hollow = saturated (achieved &lt; 90 % of offered, errors, or p99 over limit)</text>`,
  );

  names.forEach((name, n) => {
    const ox = 10 + (n % cols) * pw;
    const oy = top + Math.floor(n / cols) * ph;
    const left = ox + 52;
    const right = ox + pw - 14;
    const ptop = oy + 40;
    const bottom = oy + ph - 46;
    const points = open.filter((s) => s.name === name);
    const rates = points.map((s) => s.target_rps as number);
    const xMin = Math.min(...rates) / 1.3;
    const xMax = Math.max(...rates) * 1.3;
    const lat = points.flatMap((s) => [s.p50_ms, s.p99_ms]).filter((v) => v > 0);
    const yMin = Math.max(0.01, Math.min(...lat) / 1.5);
    const yMax = Math.max(...lat) * 1.5;
    const x = (v: number) =>
      left + ((Math.log(v) - Math.log(xMin)) / (Math.log(xMax) - Math.log(xMin))) * (right - left);
    const y = (v: number) =>
      bottom -
      ((Math.log(Math.max(v, yMin)) - Math.log(yMin)) / (Math.log(yMax) - Math.log(yMin))) * (bottom - ptop);
    svg.push(`<text x="${left}" y="${oy + 16}" font-size="13" font-weight="bold">${esc(name)}</text>`);
    svg.push(
      `<rect x="${left}" y="${ptop}" width="${right - left}" height="${bottom - ptop}" fill="#fafafa" stroke="#999"/>`,
    );
    for (const t of logTicks(yMin, yMax)) {
      svg.push(
        `<line x1="${left}" y1="${y(t).toFixed(1)}" x2="${right}" y2="${y(t).toFixed(1)}" stroke="#e2e2e2"/>`,
        `<text x="${left - 4}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" fill="#444">${label(t)}</text>`,
      );
    }
    for (const r of [...new Set(rates)].sort((a, b) => a - b)) {
      svg.push(
        `<line x1="${x(r).toFixed(1)}" y1="${ptop}" x2="${x(r).toFixed(1)}" y2="${bottom}" stroke="#e2e2e2"/>`,
        `<text x="${x(r).toFixed(1)}" y="${bottom + 14}" text-anchor="middle" fill="#444">${label(r)}</text>`,
      );
    }
    svg.push(
      `<text x="${(left + right) / 2}" y="${bottom + 28}" text-anchor="middle" fill="#222">offered rate (requests/s)</text>`,
      `<text transform="translate(${ox + 14} ${(ptop + bottom) / 2}) rotate(-90)" text-anchor="middle" fill="#222">latency (ms)</text>`,
    );
    for (const path of ['direct', 'dbbridge'] as const) {
      const series = points
        .filter((s) => s.path === path)
        .sort((a, b) => (a.target_rps ?? 0) - (b.target_rps ?? 0));
      if (series.length === 0) continue;
      for (const [key, dash] of [
        ['p50_ms', ''],
        ['p99_ms', '6 4'],
      ] as const) {
        const d = series
          .map(
            (s, i) => `${i === 0 ? 'M' : 'L'}${x(s.target_rps as number).toFixed(1)},${y(s[key]).toFixed(1)}`,
          )
          .join(' ');
        svg.push(
          `<path d="${d}" fill="none" stroke="${COLORS[path]}" stroke-width="2.2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
        );
        for (const s of series) {
          const cx = x(s.target_rps as number).toFixed(1);
          const cy = y(s[key]).toFixed(1);
          const tip = `${path} ${key.replace('_ms', '')} at ${s.target_rps}/s: ${s[key]} ms (achieved ${s.achieved_rps}/s, errors ${s.errors})`;
          svg.push(
            `<circle cx="${cx}" cy="${cy}" r="${key === 'p50_ms' ? 3.5 : 3}" fill="${s.saturated ? '#fff' : COLORS[path]}" stroke="${COLORS[path]}" stroke-width="1.5"><title>${esc(tip)}</title></circle>`,
          );
        }
      }
    }
    const peak = (path: PathName) => {
      const p = peaks(results.scenarios, name, path);
      const v = Math.max(p.closed?.achieved_rps ?? 0, p.bestOpen);
      return v > 0 ? `${fmt(v, 0)}/s` : '–';
    };
    const closedRan = results.scenarios.some((s) => s.name === name && s.mode === 'closed');
    svg.push(
      `<text x="${left}" y="${oy + 32}" font-size="11" fill="#444">${closedRan ? 'peak throughput' : 'best (open loop)'}: ` +
        `<tspan fill="${COLORS.dbbridge}" font-weight="bold">dbbridge ${peak('dbbridge')}</tspan> · ` +
        `<tspan fill="${COLORS.direct}" font-weight="bold">direct ${peak('direct')}</tspan></text>`,
    );
  });
  svg.push('</svg>');
  return `${svg.join('\n')}\n`;
}

/** Client memory over the soak: RSS and heap used against time, linear axes. */
export function soakChart(results: BenchResults): string {
  const samples = results.soak;
  const width = 760;
  const height = 360;
  const left = 64;
  const right = width - 24;
  const top = 64;
  const bottom = height - 48;
  const tMax = Math.max(1, ...samples.map((s) => s.t_s));
  const mMax = Math.max(1, ...samples.map((s) => s.rss_mb)) * 1.1;
  const x = (t: number) => left + (t / tMax) * (right - left);
  const y = (mb: number) => bottom - (mb / mMax) * (bottom - top);
  const svg: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="16" y="24" font-size="15" font-weight="bold">dbbridge client memory during the soak (pk_select, open loop)</text>`,
    `<text x="16" y="42" font-size="12" fill="#444">${esc(`${String(results.meta.started_at)}; bench process = load generator + one DatabaseEventClient`)}</text>`,
    `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="#fafafa" stroke="#999"/>`,
  ];
  const step = mMax > 400 ? 100 : mMax > 200 ? 50 : mMax > 80 ? 20 : 10;
  for (let v = 0; v <= mMax; v += step) {
    svg.push(
      `<line x1="${left}" y1="${y(v).toFixed(1)}" x2="${right}" y2="${y(v).toFixed(1)}" stroke="#e2e2e2"/>`,
      `<text x="${left - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${v}</text>`,
    );
  }
  const tStep = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((v) => tMax / v <= 10) ?? 1200;
  for (let t = 0; t <= tMax; t += tStep) {
    svg.push(
      `<text x="${x(t).toFixed(1)}" y="${bottom + 14}" text-anchor="middle" fill="#444">${label(t)}</text>`,
    );
  }
  svg.push(
    `<text x="${(left + right) / 2}" y="${bottom + 30}" text-anchor="middle">time (s)</text>`,
    `<text transform="translate(16 ${(top + bottom) / 2}) rotate(-90)" text-anchor="middle">MB</text>`,
  );
  const series: [keyof SoakSample, string, string][] = [
    ['rss_mb', COLORS.dbbridge, 'RSS'],
    ['heap_used_mb', COLORS.direct, 'heap used'],
  ];
  series.forEach(([key, color, name], i) => {
    const d = samples
      .map((s, j) => `${j === 0 ? 'M' : 'L'}${x(s.t_s).toFixed(1)},${y(s[key]).toFixed(1)}`)
      .join(' ');
    svg.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`,
      `<line x1="${left + 10 + i * 120}" y1="${top + 14}" x2="${left + 40 + i * 120}" y2="${top + 14}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${left + 46 + i * 120}" y="${top + 18}">${name}</text>`,
    );
  });
  svg.push('</svg>');
  return `${svg.join('\n')}\n`;
}
