/**
 * A bounded queue between a producer (reply chunks arriving) and an async iterator (the caller
 * reading rows). `push` resolves once there is room again, which holds the reply reader: memory
 * stays bounded by `capacity` items whatever the size of the result.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  readonly #capacity: number;
  readonly #items: T[] = [];
  #ended = false;
  #closed = false;
  #error: unknown;
  #wakeReader: (() => void) | undefined;
  readonly #wakeWriters: (() => void)[] = [];
  /** Most items ever waiting at once (for observability and tests). */
  maxQueued = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  push(item: T): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#items.push(item);
    this.maxQueued = Math.max(this.maxQueued, this.#items.length);
    this.#wake();
    if (this.#items.length < this.#capacity) return Promise.resolve();
    return new Promise((resolve) => this.#wakeWriters.push(resolve));
  }

  end(): void {
    this.#ended = true;
    this.#wake();
  }

  fail(error: unknown): void {
    this.#error = error;
    this.#ended = true;
    this.#wake();
  }

  /** The reader went away: drop what is queued and release every waiting writer. */
  close(): void {
    this.#closed = true;
    this.#items.length = 0;
    for (const wake of this.#wakeWriters.splice(0)) wake();
  }

  #wake(): void {
    const wake = this.#wakeReader;
    this.#wakeReader = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        const item = this.#items.shift();
        if (item !== undefined) {
          if (this.#items.length < this.#capacity) this.#wakeWriters.shift()?.();
          yield item;
          continue;
        }
        if (this.#ended) {
          if (this.#error !== undefined) throw this.#error;
          return;
        }
        await new Promise<void>((resolve) => {
          this.#wakeReader = resolve;
        });
      }
    } finally {
      this.close();
    }
  }
}
