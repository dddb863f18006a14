import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../../src/client/options.js';
import { clientEnvDefaults, KafkaSecurityEnv, kafkaSecurityFromEnv, readEnv } from '../../src/env.js';
import { ConfigurationError, TransportError } from '../../src/errors.js';
import { kafkajsSecurity, platformaticSecurity } from '../../src/transport/client-security.js';
import { connectFailed, kafkaRefusal, transportError } from '../../src/transport/connect-error.js';
import { describeSecurity, securityProtocol } from '../../src/transport/security.js';

const files: Record<string, string> = { '/ca.pem': 'CA', '/cert.pem': 'CERT', '/key.pem': 'KEY' };
const readFile = (path: string) => {
  const text = files[path];
  if (text === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  return Buffer.from(text);
};
const parse = (vars: Record<string, string>) => kafkaSecurityFromEnv(KafkaSecurityEnv.parse(vars), readFile);

describe('Kafka security from the environment', () => {
  it('is PLAINTEXT (undefined) when nothing is set', () => {
    expect(parse({})).toBeUndefined();
    expect(readEnv({}).KAFKA_SECURITY_PROTOCOL).toBe('PLAINTEXT');
  });

  it('SASL_SSL with SCRAM: reads the CA file, takes user and password', () => {
    const security = parse({
      KAFKA_SECURITY_PROTOCOL: 'sasl_ssl',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'service-a',
      KAFKA_SASL_PASSWORD: 's3cret',
      KAFKA_SSL_CA_FILE: '/ca.pem',
      KAFKA_SSL_SERVER_NAME: 'kafka.internal',
    });
    expect(security).toEqual({
      tls: { ca: Buffer.from('CA'), serverName: 'kafka.internal', rejectUnauthorized: true },
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'service-a', password: 's3cret' },
    });
    expect(describeSecurity(security)).toBe('SASL_SSL SCRAM-SHA-512 as "service-a"');
    expect(describeSecurity(security)).not.toContain('s3cret');
  });

  it('SSL with a client certificate (mutual TLS); SASL_PLAINTEXT with PLAIN; OAUTHBEARER with a token', () => {
    expect(
      parse({
        KAFKA_SECURITY_PROTOCOL: 'SSL',
        KAFKA_SSL_CERT_FILE: '/cert.pem',
        KAFKA_SSL_KEY_FILE: '/key.pem',
      }),
    ).toEqual({ tls: { cert: Buffer.from('CERT'), key: Buffer.from('KEY'), rejectUnauthorized: true } });
    expect(parse({ KAFKA_SECURITY_PROTOCOL: 'SSL' })).toEqual({ tls: { rejectUnauthorized: true } });
    expect(
      parse({
        KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
        KAFKA_SASL_MECHANISM: 'PLAIN',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'p',
      }),
    ).toEqual({ sasl: { mechanism: 'PLAIN', username: 'u', password: 'p' } });
    expect(
      parse({
        KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        KAFKA_SASL_MECHANISM: 'OAUTHBEARER',
        KAFKA_SASL_OAUTHBEARER_TOKEN: 't',
      }),
    ).toEqual({ tls: { rejectUnauthorized: true }, sasl: { mechanism: 'OAUTHBEARER', token: 't' } });
  });

  it.each([
    [{ KAFKA_SASL_USERNAME: 'u' }, /KAFKA_SASL_USERNAME set, but KAFKA_SECURITY_PROTOCOL is PLAINTEXT/],
    [
      { KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SSL_CA_FILE: '/ca.pem' },
      /KAFKA_SSL_CA_FILE set, but/,
    ],
    [{ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' }, /set KAFKA_SASL_MECHANISM/],
    [
      {
        KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
        KAFKA_SASL_USERNAME: 'u',
      },
      /KAFKA_SASL_PASSWORD/,
    ],
    [
      { KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CA_FILE: '/missing.pem' },
      /KAFKA_SSL_CA_FILE: cannot read \/missing.pem \(ENOENT\)/,
    ],
    [{ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CERT_FILE: '/cert.pem' }, /go together/],
  ])('refuses %j with a ConfigurationError naming the variable', (vars, message) => {
    expect(() => parse(vars)).toThrow(ConfigurationError);
    expect(() => parse(vars)).toThrow(message);
  });

  it('an unknown protocol or mechanism fails the one env schema, without echoing the value', () => {
    expect(() => readEnv({ KAFKA_SECURITY_PROTOCOL: 'TLS' })).toThrow(/KAFKA_SECURITY_PROTOCOL/);
    expect(() => readEnv({ KAFKA_SASL_MECHANISM: 'hunter2' })).toThrow(/KAFKA_SASL_MECHANISM/);
    expect(() => readEnv({ KAFKA_SASL_MECHANISM: 'hunter2' })).not.toThrow(/hunter2/);
  });

  it('clients take the environment only when given neither security nor a transport', () => {
    const env = clientEnvDefaults({
      KAFKA_BOOTSTRAP_SERVERS: 'k:9093',
      KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
      KAFKA_SASL_USERNAME: 'env-user',
      KAFKA_SASL_PASSWORD: 'p',
    });
    expect(resolveOptions({}, env).security?.sasl).toEqual({
      mechanism: 'SCRAM-SHA-256',
      username: 'env-user',
      password: 'p',
    });
    const given = { sasl: { mechanism: 'PLAIN', username: 'opt', password: 'q' } } as const;
    expect(resolveOptions({ security: given }, env).security).toBe(given);
    const broken = clientEnvDefaults({
      KAFKA_BOOTSTRAP_SERVERS: 'k:9093',
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    });
    expect(() => resolveOptions({}, broken)).toThrow(ConfigurationError);
    expect(resolveOptions({ security: given }, broken).security).toBe(given);
  });
});

describe('security options of the two Kafka libraries', () => {
  const security = {
    tls: { ca: 'CA', serverName: 'kafka.internal', rejectUnauthorized: true },
    sasl: { mechanism: 'SCRAM-SHA-256', username: 'u', password: 'p' },
  } as const;

  it('platformatic: tls, tlsServerName, sasl', () => {
    expect(platformaticSecurity(security)).toEqual({
      tls: { ca: 'CA', servername: 'kafka.internal', rejectUnauthorized: true },
      tlsServerName: 'kafka.internal',
      sasl: { mechanism: 'SCRAM-SHA-256', username: 'u', password: 'p' },
    });
    expect(platformaticSecurity({ tls: true }, ['kafka-1.internal:9093'])).toEqual({
      tls: {},
      tlsServerName: true,
    });
    expect(platformaticSecurity({ tls: true }, ['127.0.0.1:9093'])).toEqual({ tls: {} });
    expect(platformaticSecurity(undefined)).toEqual({});
  });

  it('kafkajs: ssl, sasl with its lower-case mechanism names and an OAUTHBEARER provider', async () => {
    expect(kafkajsSecurity(security)).toEqual({
      ssl: { ca: 'CA', servername: 'kafka.internal', rejectUnauthorized: true },
      sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'p' },
    });
    const oauth = kafkajsSecurity({ sasl: { mechanism: 'OAUTHBEARER', token: async () => 'tok' } }).sasl;
    expect(oauth?.mechanism).toBe('oauthbearer');
    if (oauth?.mechanism !== 'oauthbearer') throw new Error('unreachable');
    expect(await oauth.oauthBearerProvider()).toEqual({ value: 'tok' });
    expect(securityProtocol({ tls: true, sasl: security.sasl })).toBe('SASL_SSL');
    expect(securityProtocol(undefined)).toBe('PLAINTEXT');
  });
});

describe('refusals of a secured cluster', () => {
  it('finds the Kafka error name however the library nests it, and does not retry it', () => {
    const platformatic = Object.assign(
      new AggregateError([Object.assign(new Error('x'), { apiId: 'TOPIC_AUTHORIZATION_FAILED' })], 'r'),
      {},
    );
    const kafkajsAuth = Object.assign(new Error('SASL SCRAM SHA512 authentication failed'), {
      name: 'KafkaJSSASLAuthenticationError',
    });
    const wrapped = new Error('outer', {
      cause: Object.assign(new Error('y'), { code: 'PLT_KFK_AUTHENTICATION' }),
    });
    expect(kafkaRefusal(platformatic)).toBe('TOPIC_AUTHORIZATION_FAILED');
    expect(kafkaRefusal(kafkajsAuth)).toBe('SASL_AUTHENTICATION_FAILED');
    expect(kafkaRefusal(wrapped)).toBe('SASL_AUTHENTICATION_FAILED');
    expect(kafkaRefusal(new Error('Closed connection'))).toBeUndefined();

    const produce = transportError('produce', platformatic);
    expect(produce).toBeInstanceOf(TransportError);
    expect(produce.refusal).toBe('TOPIC_AUTHORIZATION_FAILED');
    expect(produce.retryable).toBe(false);
    expect(transportError('produce', new Error('Closed connection')).retryable).toBe(true);

    const connect = connectFailed(['k:9093'], kafkajsAuth, 'SASL_SSL SCRAM-SHA-512 as "a"');
    expect(connect.refusal).toBe('SASL_AUTHENTICATION_FAILED');
    expect(connect.message).toContain('KAFKA_SASL_USERNAME');
  });
});
