/**
 * `stack:up -- --brokers 3`: three KRaft nodes (broker + controller each) of a state dir of the
 * test's own, on free ports. Status lists every broker, a node that died is started again by the
 * next `stack up`, a single broker is refused while the cluster runs, and `stack down` stops them all.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureKafkaJars } from '../../scripts/stack/kafka.js';
import { removeCluster } from '../../scripts/stack/postgres.js';
import { isAlive, resolveStateDir, stopPid } from '../../scripts/stack/process.js';
import { stackDown, stackStatus, stackUp } from '../../scripts/stack.js';
import { readEnv } from '../../src/env.js';

let home: string;
let env: NodeJS.ProcessEnv;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A base port such that base .. base + count - 1 are all free now. */
async function freeRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let free = true;
    for (let p = base; p < base + count && free; p++) free = await bindable(p);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports`);
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'dbbridge-cluster-'));
  const stateDir = join(home, 'state');
  const { DBBRIDGE_KAFKA_VERSION: version, DBBRIDGE_STATE_DIR } = readEnv();
  const jars = await ensureKafkaJars(resolveStateDir(DBBRIDGE_STATE_DIR), version);
  mkdirSync(join(stateDir, 'kafka', version), { recursive: true });
  symlinkSync(jars, join(stateDir, 'kafka', version, 'lib'));
  const { KAFKA_BOOTSTRAP_SERVERS: _kafka, DATABASE_URL: _database, ...inherited } = process.env;
  const base = await freeRun(7);
  env = {
    ...inherited,
    DBBRIDGE_STATE_DIR: stateDir,
    DBBRIDGE_KAFKA_PORT: String(base),
    DBBRIDGE_KAFKA_CONTROLLER_PORT: String(base + 1),
    DBBRIDGE_PG_PORT: String(base + 6),
  };
});

afterAll(async () => {
  if (env === undefined) return;
  await stackDown({ env });
  removeCluster(join(home, 'state', 'postgres', 'data'));
  rmSync(home, { recursive: true, force: true });
});

describe('stack up --brokers 3', () => {
  it('starts, reports, heals and stops a three-broker cluster', async () => {
    const port = Number(env.DBBRIDGE_KAFKA_PORT);
    const lines: string[] = [];
    const up = await stackUp({
      env,
      keep: true,
      command: 'stack up',
      brokers: 3,
      report: (l) => lines.push(l),
    });
    expect(up.kafkaBootstrapServers).toBe(`127.0.0.1:${port},127.0.0.1:${port + 2},127.0.0.1:${port + 4}`);
    const status = stackStatus({ env }).kafka;
    expect(status.nodes?.map((n) => n.port)).toEqual([port, port + 2, port + 4]);
    const pids = status.nodes?.map((n) => n.pid) ?? [];
    expect(pids.every((pid) => pid !== undefined && isAlive(pid))).toBe(true);
    expect(status).toMatchObject({ pid: pids[0], leftover: false });
    const owner = JSON.parse(readFileSync(join(env.DBBRIDGE_STATE_DIR as string, 'kafka.owner'), 'utf8'));
    expect(owner).toMatchObject({ command: 'stack up', kept: true, brokers: 3 });

    // A single broker is refused while the cluster runs.
    await expect(stackUp({ env, keep: true, brokers: 1, report: () => {} })).rejects.toThrow(
      /cluster of 3 brokers runs/,
    );

    // A node that died is reported, and the next stack up starts it again.
    await stopPid(pids[1] as number, 'SIGKILL');
    expect(stackStatus({ env }).kafka.nodes?.[1]?.pid).toBeUndefined();
    const healed: string[] = [];
    await stackUp({ env, keep: true, command: 'stack up', report: (l) => healed.push(l) });
    expect(healed.join('\n')).toMatch(/node 2 of 3 is down; starting it/);
    const after = stackStatus({ env }).kafka.nodes ?? [];
    expect(after.map((n) => n.pid !== undefined)).toEqual([true, true, true]);

    await stackDown({ env });
    for (const n of after) expect(isAlive(n.pid as number)).toBe(false);
    expect(stackStatus({ env }).kafka).toEqual({ pid: undefined, owner: undefined, leftover: false });
  });
});
