import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { nullableOptionals } from '../src/events/absent.js';
import { DeadLetterEnvelope } from '../src/events/dead-letter.js';
import { CompletedEnvelope, FailedEnvelope, ReplyEnvelope } from '../src/events/reply.js';
import { RequestEnvelope } from '../src/events/request.js';

/** The wire contract as JSON Schema, for peers in other languages. `--check` fails when the files are stale. */
export const SCHEMA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'generated', 'events');

const SCHEMAS = {
  'query-requested.v1': RequestEnvelope,
  'query-completed.v1': CompletedEnvelope,
  'query-failed.v1': FailedEnvelope,
  'query-reply.v1': ReplyEnvelope,
  'query-dead-lettered.v1': DeadLetterEnvelope,
} as const;

export function renderSchemas(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    const generated = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
    const json = {
      $id: `https://dbbridge.dev/schemas/${name}.schema.json`,
      $comment: 'Generated from src/events by `npm run schemas`. Do not edit by hand.',
      // A request's optional fields also take `null`, meaning absent (src/events/absent.ts).
      ...(schema === RequestEnvelope ? (nullableOptionals(generated) as typeof generated) : generated),
    };
    out[`${name}.schema.json`] = `${JSON.stringify(json, null, 2)}\n`;
  }
  return out;
}

function main(): void {
  const check = process.argv.includes('--check');
  const stale: string[] = [];
  mkdirSync(SCHEMA_DIR, { recursive: true });
  for (const [file, text] of Object.entries(renderSchemas())) {
    const path = join(SCHEMA_DIR, file);
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {}
    if (current === text) continue;
    if (check) stale.push(file);
    else writeFileSync(path, text);
  }
  if (stale.length > 0) {
    console.error(`stale JSON Schemas in generated/events: ${stale.join(', ')}; run \`npm run schemas\``);
    process.exit(1);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
