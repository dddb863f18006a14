import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { repoRoot } from '../stack/process.js';

/** The parts of a V8 `.cpuprofile` this summary reads. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      readonly lineNumber: number;
    };
    readonly children?: readonly number[];
  }[];
  /** Microseconds on the monotonic clock (the one `process.hrtime` reads). */
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileEntry {
  readonly name: string;
  readonly ms: number;
  readonly pct: number;
}

export interface ProfileSummary {
  /** Sampled time inside the window, ms (idle included). */
  readonly windowMs: number;
  readonly busyMs: number;
  readonly idleMs: number;
  /** Self time by package, Node module or project file. */
  readonly byCategory: ProfileEntry[];
  /** Functions by self time. */
  readonly topSelf: ProfileEntry[];
  /** Project functions by total (inclusive) time. */
  readonly topInclusiveProject: ProfileEntry[];
  /** Third-party functions by total time, for the entry points the project calls. */
  readonly topInclusiveLibraries: ProfileEntry[];
}

export function readProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}

function category(url: string, functionName: string): string {
  if (url === '')
    return functionName.startsWith('(') ? functionName : `(native) ${functionName || 'anonymous'}`;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) {
    const parts = url.slice(5).split('/');
    return `node:${parts.slice(0, parts[0] === 'internal' ? 2 : 1).join('/')}`;
  }
  const path = url.startsWith('file://') ? url.slice(7) : url;
  return relative(repoRoot, path) || path;
}

function frameName(url: string, functionName: string, line: number): string {
  if (url === '') return category(url, functionName);
  const nm = url.lastIndexOf('/node_modules/');
  // Library frames keep their file inside the package (kafkajs/src/network/connection.js).
  const where = nm >= 0 ? url.slice(nm + '/node_modules/'.length) : category(url, functionName);
  // tsx-compiled project files report line 1 for everything: the name is what tells.
  const fn = functionName || '(anonymous)';
  return line > 0 ? `${fn} ${where}:${line + 1}` : `${fn} ${where}`;
}

/**
 * Self time by category and function, and total time by function, of the samples taken between
 * `fromUs` and `toUs` (monotonic µs; default: the whole profile).
 */
export function summarizeProfile(
  profile: CpuProfile,
  fromUs?: number,
  toUs?: number,
  top = 25,
): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  let t = profile.startTime;
  let windowUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    // A sample stands for the interval up to the next one.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if ((fromUs !== undefined && t < fromUs) || (toUs !== undefined && t > toUs)) continue;
    const id = profile.samples[i] as number;
    self.set(id, (self.get(id) ?? 0) + dt);
    windowUs += dt;
  }
  const categories = new Map<string, number>();
  const functions = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const { url, functionName, lineNumber } = node.callFrame;
    if (functionName === '(idle)') idleUs += us;
    const cat = category(url, functionName);
    categories.set(cat, (categories.get(cat) ?? 0) + us);
    const fn = frameName(url, functionName, lineNumber);
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    // Total time: every distinct function on the sample's stack gets the sample once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame === undefined) break;
      const name = frameName(frame.url, frame.functionName, frame.lineNumber);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
  }
  const busyUs = windowUs - idleUs;
  const entries = (m: Map<string, number>, filter: (name: string) => boolean = () => true) =>
    [...m]
      .filter(([name]) => filter(name))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({
        name,
        ms: Math.round(us / 100) / 10,
        pct: busyUs > 0 ? Math.round((us / busyUs) * 1000) / 10 : 0,
      }));
  const skip = (name: string) => name.startsWith('(') || name.includes(' node:');
  const project = (name: string) => / (src|scripts)\//.test(name);
  return {
    windowMs: Math.round(windowUs / 100) / 10,
    busyMs: Math.round(busyUs / 100) / 10,
    idleMs: Math.round(idleUs / 100) / 10,
    byCategory: entries(categories, (name) => name !== '(idle)'),
    topSelf: entries(functions, (name) => name !== '(idle)'),
    topInclusiveProject: entries(inclusive, (name) => project(name) && !skip(name)),
    topInclusiveLibraries: entries(
      inclusive,
      (name) => !project(name) && !skip(name) && !name.includes(' tsx/'),
    ),
  };
}

export function profileMarkdown(title: string, summary: ProfileSummary, requests: number): string {
  const out: string[] = [];
  const perRequest =
    requests > 0 ? ` = ${((summary.busyMs / requests) * 1000).toFixed(0)} µs per request` : '';
  out.push(
    `### ${title}`,
    '',
    `Window ${summary.windowMs} ms sampled: busy ${summary.busyMs} ms${perRequest}, idle ${summary.idleMs} ms (${requests} requests). Percentages are of busy time.`,
    '',
  );
  const table = (heading: string, rows: readonly ProfileEntry[]) => {
    out.push(`| ${heading} | ms | % of busy |`, '|---|---|---|');
    for (const r of rows) out.push(`| \`${r.name.replace(/\|/g, '\\|')}\` | ${r.ms} | ${r.pct} |`);
    out.push('');
  };
  table('self time by package / file', summary.byCategory.slice(0, 18));
  table('self time by function', summary.topSelf.slice(0, 25));
  table('total time, project functions', summary.topInclusiveProject.slice(0, 20));
  table('total time, library functions', summary.topInclusiveLibraries.slice(0, 25));
  return out.join('\n');
}
