import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DEFAULT_TRANSPORT } from '../../src/transport/create-transport.js';
import { repoRoot } from '../stack/process.js';

export interface AdapterProcessOptions {
  readonly bootstrapServers: string;
  readonly databaseUrl: string;
  /** Topic environment (`DBBRIDGE_ENV`) of this benchmark run. */
  readonly topicEnv: string;
  readonly groupId: string;
  readonly poolMax: number;
  /** `DBBRIDGE_MAX_IN_FLIGHT`; default: the adapter's (the pool size). */
  readonly maxInFlight?: number | undefined;
  /** Write a V8 CPU profile of the adapter into this directory when it exits. */
  readonly cpuProfileDir?: string | undefined;
  /** `DBBRIDGE_TRANSPORT` of the adapter. Default kafkajs. */
  readonly transport?: 'kafkajs' | 'platformatic';
  /** Longest wait for `adapter ready`, ms. Default 60000. */
  readonly readyTimeoutMs?: number;
}

/** The adapter as a separate process (`node --import tsx src/adapter/main.ts`), as it runs in production. */
export class AdapterProcess {
  readonly #child: ChildProcess;
  readonly #tail: string[] = [];
  #warnings = 0;
  #exited: Promise<number | null>;
  #exitCode: number | null | undefined;
  #onReady: (() => void) | undefined;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        this.#exitCode = code;
        resolve(code);
      });
    });
    if (child.stderr) {
      const lines = createInterface({ input: child.stderr });
      lines.on('line', (line) => {
        this.#tail.push(line);
        if (this.#tail.length > 40) this.#tail.shift();
        if (/"level":"(warn|error)"/.test(line)) this.#warnings++;
        if (this.#onReady !== undefined && line.includes('"msg":"adapter ready"')) {
          this.#onReady();
          this.#onReady = undefined;
        }
      });
    }
  }

  static async start(options: AdapterProcessOptions): Promise<AdapterProcess> {
    const nodeArgs = ['--import', 'tsx'];
    if (options.cpuProfileDir !== undefined) {
      mkdirSync(options.cpuProfileDir, { recursive: true });
      nodeArgs.push(
        '--cpu-prof',
        `--cpu-prof-dir=${options.cpuProfileDir}`,
        '--cpu-prof-name=adapter.cpuprofile',
      );
    }
    const child = spawn(join(repoRoot, 'node_modules/.bin/node'), [...nodeArgs, 'src/adapter/main.ts'], {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        KAFKA_BOOTSTRAP_SERVERS: options.bootstrapServers,
        DATABASE_URL: options.databaseUrl,
        DBBRIDGE_ENV: options.topicEnv,
        DBBRIDGE_ADAPTER_GROUP: options.groupId,
        DBBRIDGE_POOL_MAX: String(options.poolMax),
        DBBRIDGE_LOG_LEVEL: 'info',
        DBBRIDGE_TRANSPORT: options.transport ?? DEFAULT_TRANSPORT,
        ...(options.maxInFlight === undefined ? {} : { DBBRIDGE_MAX_IN_FLIGHT: String(options.maxInFlight) }),
      },
    });
    const adapter = new AdapterProcess(child);
    const timeoutMs = options.readyTimeoutMs ?? 60_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`the adapter was not ready after ${timeoutMs} ms:\n${adapter.logTail()}`));
      }, timeoutMs);
      adapter.#onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(
            `the adapter exited (${signal ?? `code ${code}`}) before it was ready:\n${adapter.logTail()}`,
          ),
        );
      });
    }).catch(async (error) => {
      await adapter.stop();
      throw error;
    });
    return adapter;
  }

  get pid(): number | undefined {
    return this.#child.exitCode === null ? this.#child.pid : undefined;
  }

  /** warn and error lines the adapter logged so far. */
  get warnings(): number {
    return this.#warnings;
  }

  get running(): boolean {
    return this.#exitCode === undefined;
  }

  logTail(lines = 20): string {
    return this.#tail.slice(-lines).join('\n');
  }

  /** SIGTERM (the adapter answers what is in flight and exits), then SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    if (this.#exitCode !== undefined) return this.#exitCode;
    this.#child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        console.warn(
          `the adapter (pid ${this.#child.pid}) did not exit ${timeoutMs} ms after SIGTERM: SIGKILL`,
        );
        this.#child.kill('SIGKILL');
        resolve();
      }, timeoutMs);
    });
    await Promise.race([this.#exited, killed]);
    clearTimeout(timer);
    return this.#exited;
  }
}
