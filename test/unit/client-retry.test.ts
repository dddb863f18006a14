/**
 * Retry decisions of the client with a fake transport that never answers (no I/O): every operation
 * but SELECT / QUERY is a write; a recorded write carries one idempotency key for all its attempts
 * and is retried after a timeout; without keys a write is not.
 */
import { describe, expect, it } from 'vitest';
import { DatabaseEventClient, type DatabaseEventClientOptions } from '../../src/client/index.js';
import type { RequestEnvelope, RequestPayload } from '../../src/events/request.js';
import type { OutgoingMessage, Transport } from '../../src/transport/types.js';

function silentTransport() {
  const published: OutgoingMessage[] = [];
  const transport: Transport = {
    connect: async () => {},
    ping: async () => {},
    partitionCount: async () => 1,
    endOffsets: async () => [],
    close: async () => {},
    openGroupConsumer: async () => {
      throw new Error('not used');
    },
    openReplyChannel: async () => ({ partition: 0, assigned: true, close: async () => {} }),
    publisher: () => ({
      publish: async (_topic, message) => {
        published.push(message);
      },
      close: async () => {},
    }),
  };
  return { published, transport };
}

async function attempts(
  payload: RequestPayload,
  options: DatabaseEventClientOptions = {},
  idempotencyKey?: string,
) {
  const { published, transport } = silentTransport();
  const client = new DatabaseEventClient({
    transport,
    maxRetries: 2,
    requestTimeoutMs: 20,
    enableCircuitBreaker: false,
    sleep: async () => {},
    ...options,
  });
  await client.start();
  try {
    await expect(
      client.request(payload, idempotencyKey === undefined ? {} : { idempotencyKey }),
    ).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });
  } finally {
    await client.stop();
  }
  return published.map((m) => JSON.parse(m.value) as RequestEnvelope);
}

const sql = (operation_type: RequestPayload['operation_type']): RequestPayload => ({
  operation_type,
  sql: 'UPDATE t SET x = 1 WHERE id = 1',
});

describe('client retries', () => {
  it.each([
    ['INSERT', { operation_type: 'INSERT', table: 't', data: { x: 1 } }],
    ['UPDATE', sql('UPDATE')],
    ['DELETE', { operation_type: 'DELETE', table: 't', where: { id: 1 } }],
    ['EXECUTE', sql('EXECUTE')],
    ['UPSERT', { operation_type: 'UPSERT', table: 't', data: { id: 1 } }],
    ['BATCH', { operation_type: 'BATCH', statements: [{ sql: 'UPDATE t SET x = 1' }] }],
    ['COMMIT', { operation_type: 'COMMIT', transaction_id: 'tx-1' }],
  ] as [string, RequestPayload][])(
    '%s: retried after a timeout, one idempotency key for every attempt',
    async (_, payload) => {
      const sent = await attempts(payload);
      expect(sent).toHaveLength(3);
      const key = sent[0]?.idempotency_key;
      expect(key).toMatch(/^[\x21-\x7e]+$/);
      expect(sent.map((e) => e.idempotency_key)).toEqual([key, key, key]);
      expect(new Set(sent.map((e) => e.event_id)).size).toBe(3);
    },
  );

  it('a caller-given key is used for every attempt', async () => {
    const sent = await attempts(sql('EXECUTE'), {}, 'order-42');
    expect(sent.map((e) => e.idempotency_key)).toEqual(['order-42', 'order-42', 'order-42']);
  });

  it.each([
    ['SELECT', sql('SELECT')],
    ['QUERY', { operation_type: 'QUERY', query: 'SELECT 1' }],
  ] as [string, RequestPayload][])(
    '%s: a read carries no key and is not retried after a timeout by default',
    async (_, payload) => {
      const sent = await attempts(payload);
      expect(sent).toHaveLength(1);
      expect(sent[0]?.idempotency_key).toBeUndefined();
    },
  );

  it('BEGIN is a write that is not recorded: no key, not retried after a timeout', async () => {
    const sent = await attempts({ operation_type: 'BEGIN' });
    expect(sent).toHaveLength(1);
    expect(sent[0]?.idempotency_key).toBeUndefined();
  });

  it('a statement inside a transaction carries no key and is never retried', async () => {
    const sent = await attempts({ ...sql('EXECUTE'), transaction_id: 'tx-1' });
    expect(sent).toHaveLength(1);
    expect(sent[0]?.idempotency_key).toBeUndefined();
  });

  it('idempotentWrites: false sends no key and does not retry a write after a timeout', async () => {
    const sent = await attempts(sql('EXECUTE'), { idempotentWrites: false });
    expect(sent).toHaveLength(1);
    expect(sent[0]?.idempotency_key).toBeUndefined();
  });
});
