/**
 * The cost of per-service policies on the adapter's side of a request, A/B in one process, without
 * Kafka (whose noise on a shared machine swamps a few microseconds): the same key SELECT and INSERT
 * through an executor on the login role (A) and one whose connections took a service's role (B),
 * alternating in blocks so that load from elsewhere falls on both; and the policy check per request
 * (validator parse cached, decision cached). Needs the local stack (`npm run stack:up`):
 *
 *   npx tsx scripts/bench/policy-ab.ts [--blocks 20] [--block 200]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Executor } from '../../src/adapter/executor.js';
import { PolicyEnforcer, parsePolicy } from '../../src/adapter/policy.js';
import { SqlValidator } from '../../src/adapter/sql-validator.js';
import { readEnvWithStack } from '../../src/env.js';
import { SERVICE_ROLES } from '../stack/roles.js';

const { values } = parseArgs({
  options: { blocks: { type: 'string', default: '20' }, block: { type: 'string', default: '200' } },
});
const blocks = Number(values.blocks);
const block = Number(values.block);
const env = readEnvWithStack();
if (!env.DATABASE_URL || !env.DATABASE_OWNER_URL) throw new Error('no local stack: npm run stack:up');

const PK_SELECT = 'SELECT * FROM agent_execution_logs WHERE execution_id = $1';
const INSERT = `INSERT INTO agent_execution_logs (correlation_id, agent_name, status, user_prompt, duration_ms, project_name)
VALUES ($1, $2, $3, $4, $5, $6)`;
const tag = `policy-ab-${Date.now().toString(36)}`;

const owner = new pg.Pool({ connectionString: env.DATABASE_OWNER_URL, max: 1 });
const seeded = await owner.query<{ execution_id: string }>(
  `INSERT INTO agent_execution_logs (correlation_id, agent_name, status, project_name)
   SELECT gen_random_uuid(), 'agent-ab', 'success', $1 FROM generate_series(1, 1000) RETURNING execution_id`,
  [tag],
);
const ids = seeded.rows.map((r) => r.execution_id);

const base = { databaseUrl: env.DATABASE_URL, poolMax: 4, pipelineDepth: 1 };
const executors = {
  login: new Executor(base),
  role: new Executor({ ...base, role: SERVICE_ROLES['service-a'].role }),
};
const run = (executor: Executor, write: boolean) =>
  write
    ? executor.run(INSERT, [randomUUID(), 'agent-ab', 'in_progress', 'x', 1, tag], {
        readOnly: false,
        maxRows: 1000,
        timeoutMs: 5000,
      })
    : executor.run(PK_SELECT, [ids[Math.floor(Math.random() * ids.length)]], {
        readOnly: true,
        maxRows: 1000,
        timeoutMs: 5000,
      });

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};

try {
  for (const write of [false, true]) {
    const times = { login: [] as number[], role: [] as number[] };
    // Warm-up: connections open, the statement timeout set, the role's connections made.
    for (const e of Object.values(executors)) for (let i = 0; i < 50; i++) await run(e, write);
    for (let b = 0; b < blocks; b++) {
      const order = b % 2 === 0 ? (['login', 'role'] as const) : (['role', 'login'] as const);
      for (const name of order) {
        for (let i = 0; i < block; i++) {
          const started = performance.now();
          await run(executors[name], write);
          times[name].push(performance.now() - started);
        }
      }
    }
    const a = median(times.login);
    const b = median(times.role);
    process.stdout.write(
      `${write ? 'INSERT' : 'key SELECT'}: median round trip, login role ${a.toFixed(3)} ms, service role ${b.toFixed(3)} ms, ratio ${(b / a).toFixed(3)} (${times.login.length} each, alternating blocks of ${block})\n`,
    );
  }

  // The policy check per request: the validator's cached parse, then the decision cached by SQL text.
  const validator = await SqlValidator.create();
  const policy = parsePolicy({
    version: 1,
    services: { s: { read: ['agent_execution_logs'], write: ['agent_execution_logs'] } },
  }).services.s;
  if (policy === undefined) throw new Error('no policy');
  const enforcer = new PolicyEnforcer('s', policy);
  const n = 200_000;
  for (const sql of [PK_SELECT, INSERT]) {
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      validator.check(sql, { kind: 'execute', allowDdl: false });
      enforcer.checkStatement(sql, () => validator.accessOf(sql));
    }
    const withPolicy = (performance.now() - started) / n;
    const started2 = performance.now();
    for (let i = 0; i < n; i++) validator.check(sql, { kind: 'execute', allowDdl: false });
    const without = (performance.now() - started2) / n;
    process.stdout.write(
      `${sql.startsWith('SELECT') ? 'key SELECT' : 'INSERT'}: validator ${(without * 1000).toFixed(2)} µs per request, with the policy check ${(withPolicy * 1000).toFixed(2)} µs\n`,
    );
  }
} finally {
  await owner.query('DELETE FROM agent_execution_logs WHERE project_name = $1', [tag]);
  await owner.end();
  await Promise.all(Object.values(executors).map((e) => e.close()));
}
