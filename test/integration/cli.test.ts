/** The `dbbridge` command line against the real broker and database, as an operator runs it. */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Env } from '../../src/env.js';
import { topicNames } from '../../src/events/topics.js';
import {
  createTopics,
  kafkaAdmin,
  type RunningAdapter,
  stack,
  startAdapter,
  uniqueEnv,
} from '../helpers/bridge.js';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const node = join(root, 'node_modules', '.bin', 'node');
const topicEnv = uniqueEnv('cli');
let adapter: RunningAdapter;

function cliEnv(env = topicEnv): NodeJS.ProcessEnv {
  return { ...process.env, KAFKA_BOOTSTRAP_SERVERS: stack().bootstrapServers, DBBRIDGE_ENV: env };
}

/** Runs `dbbridge ...args`; resolves with its output and exit code (non-zero does not reject). */
async function dbbridge(args: string[], env = cliEnv()) {
  try {
    const { stdout, stderr } = await exec(node, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: root,
      env,
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

beforeAll(async () => {
  await createTopics(topicEnv);
  adapter = await startAdapter(topicEnv, { name: 'cli' });
});
afterAll(async () => {
  await adapter?.close();
});

describe('dbbridge query', () => {
  it('prints rows as a table, and the round trip and correlation id on stderr', async () => {
    const r = await dbbridge(['query', "SELECT 1 AS one, 'two' AS two, NULL::int AS three"]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').slice(0, 4)).toEqual([
      'one | two | three',
      '----+-----+------',
      '1   | two | NULL',
      '(1 row)',
    ]);
    expect(r.stderr).toMatch(/^[\d.]+ ms round trip, correlation id [0-9a-f-]{36}$/m);
  });

  it('passes parameters and prints JSON with --json', async () => {
    const r = await dbbridge(['query', 'SELECT $1::int * 2 AS n, $2::text AS s', '21', 'x y', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      rows: [{ n: 42, s: 'x y' }],
      rowCount: 1,
      correlationId: expect.any(String),
    });
  });

  it('prints code, SQLSTATE and message of a failure and exits 1', async () => {
    const r = await dbbridge(['query', 'SELECT * FROM no_such_table_cli']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^DATABASE_OPERATION_FAILED \(SQLSTATE 42P01\): relation "no_such_table_cli" does not exist \[correlation id [0-9a-f-]{36}\]$/m,
    );
  });
});

describe('dbbridge health', () => {
  it('reports broker, adapter and database', async () => {
    const r = await dbbridge(['health']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok {4}broker: /m);
    expect(r.stdout).toMatch(
      /^ok {4}adapter and database: round trip answered by PostgreSQL \(omninode_bridge, PostgreSQL \d+/m,
    );
  });

  it('fails with exit 1 when no adapter answers', async () => {
    const lonely = uniqueEnv('cli-noadapter');
    await createTopics(lonely);
    const r = await dbbridge(['health'], cliEnv(lonely));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ok {4}broker: /m);
    expect(r.stdout).toMatch(/^FAIL {2}adapter and database: .*timeout/im);
  });
});

describe('dbbridge topics create', () => {
  it('creates the topics (the dead-letter topic too) with the partitions and min.insync.replicas asked for', async () => {
    const fresh = uniqueEnv('cli-topics');
    const r = await dbbridge(
      [
        'topics',
        'create',
        '--request-partitions',
        '3',
        '--reply-partitions',
        '5',
        '--min-insync-replicas',
        '1',
      ],
      cliEnv(fresh),
    );
    expect(r.code, r.stderr).toBe(0);
    const names = topicNames(fresh);
    const admin = kafkaAdmin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: Object.values(names) });
      const partitions = Object.fromEntries(topics.map((t) => [t.name, t.partitions.length]));
      expect(partitions).toEqual({
        [names.requested]: 3,
        [names.completed]: 5,
        [names.failed]: 5,
        [names.deadLettered]: 1,
      });
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: 2, name: names.requested, configNames: ['min.insync.replicas'] }],
      });
      expect(configs.resources[0]?.configEntries[0]).toMatchObject({
        configName: 'min.insync.replicas',
        configValue: '1',
      });
      await admin.deleteTopics({ topics: Object.values(names) });
    } finally {
      await admin.disconnect();
    }
  });
});

describe('dbbridge tail', () => {
  it('follows a request and its reply, matched by correlation id', async () => {
    const child: ChildProcess = spawn(node, ['--import', 'tsx', 'src/cli/main.ts', 'tail', '--json'], {
      cwd: root,
      env: cliEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d) => {
      out += d;
    });
    child.stderr?.on('data', (d) => {
      err += d;
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const lines = () =>
        out
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { kind: string; correlationId: string });
      // Its group joins asynchronously: send until it has seen one whole exchange.
      const deadline = Date.now() + 45_000;
      let matched: string | undefined;
      while (matched === undefined && Date.now() < deadline) {
        const q = await dbbridge(['query', 'SELECT 7 AS seven', '--json']);
        const id = (JSON.parse(q.stdout) as { correlationId: string }).correlationId;
        const pollUntil = Date.now() + 3000;
        while (Date.now() < pollUntil) {
          const seen = lines().filter((l) => l.correlationId === id);
          if (seen.some((l) => l.kind === 'request') && seen.some((l) => l.kind === 'completed')) {
            matched = id;
            break;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect(matched, `${out}\n${err}`).toBeDefined();
      expect(lines().find((l) => l.correlationId === matched && l.kind === 'completed')).toMatchObject({
        ms: expect.any(Number),
        detail: expect.stringMatching(/^1 rows/),
      });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});

describe('dbbridge adapter --help', () => {
  it('lists every environment variable', async () => {
    const r = await dbbridge(['adapter', '--help']);
    expect(r.code).toBe(0);
    for (const name of Object.keys(Env.shape)) expect(r.stdout).toContain(`  ${name}`);
  });
});
