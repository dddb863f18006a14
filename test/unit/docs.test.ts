/** docs/: the configuration table is generated from src/env.ts. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIGURATION_DOC, withCurrentTable } from '../../scripts/configuration-doc.js';

describe('docs/', () => {
  it('configuration.md lists the environment of src/env.ts (run `npm run schemas` after changing it)', () => {
    const text = readFileSync(CONFIGURATION_DOC, 'utf8');
    expect(text).toBe(withCurrentTable(text));
  });
});
