/** Fast failure while Kafka is known to be down, with a fake transport (no I/O). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BrokerUnavailableError, TransportError } from '../../src/errors.js';
import { requestEnvelope } from '../../src/events/envelope.js';
import { topicNames } from '../../src/events/topics.js';
import { RequestReply } from '../../src/transport/request-reply.js';
import type { OutgoingMessage, Transport } from '../../src/transport/types.js';

function fakeTransport() {
  const state = { assigned: true, fail: false, published: [] as OutgoingMessage[] };
  const transport: Transport = {
    connect: async () => {},
    ping: async () => {},
    partitionCount: async () => 1,
    endOffsets: async () => [],
    close: async () => {},
    openGroupConsumer: async () => {
      throw new Error('not used');
    },
    openReplyChannel: async () => ({
      partition: 0,
      get assigned() {
        return state.assigned;
      },
      close: async () => {},
    }),
    publisher: () => ({
      publish: async (_topic, message) => {
        if (state.fail) throw new TransportError('produce failed');
        state.published.push(message);
      },
      close: async () => {},
    }),
  };
  return { state, transport };
}

const call = (rr: RequestReply, timeoutMs = 60_000) =>
  rr.request(requestEnvelope({ operation_type: 'SELECT', sql: 'SELECT 1' }), timeoutMs);

afterEach(() => {
  vi.useRealTimers();
});

describe('RequestReply while Kafka is down', () => {
  it('refuses at once, without publishing, while the reply reader is failing', async () => {
    const { state, transport } = fakeTransport();
    const rr = new RequestReply({ transport, topics: topicNames('unit') });
    await rr.start();
    state.assigned = false;
    await expect(call(rr)).rejects.toBeInstanceOf(BrokerUnavailableError);
    expect(state.published).toHaveLength(0);
    state.assigned = true;
    const pending = call(rr, 50);
    await expect(pending).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });
    expect(state.published).toHaveLength(1);
    await rr.stop();
  });

  it('after a failed publish, refuses for 2 s, then lets a call through again', async () => {
    vi.useFakeTimers({ now: 0 });
    const { state, transport } = fakeTransport();
    const rr = new RequestReply({ transport, topics: topicNames('unit') });
    await rr.start();
    state.fail = true;
    const first = await call(rr).catch((e) => e);
    expect(first).toMatchObject({ code: 'TRANSPORT_ERROR' });
    expect(first).not.toBeInstanceOf(BrokerUnavailableError);
    await expect(call(rr)).rejects.toBeInstanceOf(BrokerUnavailableError);
    vi.setSystemTime(2000);
    state.fail = false;
    const probe = call(rr, 100).catch((e) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect(await probe).toMatchObject({ code: 'REQUEST_TIMEOUT' });
    expect(state.published).toHaveLength(1);
    await rr.stop();
  });
});
