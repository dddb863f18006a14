import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { stack } from './bridge.js';

const root = join(import.meta.dirname, '..', '..');

export interface AdapterChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything the process logged so far (JSON lines). */
  logs(): string;
  /** True while the process runs. */
  alive(): boolean;
  /** SIGTERM, then waits for the exit code (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * The adapter as a real child process (`src/adapter/main.ts`) on topic environment `env` and group
 * `adapter-<env>`, with the transport under test; resolves once it logged `adapter ready`.
 */
export async function spawnAdapter(
  env: string,
  extraEnv: Record<string, string> = {},
): Promise<AdapterChild> {
  const child = spawn(join(root, 'node_modules/.bin/node'), ['--import', 'tsx', 'src/adapter/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      KAFKA_BOOTSTRAP_SERVERS: stack().bootstrapServers,
      DATABASE_URL: stack().databaseUrl,
      DBBRIDGE_ENV: env,
      DBBRIDGE_ADAPTER_GROUP: `adapter-${env}`,
      DBBRIDGE_LOG_LEVEL: 'info',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  child.stdout?.on('data', (d) => {
    logs += d;
  });
  child.stderr?.on('data', (d) => {
    logs += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!logs.includes('adapter ready')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`adapter did not start:\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = child.pid as number;
  return {
    child,
    pid,
    logs: () => logs,
    alive() {
      if (child.exitCode !== null || child.signalCode !== null) return false;
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    },
    async stop(graceMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
