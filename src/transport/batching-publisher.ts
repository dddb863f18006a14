import type { Producer, TopicMessages } from 'kafkajs';
import type { OutgoingMessage, Publisher } from './types.js';

interface Pending {
  readonly topic: string;
  readonly message: OutgoingMessage;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Upper bound of one produce request's payload; larger queues are split. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * kafkajs sends one produce request per `send()`. This publisher queues every message published in
 * the same tick, and while a produce request is in flight, and sends each queue as one `sendBatch`.
 * Only one request is in flight at a time, which keeps the idempotent producer's sequence numbers
 * in order and batches harder under load.
 */
export class BatchingPublisher implements Publisher {
  readonly #producer: Producer;
  readonly #acks: number;
  readonly #wrapError: (error: unknown) => unknown;
  #queue: Pending[] = [];
  #flushing = false;
  #scheduled = false;
  #closed = false;

  constructor(producer: Producer, acks: number, wrapError: (error: unknown) => unknown) {
    this.#producer = producer;
    this.#acks = acks;
    this.#wrapError = wrapError;
  }

  publish(topic: string, message: OutgoingMessage): Promise<void> {
    if (this.#closed) return Promise.reject(this.#wrapError(new Error('publisher is closed')));
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ topic, message, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#flushing) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    if (this.#flushing || this.#queue.length === 0) return;
    this.#flushing = true;
    const batch = this.#take();
    try {
      await this.#producer.sendBatch({ acks: this.#acks, topicMessages: groupByTopic(batch) });
      for (const p of batch) p.resolve();
    } catch (error) {
      const wrapped = this.#wrapError(error);
      for (const p of batch) p.reject(wrapped);
    } finally {
      this.#flushing = false;
      if (this.#queue.length > 0) this.#schedule();
    }
  }

  #take(): Pending[] {
    let bytes = 0;
    let n = 0;
    while (n < this.#queue.length) {
      bytes += (this.#queue[n] as Pending).message.value.length;
      if (n > 0 && bytes > MAX_BATCH_BYTES) break;
      n++;
    }
    return this.#queue.splice(0, n);
  }

  async close(): Promise<void> {
    this.#closed = true;
    while (this.#flushing || this.#queue.length > 0) {
      if (!this.#flushing) await this.#flush();
      else await new Promise((r) => setImmediate(r));
    }
  }
}

function groupByTopic(batch: readonly Pending[]): TopicMessages[] {
  const byTopic = new Map<string, TopicMessages>();
  for (const { topic, message } of batch) {
    let entry = byTopic.get(topic);
    if (entry === undefined) {
      entry = { topic, messages: [] };
      byTopic.set(topic, entry);
    }
    entry.messages.push({
      key: message.key ?? null,
      value: message.value,
      ...(message.partition === undefined ? {} : { partition: message.partition }),
      ...(message.headers === undefined ? {} : { headers: { ...message.headers } }),
    });
  }
  return [...byTopic.values()];
}
