/**
 * Seed-format conformance from Python: `test/conformance/seed_client.py` (aiokafka, psycopg) speaks
 * the seed's wire format and the older dialect to the adapter under test, and checks every reply
 * field against the seed's reply format and every value against PostgreSQL. No TypeScript of the
 * project is on the client side; this file only provides the virtual environment, the adapter and
 * the topics, runs the program, and asserts its exit code and summary.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveStateDir } from '../../scripts/stack/process.js';
import { readEnv } from '../../src/env.js';
import { type Bridge, stack, startBridge } from '../helpers/bridge.js';

const run = promisify(execFile);
const here = fileURLToPath(new URL('../conformance/', import.meta.url));
const requirementsFile = join(here, 'requirements.txt');

/** A virtual environment under the state directory, created once and reused while requirements.txt is unchanged. */
async function venvPython(): Promise<string> {
  const venv = join(resolveStateDir(readEnv().DBBRIDGE_STATE_DIR), 'venv');
  const python = join(venv, 'bin', 'python');
  const marker = join(venv, 'dbbridge-requirements.txt');
  const requirements = readFileSync(requirementsFile, 'utf8');
  if (existsSync(python) && existsSync(marker) && readFileSync(marker, 'utf8') === requirements)
    return python;
  if (!existsSync(python)) await run('python3', ['-m', 'venv', venv]);
  await run(
    python,
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', requirementsFile],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  writeFileSync(marker, requirements);
  return python;
}

let bridge: Bridge;
let python: string;

beforeAll(async () => {
  [python, bridge] = await Promise.all([venvPython(), startBridge('python')]);
});

afterAll(async () => {
  await bridge?.close();
});

describe('Python seed client (aiokafka) against the adapter', () => {
  it('every reply field matches the seed format, every value matches PostgreSQL exactly', async ({
    annotate,
  }) => {
    const result = await run(
      python,
      [
        join(here, 'seed_client.py'),
        '--bootstrap',
        stack().bootstrapServers,
        '--env',
        bridge.env,
        '--dsn',
        stack().databaseOwnerUrl, // it creates its own table: the schema owner's connection
      ],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    ).catch((error: { code?: number; stdout?: string; stderr?: string }) => error);
    let summary: { checks?: number; failed?: string[] } = {};
    try {
      summary = JSON.parse((result.stdout ?? '').trim().split('\n').at(-1) ?? '');
    } catch {}
    expect(summary.failed, result.stderr).toEqual([]);
    expect('code' in result ? result.code : 0, result.stderr).toBe(0);
    // The program's own count: envelope and payload fields of every reply, and every value.
    expect(summary.checks).toBeGreaterThan(300);
    await annotate(`python conformance: ${summary.checks} checks passed`);
  });
});
