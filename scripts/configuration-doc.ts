import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { clientEnvDefaults, Env } from '../src/env.js';

/**
 * The table of environment variables in docs/configuration.md, generated from the zod `Env` schema
 * (descriptions, defaults, accepted values). `npm run schemas` rewrites it; `--check` fails when stale.
 */
export const CONFIGURATION_DOC = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'docs',
  'configuration.md',
);

export const TABLE_START = '<!-- generated from src/env.ts by `npm run schemas`: do not edit by hand -->';
export const TABLE_END = '<!-- end of generated table -->';

interface PropertySchema {
  readonly type?: string;
  readonly enum?: readonly string[];
  readonly minimum?: number;
  readonly maximum?: number;
}

const code = (text: string) => `\`${text}\``;
const escapePipes = (text: string) => text.replaceAll('|', '\\|');

/** `DBBRIDGE_POOL_MAX` -> `--pool-max`, as `dbbridge adapter` maps flags (src/cli/main.ts). */
export function flagOf(name: string): string {
  const base = name.replace(/^(DBBRIDGE|KAFKA)_/, '');
  return `--${base.toLowerCase().replaceAll('_', '-')}`;
}

function accepted(schema: PropertySchema): string {
  if (schema.enum) return schema.enum.map(code).join(', ');
  if (schema.type === 'integer') {
    const max =
      schema.maximum !== undefined && schema.maximum < Number.MAX_SAFE_INTEGER ? schema.maximum : undefined;
    return max === undefined ? `integer ≥ ${schema.minimum ?? 0}` : `integer ${schema.minimum ?? 0}-${max}`;
  }
  return 'text';
}

/** True when library clients (`DatabaseEventClient`, `KafkaDialect`, compat) fall back to the variable. */
function readByClients(name: string, schema: PropertySchema): boolean {
  const sample = schema.enum?.[0] ?? '1';
  return Object.keys(clientEnvDefaults({ [name]: sample })).length > 0;
}

export function renderConfigurationTable(): string {
  const json = z.toJSONSchema(Env, { io: 'input', unrepresentable: 'any' }) as {
    properties: Record<string, PropertySchema>;
  };
  const rows = Object.entries(Env.shape).map(([name, schema]) => {
    const property = json.properties[name] ?? {};
    const parsed = schema.safeParse(undefined);
    const fallback = parsed.success && parsed.data !== undefined ? code(String(parsed.data)) : 'unset';
    const clients = readByClients(name, property) ? 'yes' : '';
    return `| ${code(name)} | ${code(flagOf(name))} | ${fallback} | ${accepted(property)} | ${clients} | ${escapePipes(schema.description ?? '')} |`;
  });
  return [
    TABLE_START,
    '',
    '| variable | `dbbridge adapter` flag | default | accepted | clients | description |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    TABLE_END,
  ].join('\n');
}

/** The document with its generated table replaced by the current one. */
export function withCurrentTable(doc: string): string {
  const start = doc.indexOf(TABLE_START);
  const end = doc.indexOf(TABLE_END);
  if (start < 0 || end < start)
    throw new Error(`docs/configuration.md lacks the markers of its generated table`);
  return doc.slice(0, start) + renderConfigurationTable() + doc.slice(end + TABLE_END.length);
}

function main(): void {
  const current = readFileSync(CONFIGURATION_DOC, 'utf8');
  const next = withCurrentTable(current);
  if (current === next) return;
  if (process.argv.includes('--check')) {
    console.error('docs/configuration.md is stale; run `npm run schemas`');
    process.exit(1);
  }
  writeFileSync(CONFIGURATION_DOC, next);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
