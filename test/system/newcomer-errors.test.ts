/** The errors a newcomer meets first name the fix: nothing listening where the broker or database should be. */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../scripts/migrate.js';
import { openDatabaseEventClient } from '../../src/client/index.js';
import { TransportError } from '../../src/errors.js';
import { TRANSPORT_KINDS } from '../../src/transport/create-transport.js';

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

describe('errors that name the fix', () => {
  it.each(TRANSPORT_KINDS)(
    'no broker (%s transport): says where, and how to start the local stack',
    async (kind) => {
      const port = await closedPort();
      const error = await openDatabaseEventClient({
        bootstrapServers: `127.0.0.1:${port}`,
        transportKind: kind,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TransportError);
      expect((error as Error).message).toContain(`no Kafka broker answers at 127.0.0.1:${port}`);
      expect((error as Error).message).toContain('`npm start`');
      expect((error as Error).message).toContain('127.0.0.1:39092');
    },
  );

  it('no bootstrap servers at all: names the variable and the local stack port', async () => {
    const saved = process.env.KAFKA_BOOTSTRAP_SERVERS;
    delete process.env.KAFKA_BOOTSTRAP_SERVERS;
    try {
      await expect(openDatabaseEventClient({})).rejects.toThrow(
        /KAFKA_BOOTSTRAP_SERVERS.*127\.0\.0\.1:39092/,
      );
    } finally {
      if (saved !== undefined) process.env.KAFKA_BOOTSTRAP_SERVERS = saved;
    }
  });

  it('migrate with the database down: says where, and how to start it', async () => {
    const port = await closedPort();
    await expect(migrate(`postgres://postgres@127.0.0.1:${port}/omninode_bridge`)).rejects.toThrow(
      new RegExp(`cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port} .*npm run stack:up`),
    );
  });
});
