import { isIP } from 'node:net';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { SASLOptions as PlatformaticSasl } from '@platformatic/kafka';
import type { SASLOptions as KafkajsSasl } from 'kafkajs';

/** SASL mechanisms both transports speak (OAUTHBEARER with a token or a token provider). */
export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** Kafka's `security.protocol` values. */
export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];

/** TLS to the brokers. Contents (PEM), not paths: `kafkaSecurityFromEnv` reads the files. */
export interface KafkaTls {
  /** CA certificate(s) that signed the brokers' certificates. Default: Node's bundled CAs. */
  readonly ca?: string | Buffer;
  /** Client certificate and key, for brokers that require mutual TLS (`ssl.client.auth=required`). */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Passphrase of an encrypted `key`. */
  readonly passphrase?: string;
  /** Host name the brokers' certificates must name (SNI and verification). Default: the broker's address. */
  readonly serverName?: string;
  /** Verify the brokers' certificates. Default true; false only for experiments. */
  readonly rejectUnauthorized?: boolean;
}

export type KafkaSasl =
  | {
      readonly mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
      readonly username: string;
      readonly password: string;
    }
  | {
      readonly mechanism: 'OAUTHBEARER';
      /** The bearer token, or a function that returns a fresh one (called per connection). */
      readonly token: string | (() => string | Promise<string>);
    };

/** How a transport authenticates and encrypts. Both fields unset: PLAINTEXT. */
export interface KafkaSecurity {
  /** TLS to the brokers: `true` (system CAs) or settings. */
  readonly tls?: KafkaTls | boolean;
  readonly sasl?: KafkaSasl;
}

/** `SASL_SSL`, `SSL`, ... as Kafka would name what `security` configures. */
export function securityProtocol(security: KafkaSecurity | undefined): SecurityProtocol {
  const tls = security?.tls !== undefined && security.tls !== false;
  if (security?.sasl) return tls ? 'SASL_SSL' : 'SASL_PLAINTEXT';
  return tls ? 'SSL' : 'PLAINTEXT';
}

/** What may be logged of `security`: protocol, mechanism, user. Never passwords, tokens or keys. */
export function describeSecurity(security: KafkaSecurity | undefined): string {
  const protocol = securityProtocol(security);
  const sasl = security?.sasl;
  if (sasl === undefined) return protocol;
  return sasl.mechanism === 'OAUTHBEARER'
    ? `${protocol} OAUTHBEARER`
    : `${protocol} ${sasl.mechanism} as ${JSON.stringify(sasl.username)}`;
}

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
