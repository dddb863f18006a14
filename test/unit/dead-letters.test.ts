import { describe, expect, it } from 'vitest';
import { DeadLetters } from '../../src/adapter/dead-letters.js';
import { silentLogger } from '../../src/logger.js';
import type { IncomingMessage } from '../../src/transport/types.js';

const message: IncomingMessage = {
  topic: 'unit.omninode-bridge.database.query-requested.v1',
  partition: 3,
  offset: '41',
  key: null,
  value: Buffer.from('garbage'),
};
const why = { reason: 'UNDECODABLE', error: 'request is not valid JSON', answered: false } as const;

describe('DeadLetters', () => {
  it('gives up on a publish that does not settle, logs the coordinates, and lets the offset move on', async () => {
    const errors: Record<string, unknown>[] = [];
    const letters = new DeadLetters({
      publish: () => new Promise(() => {}),
      logger: { ...silentLogger, error: (_, fields) => errors.push(fields ?? {}) },
      owner: {},
      timeoutMs: 50,
    });
    expect(await letters.send(message, 'unit.dead', why)).toBe(false);
    expect(letters.failures).toBe(1);
    expect(letters.counts.UNDECODABLE).toBe(1);
    expect(errors).toEqual([
      expect.objectContaining({ topic: message.topic, partition: 3, offset: '41', reason: 'UNDECODABLE' }),
    ]);
  });

  it('never throws, also when publishing throws at once', async () => {
    const letters = new DeadLetters({
      publish: () => {
        throw new TypeError('no producer');
      },
      logger: silentLogger,
      owner: {},
    });
    expect(await letters.send(message, 'unit.dead', why)).toBe(false);
    expect(letters.failures).toBe(1);
  });
});
