import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderSchemas, SCHEMA_DIR } from '../../scripts/json-schemas.js';

describe('generated/events JSON Schemas', () => {
  it('match the zod contract in src/events (run `npm run schemas` after changing it)', () => {
    for (const [file, text] of Object.entries(renderSchemas())) {
      expect(readFileSync(join(SCHEMA_DIR, file), 'utf8'), file).toBe(text);
    }
  });
});
