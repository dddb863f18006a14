import { isIP } from 'node:net';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { SASLOptions as PlatformaticSasl } from '@platformatic/kafka';
import type { SASLOptions as KafkajsSasl } from 'kafkajs';
import type { KafkaSecurity, KafkaTls } from './security.js';

/*
 * The Kafka libraries' own option shapes for `KafkaSecurity`. Kept apart from security.ts, whose types
 * are public: the libraries' declaration files stay out of dbbridge's (a consumer's strict \`tsc\`
 * without \`skipLibCheck\` would check them).
 */

function nodeTls(tls: KafkaTls | boolean | undefined): TlsConnectionOptions | undefined {
  if (tls === undefined || tls === false) return undefined;
  if (tls === true) return {};
  const out: TlsConnectionOptions = {};
  if (tls.ca !== undefined) out.ca = tls.ca;
  if (tls.cert !== undefined) out.cert = tls.cert;
  if (tls.key !== undefined) out.key = tls.key;
  if (tls.passphrase !== undefined) out.passphrase = tls.passphrase;
  if (tls.serverName !== undefined) out.servername = tls.serverName;
  if (tls.rejectUnauthorized !== undefined) out.rejectUnauthorized = tls.rejectUnauthorized;
  return out;
}

/**
 * `@platformatic/kafka` client options (`tls`, `tlsServerName`, `sasl`) for `security`. SNI names the
 * configured server name, else each broker's host name (not an IP address: RFC 6066 forbids it).
 */
export function platformaticSecurity(
  security: KafkaSecurity | undefined,
  brokers: readonly string[] = [],
): {
  tls?: TlsConnectionOptions;
  tlsServerName?: string | boolean;
  sasl?: PlatformaticSasl;
} {
  const out: { tls?: TlsConnectionOptions; tlsServerName?: string | boolean; sasl?: PlatformaticSasl } = {};
  const tls = nodeTls(security?.tls);
  if (tls !== undefined) {
    out.tls = tls;
    const hostNames = brokers.every(
      (b) => isIP(b.slice(0, b.lastIndexOf(':')).replace(/^\[|\]$/g, '')) === 0,
    );
    if (tls.servername !== undefined) out.tlsServerName = tls.servername;
    else if (hostNames) out.tlsServerName = true;
  }
  const sasl = security?.sasl;
  if (sasl?.mechanism === 'OAUTHBEARER') {
    const token = sasl.token;
    out.sasl = { mechanism: 'OAUTHBEARER', token: typeof token === 'string' ? token : async () => token() };
  } else if (sasl !== undefined) {
    out.sasl = { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password };
  }
  return out;
}

/** kafkajs `KafkaConfig` fields (`ssl`, `sasl`) for `security`. */
export function kafkajsSecurity(security: KafkaSecurity | undefined): {
  ssl?: TlsConnectionOptions | boolean;
  sasl?: KafkajsSasl;
} {
  const out: { ssl?: TlsConnectionOptions | boolean; sasl?: KafkajsSasl } = {};
  const tls = nodeTls(security?.tls);
  if (tls !== undefined) out.ssl = tls;
  const sasl = security?.sasl;
  if (sasl?.mechanism === 'OAUTHBEARER') {
    const token = sasl.token;
    out.sasl = {
      mechanism: 'oauthbearer',
      oauthBearerProvider: async () => ({ value: typeof token === 'string' ? token : await token() }),
    };
  } else if (sasl?.mechanism === 'PLAIN') {
    out.sasl = { mechanism: 'plain', username: sasl.username, password: sasl.password };
  } else if (sasl?.mechanism === 'SCRAM-SHA-256') {
    out.sasl = { mechanism: 'scram-sha-256', username: sasl.username, password: sasl.password };
  } else if (sasl?.mechanism === 'SCRAM-SHA-512') {
    out.sasl = { mechanism: 'scram-sha-512', username: sasl.username, password: sasl.password };
  }
  return out;
}
