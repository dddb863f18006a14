#!/usr/bin/env node
import '../require-node.js';

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Env, readEnvWithStack } from '../env.js';
import {
  createTopics,
  environmentHelp,
  health,
  type Io,
  query,
  reportError,
  serviceAdd,
  serviceList,
  tail,
} from './commands.js';

const USAGE = `dbbridge: typed PostgreSQL access over Kafka

Usage:
  dbbridge adapter [--<variable> value ...]   run the adapter service (--help lists every variable)
  dbbridge query "SQL" [param ...] [--json] [--timeout-ms N]
                                              one statement through the bus: rows, round trip, correlation id
  dbbridge health                             broker, adapter round trip, database
  dbbridge topics create [--request-partitions 12] [--reply-partitions 24]
                         [--replication-factor 1] [--min-insync-replicas N]
  dbbridge service add <name> [--adapter adapter] [--adapter-group G] [--request-partitions 6]
                         [--reply-partitions 24] [--replication-factor 1] [--min-insync-replicas N]
                         [--dry-run]
                                              a service's own topics and ACLs on a secured cluster
                                              (idempotent; --dry-run prints kafka-topics.sh/kafka-acls.sh lines)
  dbbridge service list                       services with their own request topic in DBBRIDGE_ENV
  dbbridge tail [--json]                      follow requests and replies, matched, with timings
  dbbridge stack up|down|status               the local stack (in the dbbridge repository)
  dbbridge migrate                            apply the schema migrations (in the dbbridge repository)
  dbbridge codegen [--via-bus] [--verify]     regenerate the table types (in the dbbridge repository)

Kafka's address and the topic environment come from KAFKA_BOOTSTRAP_SERVERS and DBBRIDGE_ENV, or from
<DBBRIDGE_STATE_DIR>/stack.env of a local stack; a secured cluster's credentials from KAFKA_SECURITY_PROTOCOL,
KAFKA_SASL_* and KAFKA_SSL_* (\`service add\` needs a super user's, or CREATE and ALTER on the cluster).`;

const SERVICE_USAGE =
  'usage: dbbridge service add <name> [--adapter P]... [--adapter-group G] [--request-partitions N] [--reply-partitions N] [--replication-factor N] [--min-insync-replicas N] [--dry-run] | dbbridge service list';

const io: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** `--pool-max 10` -> `DBBRIDGE_POOL_MAX=10`; `--bootstrap-servers`, `--database-url` keep their names. */
export function flagsToEnv(args: readonly string[]): Record<string, string> {
  const known = new Set(Object.keys(Env.shape));
  const env: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const match = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unexpected argument ${JSON.stringify(arg)} (see dbbridge adapter --help)`);
    const base = (match[1] as string).replaceAll('-', '_').toUpperCase();
    const name = [base, `DBBRIDGE_${base}`, `KAFKA_${base}`].find((n) => known.has(n));
    if (name === undefined) throw new Error(`unknown option --${match[1]} (see dbbridge adapter --help)`);
    const value = match[2] ?? args[++i];
    if (value === undefined) throw new Error(`--${match[1]} needs a value`);
    env[name] = value;
  }
  return env;
}

/**
 * The repository's own scripts (stack, migrate, codegen), when the CLI runs from a clone: they run as
 * if started directly and end the process themselves (undefined: do not exit here).
 */
async function repositoryScript(name: string, args: string[]): Promise<number | undefined> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const script = join(root, 'scripts', `${name}.ts`);
  if (!existsSync(script) || !import.meta.url.endsWith('.ts')) {
    io.err(
      `dbbridge ${name} runs the local stack's scripts, which ship with the repository, not the package: in a clone, \`npm run dbbridge -- ${name} ${args.join(' ')}\``,
    );
    return 2;
  }
  process.argv = [process.argv[0] as string, script, ...args];
  await import(pathToFileURL(script).href);
  return undefined;
}

async function run(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(USAGE);
    return command === undefined ? 2 : 0;
  }
  switch (command) {
    case 'adapter': {
      if (rest.includes('--help') || rest.includes('-h')) {
        io.out(
          `dbbridge adapter: consumes query requests and answers them from PostgreSQL.\n\n${environmentHelp()}`,
        );
        return 0;
      }
      Object.assign(process.env, flagsToEnv(rest));
      // Loaded only here: the other commands work without the adapter's optional SQL parser.
      const { main } = await import('../adapter/main.js');
      await main();
      return undefined; // serves until a signal ends the process
    }
    case 'query': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { json: { type: 'boolean', default: false }, 'timeout-ms': { type: 'string' } },
      });
      const [sql, ...params] = positionals;
      if (sql === undefined) {
        io.err('usage: dbbridge query "SQL" [param ...] [--json] [--timeout-ms N]');
        return 2;
      }
      const timeout = values['timeout-ms'];
      return query(
        readEnvWithStack(),
        { sql, params, json: values.json, ...(timeout ? { timeoutMs: Number(timeout) } : {}) },
        io,
      );
    }
    case 'health':
      return health(readEnvWithStack(), io);
    case 'topics': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          'request-partitions': { type: 'string', default: '12' },
          'reply-partitions': { type: 'string', default: '24' },
          'replication-factor': { type: 'string', default: '1' },
          'min-insync-replicas': { type: 'string' },
        },
      });
      if (positionals[0] !== 'create') {
        io.err(
          'usage: dbbridge topics create [--request-partitions N] [--reply-partitions N] [--replication-factor N] [--min-insync-replicas N]',
        );
        return 2;
      }
      const isr = values['min-insync-replicas'];
      return createTopics(
        readEnvWithStack(),
        {
          requestPartitions: Number(values['request-partitions']),
          replyPartitions: Number(values['reply-partitions']),
          replicationFactor: Number(values['replication-factor']),
          ...(isr ? { minInsyncReplicas: Number(isr) } : {}),
        },
        io,
      );
    }
    case 'service': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          adapter: { type: 'string', multiple: true },
          'adapter-group': { type: 'string' },
          'request-partitions': { type: 'string', default: '6' },
          'reply-partitions': { type: 'string', default: '24' },
          'replication-factor': { type: 'string', default: '1' },
          'min-insync-replicas': { type: 'string' },
          'dry-run': { type: 'boolean', default: false },
          help: { type: 'boolean', short: 'h', default: false },
        },
      });
      if (values.help) {
        io.out(SERVICE_USAGE);
        return 0;
      }
      if (positionals[0] === 'list' && positionals.length === 1) return serviceList(readEnvWithStack(), io);
      if (positionals[0] !== 'add' || positionals.length !== 2) {
        io.err(SERVICE_USAGE);
        return 2;
      }
      const isr = values['min-insync-replicas'];
      const group = values['adapter-group'];
      return serviceAdd(
        readEnvWithStack(),
        {
          service: positionals[1] as string,
          adapters: values.adapter ?? ['adapter'],
          ...(group === undefined ? {} : { adapterGroup: group }),
          requestPartitions: Number(values['request-partitions']),
          replyPartitions: Number(values['reply-partitions']),
          replicationFactor: Number(values['replication-factor']),
          ...(isr === undefined ? {} : { minInsyncReplicas: Number(isr) }),
          dryRun: values['dry-run'],
        },
        io,
      );
    }
    case 'tail': {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false } } });
      const controller = new AbortController();
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());
      return tail(readEnvWithStack(), io, controller.signal, values.json);
    }
    case 'stack':
      return repositoryScript('stack', rest);
    case 'migrate':
      return repositoryScript('migrate', rest);
    case 'codegen':
      return repositoryScript('codegen', rest);
    default:
      io.err(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (error) => {
    reportError(error, io);
    process.exit(1);
  },
);
