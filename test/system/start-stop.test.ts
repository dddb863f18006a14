/**
 * `npm start` as a user runs it, from a state directory inside a private (mode 700) folder: every stop
 * signal, sent to the npm process alone or to its whole process group, at start-up or while serving,
 * leaves no broker, no PostgreSQL and no process of the group behind; a stack left by a killed run is
 * reported as left over, and the next run takes it over and stops it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureKafkaJars } from '../../scripts/stack/kafka.js';
import { removeCluster } from '../../scripts/stack/postgres.js';
import { isAlive, repoRoot, resolveStateDir } from '../../scripts/stack/process.js';
import { stackDown, stackStatus, stackUp } from '../../scripts/stack.js';
import { readEnv } from '../../src/env.js';

let home: string;
let env: NodeJS.ProcessEnv;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'dbbridge-start-')); // mode 700, as `mktemp -d`
  expect(statSync(home).mode & 0o777).toBe(0o700);
  const stateDir = join(home, 'state');
  // The broker's jars, linked from the repository's own state directory (fetched once from Maven Central).
  const { DBBRIDGE_KAFKA_VERSION: version, DBBRIDGE_STATE_DIR } = readEnv();
  const jars = await ensureKafkaJars(resolveStateDir(DBBRIDGE_STATE_DIR), version);
  mkdirSync(join(stateDir, 'kafka', version), { recursive: true });
  symlinkSync(jars, join(stateDir, 'kafka', version, 'lib'));
  const { KAFKA_BOOTSTRAP_SERVERS: _kafka, DATABASE_URL: _database, ...inherited } = process.env;
  env = {
    ...inherited, // npm start must start its own broker and database, not use the suite's
    DBBRIDGE_STATE_DIR: stateDir,
    DBBRIDGE_KAFKA_PORT: String(await freePort()),
    DBBRIDGE_KAFKA_CONTROLLER_PORT: String(await freePort()),
    DBBRIDGE_PG_PORT: String(await freePort()),
  };
});

afterAll(async () => {
  if (env === undefined) return;
  await stackDown({ env });
  removeCluster(join(home, 'state', 'postgres', 'data'));
  rmSync(home, { recursive: true, force: true });
});

interface Run {
  readonly child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** Process groups this file started; a failed test must not leave one running. */
const groups = new Set<number>();
afterEach(async () => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGTERM');
    } catch {} // already gone
    const deadline = Date.now() + 60_000;
    while (groupMembers(pgid).length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {}
  }
  groups.clear();
});

/** `npm start` in a process group of its own (as a terminal's foreground job). */
function npmStart(): Run {
  const child = spawn('npm', ['start'], {
    cwd: repoRoot,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid !== undefined) groups.add(child.pid);
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function until(what: string, check: () => boolean, run: Run, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (run.child.exitCode !== null) throw new Error(`npm start exited before ${what}:\n${run.output()}`);
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Live processes of process group `pgid` (zombies excluded). */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') members.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return members;
}

/** The broker and the database `npm start` runs, with their PIDs; they must be ours to stop. */
function stackPids(): { kafka: number; postgres: number } {
  const { kafka, postgres } = stackStatus({ env });
  expect(kafka.pid).toBeTypeOf('number');
  expect(postgres.pid).toBeTypeOf('number');
  return { kafka: kafka.pid as number, postgres: postgres.pid as number };
}

/** Waits (bounded) until no process of the run's group is left. */
async function groupGone(run: Run, timeoutMs = 90_000): Promise<void> {
  const pgid = run.child.pid as number;
  const deadline = Date.now() + timeoutMs;
  while (groupMembers(pgid).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(groupMembers(pgid), run.output()).toEqual([]);
}

async function expectAllStopped(
  run: Run,
  pids: { kafka: number; postgres: number },
  signal: NodeJS.Signals = 'SIGINT',
): Promise<void> {
  // npm forwards SIGINT and SIGTERM to the script and exits with its status; SIGHUP ends npm itself,
  // and the script, left without its parent, stops what it started on its own.
  const code = await Promise.race([
    run.exited,
    new Promise<'hung'>((r) => setTimeout(() => r('hung'), 90_000)),
  ]);
  if (signal === 'SIGHUP') expect(run.child.signalCode, run.output()).toBe('SIGHUP');
  else expect(code, run.output()).toBe(0);
  await groupGone(run);
  expect(isAlive(pids.kafka), `broker ${pids.kafka} left running\n${run.output()}`).toBe(false);
  expect(isAlive(pids.postgres), `PostgreSQL ${pids.postgres} left running\n${run.output()}`).toBe(false);
  expect(stackStatus({ env })).toEqual({
    kafka: { pid: undefined, owner: undefined, leftover: false },
    postgres: { pid: undefined, owner: undefined, leftover: false },
  });
}

describe('npm start stops everything it started', () => {
  const cases: Array<[NodeJS.Signals, 'the npm process' | 'its process group']> = [
    ['SIGINT', 'its process group'], // Ctrl-C in a terminal
    ['SIGINT', 'the npm process'],
    ['SIGTERM', 'the npm process'],
    ['SIGTERM', 'its process group'],
    ['SIGHUP', 'the npm process'],
    ['SIGHUP', 'its process group'], // the terminal closed
  ];
  it.each(cases)('%s to %s while serving', async (signal, target) => {
    const run = npmStart();
    await until('"Serving."', () => run.output().includes('Serving.'), run);
    const pids = stackPids();
    const pid = run.child.pid as number;
    process.kill(target === 'the npm process' ? pid : -pid, signal);
    await expectAllStopped(run, pids, signal);
  });

  it('a second adapter (`npm run adapter`, from the addresses npm start wrote) joins the same group', async () => {
    const run = npmStart();
    await until('"Serving."', () => run.output().includes('Serving.'), run);
    const pids = stackPids();
    const second = spawn('npm', ['run', 'adapter'], {
      cwd: repoRoot,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (second.pid !== undefined) groups.add(second.pid);
    let logs = '';
    second.stderr?.on('data', (d) => {
      logs += d;
    });
    const secondExit = new Promise<number | null>((r) => second.once('exit', (code) => r(code)));
    try {
      const deadline = Date.now() + 90_000;
      while (!logs.includes('adapter ready')) {
        if (second.exitCode !== null || Date.now() > deadline)
          throw new Error(`second adapter did not start:\n${logs}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(logs).not.toMatch(/INCONSISTENT_GROUP_PROTOCOL|inconsistent/i);
    } finally {
      if (second.exitCode === null) process.kill(-(second.pid as number), 'SIGTERM');
    }
    expect(await secondExit, logs).toBe(0);
    process.kill(-(run.child.pid as number), 'SIGINT');
    await expectAllStopped(run, pids);
  });

  it('SIGTERM to its process group while the broker is still starting', async () => {
    const kafkaPidFile = join(home, 'state', 'kafka.pid');
    expect(existsSync(kafkaPidFile)).toBe(false);
    const run = npmStart();
    await until('a broker process', () => existsSync(kafkaPidFile), run);
    const broker = Number(readFileSync(kafkaPidFile, 'utf8'));
    const pid = run.child.pid as number;
    process.kill(-pid, 'SIGTERM');
    const code = await run.exited;
    expect(code, run.output()).toBe(0);
    expect(run.output()).not.toContain('Serving.');
    expect(isAlive(broker), run.output()).toBe(false);
    const { kafka, postgres } = stackStatus({ env });
    expect({ kafka: kafka.pid, postgres: postgres.pid }, run.output()).toEqual({
      kafka: undefined,
      postgres: undefined,
    });
  });

  it('a stack left by a killed run is reported as left over, and the next run takes it over and stops it', async () => {
    const first = npmStart();
    await until('"Serving."', () => first.output().includes('Serving.'), first);
    const pids = stackPids();
    // SIGKILL cannot be caught: the broker and the database stay behind.
    process.kill(-(first.child.pid as number), 'SIGKILL');
    await first.exited;
    await groupGone(first);
    const status = stackStatus({ env });
    expect(status.kafka).toMatchObject({ pid: pids.kafka, leftover: true });
    expect(status.postgres).toMatchObject({ pid: pids.postgres, leftover: true });
    expect(status.kafka.owner).toMatch(/left by `npm start` \(pid \d+\), which ended without stopping it/);

    const second = npmStart();
    await until('"Serving."', () => second.output().includes('Serving.'), second);
    expect(second.output()).toMatch(/Kafka: pid \d+ was left by `npm start`.*This run takes it over/);
    expect(second.output()).toMatch(/PostgreSQL: pid \d+ was left by `npm start`.*This run takes it over/);
    expect(stackPids()).toEqual(pids); // taken over, not started anew
    process.kill(-(second.child.pid as number), 'SIGINT');
    await expectAllStopped(second, pids);
  });

  it('a stack that fails to come up stops what it had started (here: the broker, when PostgreSQL cannot bind its port)', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const address = taken.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const reports: string[] = [];
      await expect(
        stackUp({ env: { ...env, DBBRIDGE_PG_PORT: String(port) }, report: (l) => reports.push(l) }),
      ).rejects.toThrow(/PostgreSQL did not start/);
      expect(reports.join('\n')).toMatch(/Kafka [\d.]+: ready/); // the broker did start, then was stopped
    } finally {
      taken.close();
    }
    const { kafka, postgres } = stackStatus({ env });
    expect({ kafka: kafka.pid, postgres: postgres.pid }).toEqual({ kafka: undefined, postgres: undefined });
  });
});
