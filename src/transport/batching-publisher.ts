import type { OutgoingMessage, Publisher } from './types.js';

/** One queued message. */
export interface Queued {
  readonly topic: string;
  readonly message: OutgoingMessage;
}

interface Pending extends Queued {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Sends one batch as one produce call of the Kafka client underneath. */
export type SendBatch = (batch: readonly Queued[]) => Promise<void>;

/** Upper bound of one produce request's payload; larger queues are split. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Kafka clients send one produce request per send call. This publisher queues every message published in
 * the same tick, and while a produce request is in flight, and sends each queue as one `sendBatch`.
 * Only one request is in flight at a time, which keeps the idempotent producer's sequence numbers
 * in order and batches harder under load.
 */
export class BatchingPublisher implements Publisher {
  readonly #send: SendBatch;
  readonly #wrapError: (error: unknown) => unknown;
  #queue: Pending[] = [];
  #flushing = false;
  #scheduled = false;
  #closed = false;

  constructor(send: SendBatch, wrapError: (error: unknown) => unknown) {
    this.#send = send;
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
      await this.#send(batch);
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
