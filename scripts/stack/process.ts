import { spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** The repository root, whatever the current directory is. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Whether the module with this `import.meta.url` is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/** `DBBRIDGE_STATE_DIR`, resolved against the repository root (not the current directory). */
export function resolveStateDir(stateDir: string): string {
  return resolve(repoRoot, stateDir);
}

/** The PID recorded in a pid file, if the file exists and holds one. */
export function readPidFile(path: string): number | undefined {
  if (!existsSync(path)) return undefined;
  const pid = Number.parseInt(readFileSync(path, 'utf8').trim().split('\n')[0] ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether a process with this PID exists and has not exited (a zombie counts as exited). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; comm may contain spaces, so look after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): kill(0) is all we know
  }
}

/**
 * When the process started (field 22 of /proc/<pid>/stat, clock ticks since boot): with the PID, an
 * identity that a later process reusing the PID does not share. Undefined without /proc.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * Whether the live process `pid` is the one we recorded: its command line contains `marker`. Guards
 * against a PID reused by an unrelated process after a reboot. Without /proc, trust the pid file.
 */
export function pidRunning(pid: number, marker: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
  } catch {
    return true;
  }
}

/** Sends `signal` to `pid`, waits for it to exit, and sends SIGKILL after `timeoutMs`. */
export async function stopPid(
  pid: number,
  signal: NodeJS.Signals = 'SIGTERM',
  timeoutMs = 20_000,
): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, signal);
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      console.warn(`process ${pid} did not exit ${timeoutMs} ms after ${signal}: sending SIGKILL`);
      process.kill(pid, 'SIGKILL');
      await sleep(200);
      return;
    }
    await sleep(50);
  }
}

/** Stops the process recorded in `pidFile` (only if it still is the one we started) and removes the file. */
export async function stopRecorded(
  pidFile: string,
  marker: string,
  signal: NodeJS.Signals,
): Promise<boolean> {
  const pid = readPidFile(pidFile);
  const running = pid !== undefined && pidRunning(pid, marker);
  if (running) await stopPid(pid, signal);
  rmSync(pidFile, { force: true });
  return running;
}

/** For error messages: a log file's first ERROR/FATAL lines (with the line after each) and its last lines. */
export function logExcerpt(path: string): string {
  if (!existsSync(path)) return `(no log at ${path})`;
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  const errors = lines
    .flatMap((line, i) => (/\b(ERROR|FATAL|PANIC)\b/.test(line) ? [line, lines[i + 1] ?? ''] : []))
    .slice(0, 12);
  const last = `--- last lines of ${path} ---\n${lines.slice(-20).join('\n')}`;
  return errors.length === 0 ? last : `--- errors in ${path} ---\n${errors.join('\n')}\n${last}`;
}

export interface RunOptions {
  readonly uid?: number;
  readonly gid?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Own process group and session, so that what it leaves running does not get the terminal's Ctrl-C. */
  readonly detached?: boolean;
  /** Kills the command (SIGTERM) when aborted. */
  readonly signal?: AbortSignal;
}

/** Runs a command to completion; rejects with its output when it fails. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      uid: options.uid,
      gid: options.gid,
      detached: options.detached,
      env: options.env ?? process.env,
      signal: options.signal,
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise(output);
      else
        reject(
          new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${output.trim()}`),
        );
    });
  });
}

/**
 * Calls `attempt` until it resolves, `timeoutMs` passes, `abort()` returns a reason to give up, or
 * `signal` is aborted (rejects with its reason).
 */
export async function retryUntil<T>(
  attempt: () => Promise<T>,
  {
    timeoutMs,
    intervalMs = 250,
    abort,
    signal,
  }: { timeoutMs: number; intervalMs?: number; abort?: () => string | undefined; signal?: AbortSignal },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (error) {
      signal?.throwIfAborted();
      const reason = abort?.();
      if (reason !== undefined) throw new Error(reason, { cause: error });
      if (Date.now() > deadline) throw error;
    }
    await sleep(intervalMs, undefined, { signal });
  }
}
