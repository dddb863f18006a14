/** docs/: the configuration table is generated from src/env.ts, and every TypeScript block is a type-checked file. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIGURATION_DOC, withCurrentTable } from '../../scripts/configuration-doc.js';

const root = join(import.meta.dirname, '..', '..');
const docsDir = join(root, 'docs');
const docs = readdirSync(docsDir)
  .filter((f) => f.endsWith('.md'))
  .map((f) => ({ file: `docs/${f}`, text: readFileSync(join(docsDir, f), 'utf8') }));

/** What a user writes instead of the examples' repository-relative imports. */
function asPublished(source: string): string {
  return source
    .replaceAll("'../../src/index.js'", "'dbbridge'")
    .replaceAll("'../../generated/db.js'", "'./db.js'");
}

/** Fenced blocks of a Markdown text: info string and body. */
function blocks(text: string): { info: string; body: string }[] {
  return [...text.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    info: (m[1] ?? '').trim(),
    body: m[2] ?? '',
  }));
}

describe('docs/', () => {
  it('has the five documents', () => {
    const files = docs.map((d) => d.file);
    for (const name of ['architecture', 'configuration', 'migration', 'operations', 'protocol']) {
      expect(files).toContain(`docs/${name}.md`);
    }
  });

  it('configuration.md lists the environment of src/env.ts (run `npm run schemas` after changing it)', () => {
    const text = readFileSync(CONFIGURATION_DOC, 'utf8');
    expect(text).toBe(withCurrentTable(text));
  });

  it('has every TypeScript block as a file of test/examples, word for word (typecheck compiles them)', () => {
    let checked = 0;
    for (const { file, text } of docs) {
      for (const { info, body } of blocks(text)) {
        const [lang, ...attributes] = info.split(/\s+/);
        if (lang !== 'ts' && lang !== 'typescript') continue;
        const source = attributes.find((a) => a.startsWith('file='))?.slice('file='.length);
        expect(source, `${file}: a ts block without file=test/examples/...`).toMatch(
          /^test\/examples\/.+\.ts$/,
        );
        expect(body, `${file}: ${source}`).toBe(
          asPublished(readFileSync(join(root, source as string), 'utf8')),
        );
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it('links only to files that exist, and the README links every document', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    for (const { file } of docs) expect(readme, file).toContain(`](${file})`);
    expect(readme).toContain('](generated/asyncapi.json)');
    for (const { file, text } of [...docs, { file: 'README.md', text: readme }]) {
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target as string)) continue;
        expect(existsSync(resolve(dirname(join(root, file)), target as string)), `${file} -> ${target}`).toBe(
          true,
        );
      }
    }
  });
});
