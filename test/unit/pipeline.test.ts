import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sendPipelined } from '../../src/adapter/pipeline.js';

/** A stand-in for the parts of a pg client that pipelining reads and writes. */
class FakeClient extends EventEmitter {
  pipeline = false;
  readyForQuery = true;
  _queryable = true;
  _queryQueue: unknown[] = [];
  _sentQueryQueue: unknown[] = [];
  active: unknown = null;
  corked = 0;
  writes = 0;
  sent: unknown[] = [];
  connection = {
    stream: {
      cork: () => {
        this.corked++;
      },
      uncork: () => {
        this.corked--;
        this.writes++;
      },
    },
  };
  _getActiveQuery() {
    return this.active;
  }
  query(q: unknown) {
    expect(this.pipeline).toBe(true);
    this.sent.push(q);
  }
}
const asClient = (c: FakeClient) => c as unknown as pg.PoolClient;

afterEach(() => {
  vi.useRealTimers();
});

describe('sendPipelined', () => {
  it('sends every statement in pipeline mode in one corked write, and leaves pipeline mode once idle', async () => {
    const c = new FakeClient();
    const settled = await sendPipelined(
      asClient(c),
      [{ text: 'a' }, { text: 'b' }],
      [Promise.resolve(), Promise.resolve()],
    );
    expect(settled).toBe(true);
    expect(c.sent).toHaveLength(2);
    expect(c.writes).toBe(1);
    expect(c.corked).toBe(0);
    expect(c.pipeline).toBe(false);
  });

  it('every promise settled but a Sync still unanswered: waits for drain, in pipeline mode', async () => {
    const c = new FakeClient();
    c.readyForQuery = false;
    c._sentQueryQueue.push({ text: 'b' }); // its promise settled early (parameters failed to encode)
    let done = false;
    const result = sendPipelined(asClient(c), [{ text: 'a' }], [Promise.reject(new Error('x'))]).then((s) => {
      done = true;
      return s;
    });
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    expect(c.pipeline).toBe(true); // pg must still hand the late answers to the statements they belong to
    c._sentQueryQueue.length = 0;
    c.readyForQuery = true;
    c.emit('drain');
    expect(await result).toBe(true);
    expect(c.pipeline).toBe(false);
  });

  it('a connection that failed is not reusable; one that never settles is given up after 10 s', async () => {
    const failed = new FakeClient();
    failed._queryable = false;
    expect(await sendPipelined(asClient(failed), [{ text: 'a' }], [Promise.resolve()])).toBe(false);

    vi.useFakeTimers();
    const stuck = new FakeClient();
    stuck.readyForQuery = false;
    const result = sendPipelined(asClient(stuck), [{ text: 'a' }], [Promise.resolve()]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await result).toBe(false);
  });
});
