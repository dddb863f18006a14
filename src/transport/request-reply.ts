import { DbBridgeError, TimeoutError, TransportError } from '../errors.js';
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
  readonly timer: NodeJS.Timeout;
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
  request(envelope: RequestEnvelope, timeoutMs: number): Promise<ReplyEnvelope> {
    const publisher = this.#publisher;
    if (!publisher)
      return Promise.reject(new DbBridgeError('CLIENT_STOPPED', 'client is not started: call start() first'));
    const id = envelope.correlation_id;
    if (this.#pending.has(id)) {
      return Promise.reject(
        new DbBridgeError('CONFIGURATION_ERROR', `correlation id ${id} is already in flight`),
      );
    }
    return new Promise<ReplyEnvelope>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new TimeoutError(timeoutMs, { correlationId: id }));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      publisher
        .publish(this.#options.topics.requested, { key: id, value: JSON.stringify(envelope) })
        .catch((error) =>
          this.#settle(
            id,
            undefined,
            error instanceof DbBridgeError ? error : new TransportError(String(error)),
          ),
        );
    });
  }

  #onReply(message: IncomingMessage): void {
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
    this.#settle(id, parsed.data);
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
