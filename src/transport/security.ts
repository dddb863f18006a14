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
