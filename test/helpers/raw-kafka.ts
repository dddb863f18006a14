import { type Consumer, Kafka, logLevel, type Producer } from 'kafkajs';
import { stack } from './bridge.js';

/**
 * A plain kafkajs producer and consumer that know nothing of dbbridge: they stand for "any Kafka
 * client" (a Python service, kcat) writing and reading the seed's JSON by hand.
 */
export async function rawKafka(name: string) {
  const kafka = new Kafka({
    clientId: `raw-${name}`,
    brokers: stack().bootstrapServers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const producer: Producer = kafka.producer();
  await producer.connect();
  const consumers: Consumer[] = [];
  return {
    async send(
      topic: string,
      value: string | Buffer,
      options: { key?: string; partition?: number; headers?: Record<string, string> } = {},
    ) {
      await producer.send({
        topic,
        messages: [
          {
            value,
            key: options.key ?? null,
            ...(options.partition === undefined ? {} : { partition: options.partition }),
            ...(options.headers === undefined ? {} : { headers: options.headers }),
          },
        ],
      });
    },
    async sendMany(topic: string, messages: { value: string; partition?: number }[]) {
      await producer.send({ topic, messages });
    },
    /** Collects every message of the topics from the beginning, parsed as JSON. */
    async collect(topics: string[]) {
      const received: { topic: string; partition: number; value: Record<string, unknown>; text: string }[] =
        [];
      const consumer = kafka.consumer({ groupId: `raw-${name}-${Date.now()}`, maxWaitTimeInMs: 100 });
      consumers.push(consumer);
      await consumer.connect();
      await consumer.subscribe({ topics, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ topic, partition, message }) => {
          const text = message.value?.toString() ?? 'null';
          received.push({ topic, partition, value: JSON.parse(text), text });
        },
      });
      return {
        received,
        async waitFor(predicate: (m: (typeof received)[number]) => boolean, timeoutMs = 20_000) {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const found = received.find(predicate);
            if (found) return found;
            if (Date.now() > deadline)
              throw new Error(`no matching message within ${timeoutMs} ms (${received.length} seen)`);
            await new Promise((r) => setTimeout(r, 25));
          }
        },
      };
    },
    async close() {
      await Promise.all(consumers.map((c) => c.disconnect()));
      await producer.disconnect();
    },
  };
}
