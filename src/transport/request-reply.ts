import { BrokerUnavailableError, DbBridgeError, TimeoutError, TransportError } from '../errors.js';
import { type ReplyEnvelope, ReplyEnvelope as ReplyEnvelopeSchema } from '../events/reply.js';
import type { RequestEnvelope } from '../events/request.js';
import type { TopicNames } from '../events/topics.js';
import { type Logger, silentLogger } from '../logger.js';
import type { IncomingMessage, Publisher, ReplyChannel, Transport } from './types.js';

export interface RequestReplyOptions {
  readonly transport: Transport;
  readonly topics: TopicNames;
  /** Reply partition to read; default random. */
  readonly replyPartition?: number;
  readonly logger?: Logger;
}

interface Pending {
  readonly resolve: (reply: ReplyEnvelope) => void;
  readonly reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
  readonly timeoutMs: number;
  readonly onChunk: ((reply: ReplyEnvelope) => void | Promise<void>) | undefined;
}

export interface RequestOptions {
  /** Kafka key of the request (default: its correlation id). Requests with one key reach one partition, in order. */
  readonly key?: string;
  /**
   * Receives the leading chunks of a chunked result (`chunk.last === false`); the promise resolves
   * with the last one. A returned promise holds the reply reader until it settles. The timeout
   * then counts from the latest chunk.
   */
  readonly onChunk?: (reply: ReplyEnvelope) => void | Promise<void>;
  /** Kafka headers of the request message (e.g. `traceparent`). */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Request/reply over the bus: publishes request events naming this reader's reply partition, and
 * matches replies to waiting callers by correlation id. Every wait ends: with the reply, a
 * `TimeoutError`, a `TransportError`, or `CLIENT_STOPPED`.
 */
export class RequestReply {
  readonly #options: RequestReplyOptions;
  readonly #logger: Logger;
  readonly #pending = new Map<string, Pending>();
  #channel: ReplyChannel | undefined;
  #publisher: Publisher | undefined;
  /** Replies read that no caller here waited for (other clients' on a shared partition, or late ones). */
  unmatched = 0;
  /** When a publish last failed, while no publish has succeeded since. */
  #publishFailedAt: number | undefined;

  constructor(options: RequestReplyOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
  }

  get replyPartition(): number | undefined {
    return this.#channel?.partition;
  }

  get assigned(): boolean {
    return this.#channel?.assigned ?? false;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  /** Stops waiting for a reply: the pending call rejects with `reason` (the request itself may still run). */
  abort(correlationId: string, reason: unknown): void {
    this.#settle(correlationId, undefined, reason);
  }

  /** Resolves once the reply reader is positioned: no reply to a later request can be missed. */
  async start(): Promise<void> {
    const { transport, topics } = this.#options;
    await transport.connect();
    await transport.ping([topics.requested, topics.completed, topics.failed]);
    this.#channel = await transport.openReplyChannel({
      topics: [topics.completed, topics.failed],
      ...(this.#options.replyPartition === undefined ? {} : { partition: this.#options.replyPartition }),
      onMessage: (m) => this.#onReply(m),
    });
    this.#publisher = transport.publisher({ idempotent: true });
  }

  /** Publishes the request and waits for its reply. `timeoutMs` counts from now. */
  request(
    envelope: RequestEnvelope,
    timeoutMs: number,
    options: RequestOptions = {},
  ): Promise<ReplyEnvelope> {
    const publisher = this.#publisher;
    if (!publisher)
      return Promise.reject(new DbBridgeError('CLIENT_STOPPED', 'client is not started: call start() first'));
    const id = envelope.correlation_id;
    if (this.#pending.has(id)) {
      return Promise.reject(
        new DbBridgeError('CONFIGURATION_ERROR', `correlation id ${id} is already in flight`),
      );
    }
    const down = this.#brokerDown();
    if (down !== undefined) return Promise.reject(new BrokerUnavailableError(down));
    return new Promise<ReplyEnvelope>((resolve, reject) => {
      this.#pending.set(id, {
        resolve,
        reject,
        timer: this.#timer(id, timeoutMs),
        timeoutMs,
        onChunk: options.onChunk,
      });
      publisher
        .publish(this.#options.topics.requested, {
          key: options.key ?? id,
          value: JSON.stringify(envelope),
          ...(options.headers === undefined ? {} : { headers: options.headers }),
        })
        .then(
          () => {
            this.#publishFailedAt = undefined;
          },
          (error) => {
            this.#publishFailedAt = Date.now();
            this.#settle(
              id,
              undefined,
              error instanceof DbBridgeError ? error : new TransportError(String(error)),
            );
          },
        );
    });
  }

  /**
   * Why Kafka is known to be unreachable now, or undefined: the reply reader is failing (no reply
   * could be read), or a publish failed within the last 2 s (after that one call goes through as a
   * probe). A call then fails at once instead of waiting out its timeout.
   */
  #brokerDown(): string | undefined {
    if (this.#channel !== undefined && !this.#channel.assigned)
      return 'Kafka is unreachable: the reply reader is failing; the request was not sent';
    if (this.#publishFailedAt !== undefined && Date.now() - this.#publishFailedAt < 2000)
      return 'Kafka is unreachable: the last publish failed; the request was not sent';
    return undefined;
  }

  #timer(id: string, timeoutMs: number): NodeJS.Timeout {
    return setTimeout(
      () => this.#settle(id, undefined, new TimeoutError(timeoutMs, { correlationId: id })),
      timeoutMs,
    );
  }

  #onReply(message: IncomingMessage): void | Promise<void> {
    if (message.value === null) return;
    let json: { correlation_id?: unknown };
    try {
      json = JSON.parse(message.value.toString('utf8'));
    } catch {
      this.#logger.warn('reply is not JSON', { topic: message.topic, offset: message.offset });
      return;
    }
    const id = json?.correlation_id;
    if (typeof id !== 'string' || !this.#pending.has(id)) {
      this.unmatched++;
      return;
    }
    const parsed = ReplyEnvelopeSchema.safeParse(json);
    if (!parsed.success) {
      this.#settle(
        id,
        undefined,
        new TransportError(`malformed reply: ${parsed.error.issues[0]?.message ?? 'invalid'}`, {
          retryable: false,
        }),
      );
      return;
    }
    const reply = parsed.data;
    const pending = this.#pending.get(id);
    if (reply.event_type === 'DATABASE_QUERY_COMPLETED' && reply.payload.chunk?.last === false && pending) {
      clearTimeout(pending.timer);
      pending.timer = this.#timer(id, pending.timeoutMs);
      if (!pending.onChunk) {
        this.#settle(
          id,
          undefined,
          new TransportError('a chunked reply arrived for a request that did not ask for chunks', {
            retryable: false,
          }),
        );
        return;
      }
      try {
        const held = pending.onChunk(reply);
        if (held) return held.catch((error) => this.#settle(id, undefined, error));
      } catch (error) {
        this.#settle(id, undefined, error);
      }
      return;
    }
    this.#settle(id, reply);
  }

  #settle(id: string, reply: ReplyEnvelope | undefined, error?: unknown): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (reply) pending.resolve(reply);
    else pending.reject(error);
  }

  async stop(): Promise<void> {
    for (const id of [...this.#pending.keys()]) {
      this.#settle(
        id,
        undefined,
        new DbBridgeError('CLIENT_STOPPED', 'client stopped while the request was pending'),
      );
    }
    const channel = this.#channel;
    const publisher = this.#publisher;
    this.#channel = undefined;
    this.#publisher = undefined;
    await Promise.all([channel?.close(), publisher?.close()]);
  }
}
