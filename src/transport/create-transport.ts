import type { Logger } from '../logger.js';
import { KafkaTransport } from './kafka-transport.js';
import { PlatformaticTransport } from './platformatic-transport.js';
import type { Transport } from './types.js';

/** The Kafka client libraries a transport can be built on. */
export const TRANSPORT_KINDS = ['kafkajs', 'platformatic'] as const;
export type TransportKind = (typeof TRANSPORT_KINDS)[number];

/** A transport of the given kind with the options both kinds share. */
export function createTransport(
  kind: TransportKind,
  options: { brokers: readonly string[]; clientId: string; logger?: Logger },
): Transport {
  return kind === 'platformatic' ? new PlatformaticTransport(options) : new KafkaTransport(options);
}
