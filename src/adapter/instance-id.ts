import { createHash } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { hostname as osHostname, tmpdir } from 'node:os';
import { join } from 'node:path';

/** The value of `DBBRIDGE_INSTANCE_ID` that turns static group membership off. */
export const NO_INSTANCE_ID = 'off';

/** Slots tried on one host before giving up (more adapters of one group on one machine than this). */
const MAX_SLOTS = 256;

/** A claimed instance id; `release()` gives its slot back (the process's death does too). */
export interface InstanceIdClaim {
  readonly id: string | undefined;
  release(): Promise<void>;
}

export interface ClaimInstanceIdOptions {
  /** `DBBRIDGE_INSTANCE_ID`: an explicit id, `off`, or undefined to derive one. */
  readonly explicit?: string | undefined;
  /** The adapter group and the brokers: an id needs to be unique only within one group of one cluster. */
  readonly groupId: string;
  readonly brokers: readonly string[];
  readonly hostname?: string;
  /** Where lock sockets go on systems without Linux's abstract socket namespace. Default: the temp dir. */
  readonly lockDir?: string;
}

/** Kafka's legal characters for a `group.instance.id`: letters, digits, '.', '_', '-'. */
export function sanitizeInstanceId(raw: string): string {
  return raw.replace(/[^a-zA-Z0-9._-]/g, '-').slice(0, 200);
}

/**
 * The adapter's stable `group.instance.id` (static group membership), so that an adapter restarted
 * after a crash takes its partitions back at once instead of after the dead member's session timeout.
 *
 * - `explicit` set: that id (sanitized); `off`: none (dynamic membership).
 * - otherwise `<hostname>-<slot>`: slot is the lowest number not held by another live adapter of the
 *   same group and brokers on this machine. A slot is held by listening on a local socket (Linux: the
 *   abstract namespace, which the kernel frees when the process dies, SIGKILL included), so a
 *   restarted adapter gets the slot, and the id, of the one that died, and two adapters running at
 *   once never share one. Hostnames are unique per machine, pod or container.
 */
export async function claimInstanceId(options: ClaimInstanceIdOptions): Promise<InstanceIdClaim> {
  const explicit = options.explicit?.trim();
  if (explicit === NO_INSTANCE_ID) return { id: undefined, release: async () => {} };
  if (explicit) return { id: sanitizeInstanceId(explicit), release: async () => {} };
  const scope = createHash('sha256')
    .update(`${options.groupId}\n${[...options.brokers].sort().join(',')}`)
    .digest('hex')
    .slice(0, 16);
  const host = sanitizeInstanceId(options.hostname ?? osHostname()).slice(0, 120) || 'host';
  for (let slot = 0; slot < MAX_SLOTS; slot++) {
    const name = `dbbridge-adapter-${scope}-${slot}`;
    const server = await holdSocket(name, options.lockDir ?? tmpdir());
    if (server) {
      server.unref();
      return {
        id: `${host}-${slot}`,
        release: () => new Promise<void>((resolve) => server.close(() => resolve())),
      };
    }
  }
  throw new Error(
    `no free instance slot among ${MAX_SLOTS} on this host for group ${options.groupId}: set DBBRIDGE_INSTANCE_ID`,
  );
}

/** Listens on the named local socket; undefined when another live process holds it. */
async function holdSocket(name: string, lockDir: string): Promise<Server | undefined> {
  if (process.platform === 'linux') return listen(`\0${name}`);
  const path = join(lockDir, `${name}.sock`);
  const server = await listen(path);
  if (server) return server;
  // A socket file left by a process that died: nobody answers on it, so it may be taken over.
  if (await answers(path)) return undefined;
  await unlink(path).catch(() => {});
  return listen(path);
}

function listen(path: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(undefined);
      else reject(error);
    });
    server.listen({ path, exclusive: true }, () => resolve(server));
  });
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
