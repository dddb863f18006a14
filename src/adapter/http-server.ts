import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DatabaseAdapter } from './adapter.js';
import { AdapterMetrics } from './metrics.js';

export interface OperationsServerOptions {
  readonly adapter: DatabaseAdapter;
  /** TCP port; 0 picks a free one. */
  readonly port: number;
  /** Listen address. Default `127.0.0.1`. */
  readonly host?: string;
}

/** The adapter's HTTP endpoints for operators, and where they listen. */
export interface OperationsServer {
  readonly url: string;
  /** From now on `/healthz` and `/readyz` answer 503 (the adapter is draining); `/metrics` still answers. */
  markStopping(): void;
  close(): Promise<void>;
}

/**
 * `/metrics` (Prometheus text format), `/healthz` (200 while the process serves, 503 once stopping)
 * and `/readyz` (200 only while the adapter holds request partitions and the database answers; the
 * body says what is missing).
 */
export async function startOperationsServer(options: OperationsServerOptions): Promise<OperationsServer> {
  const { adapter } = options;
  const metrics = new AdapterMetrics(adapter);
  let stopping = false;
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      response.writeHead(status, { 'content-type': type }).end(body);
    };
    const json = (status: number, body: unknown) =>
      send(status, 'application/json', `${JSON.stringify(body)}\n`);
    if (request.method !== 'GET' && request.method !== 'HEAD') return json(405, { error: 'GET only' });
    if (path === '/metrics') {
      metrics.metrics().then(
        (text) => send(200, metrics.registry.contentType, text),
        (error: Error) => json(500, { error: error.message }),
      );
    } else if (path === '/healthz') {
      json(stopping ? 503 : 200, { status: stopping ? 'stopping' : 'ok' });
    } else if (path === '/readyz') {
      adapter.readiness().then(
        (r) => json(r.ready && !stopping ? 200 : 503, r),
        (error: Error) => json(503, { ready: false, reasons: [error.message] }),
      );
    } else {
      json(404, { error: 'not found', paths: ['/metrics', '/healthz', '/readyz'] });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    markStopping: () => {
      stopping = true;
    },
    close: async () => {
      stopping = true;
      metrics.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
