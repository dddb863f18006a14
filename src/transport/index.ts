export type {
  Transport,
  Publisher,
  PublisherOptions,
  ReplyChannel,
  ReplyChannelOptions,
  GroupConsumer,
  GroupConsumerOptions,
  GroupBatch,
  IncomingMessage,
  OutgoingMessage,
} from './types.js';
export { KafkaTransport, type KafkaTransportOptions } from './kafka-transport.js';
export { ensureTopics, type TopicLayout } from './kafka-admin.js';
export { RequestReply, type RequestReplyOptions } from './request-reply.js';
