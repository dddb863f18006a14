import '../require-node.js';

export {
  createTransport,
  DEFAULT_TRANSPORT,
  TRANSPORT_KINDS,
  type TransportKind,
} from './create-transport.js';
export { ensureTopics, type TopicLayout } from './kafka-admin.js';
export { KafkaTransport, type KafkaTransportOptions } from './kafka-transport.js';
export { PlatformaticTransport, type PlatformaticTransportOptions } from './platformatic-transport.js';
export { RequestReply, type RequestReplyOptions } from './request-reply.js';
export {
  describeSecurity,
  type KafkaSasl,
  type KafkaSecurity,
  type KafkaTls,
  SASL_MECHANISMS,
  type SaslMechanism,
  SECURITY_PROTOCOLS,
  type SecurityProtocol,
  securityProtocol,
} from './security.js';
export type {
  GroupBatch,
  GroupConsumer,
  GroupConsumerOptions,
  IncomingMessage,
  OutgoingMessage,
  Publisher,
  PublisherOptions,
  ReplyChannel,
  ReplyChannelOptions,
  Transport,
} from './types.js';
