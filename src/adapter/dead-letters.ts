import {
  DEAD_LETTER_EVENT_TYPE,
  DEAD_LETTER_REASONS,
  type DeadLetterEnvelope,
  type DeadLetterReason,
} from '../events/dead-letter.js';
import { newId } from '../events/ids.js';
import { ADAPTER_SERVICE } from '../events/reply.js';
import type { Logger } from '../logger.js';
import type { IncomingMessage, OutgoingMessage } from '../transport/types.js';
import { deadLetterChannel } from './diagnostics.js';

export interface DeadLettersOptions {
  /** Publishes on the adapter's producer (idempotent, acks=all). */
  readonly publish: (topic: string, message: OutgoingMessage) => Promise<void>;
  readonly logger: Logger;
  /** Largest message the producer may send, bytes: a larger original value is cut to fit. Default 1000000. */
  readonly maxMessageBytes?: number;
  /** Reported on `dbbridge:adapter:dead-letter` as the adapter. */
  readonly owner: object;
  /** Longest wait for a dead letter to be published, ms; then it counts as not published. Default 15000. */
  readonly timeoutMs?: number;
}

/** Room left in a dead-letter message for everything but the value. */
const ENVELOPE_ROOM = 64 * 1024;
/** Headers carried: at most this many, each value cut to this many characters. */
const MAX_HEADERS = 64;
const MAX_HEADER_CHARS = 4096;

/**
 * The dead-letter topic writer (issue 8 §4): a message the adapter cannot answer, or whose handling
 * threw unexpectedly, is published with the reason, its original key, value and headers, and where
 * it was read (topic, partition, offset). `send` never throws: when even the dead letter cannot be
 * published, the message is logged at error with its coordinates and skipped, so its partition keeps
 * moving either way.
 */
export class DeadLetters {
  readonly #o: DeadLettersOptions;
  readonly #counts = Object.fromEntries(DEAD_LETTER_REASONS.map((r) => [r, 0])) as Record<
    DeadLetterReason,
    number
  >;
  #failures = 0;

  constructor(options: DeadLettersOptions) {
    this.#o = options;
  }

  /** Messages dead-lettered, by reason (published or not). */
  get counts(): Readonly<Record<DeadLetterReason, number>> {
    return { ...this.#counts };
  }

  /** Dead letters that could not be published (logged and skipped). */
  get failures(): number {
    return this.#failures;
  }

  /** Resolves true once the dead letter is published, false when it could not be (logged). */
  async send(
    message: IncomingMessage,
    topic: string,
    why: {
      readonly reason: DeadLetterReason;
      readonly error: string;
      readonly correlationId?: string | undefined;
      readonly answered: boolean;
    },
  ): Promise<boolean> {
    this.#counts[why.reason]++;
    const where = { topic: message.topic, partition: message.partition, offset: message.offset };
    let published = false;
    try {
      const value = deadLetterValue(message, why, this.#o.maxMessageBytes ?? 1_000_000);
      // Keyed by where it came from: one source partition's dead letters stay in order. Bounded in
      // time (a missing topic may be retried for long), so the offset behind it is committed.
      let timer: NodeJS.Timeout | undefined;
      const timeoutMs = this.#o.timeoutMs ?? 15_000;
      await Promise.race([
        this.#o.publish(topic, { key: `${message.topic}:${message.partition}`, value }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`not published within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
      published = true;
      this.#o.logger.warn('message dead-lettered', { ...where, reason: why.reason, deadLetterTopic: topic });
    } catch (error) {
      this.#failures++;
      this.#o.logger.error('dead letter could not be published; message skipped', {
        ...where,
        reason: why.reason,
        deadLetterTopic: topic,
        error,
      });
    }
    if (deadLetterChannel.hasSubscribers) {
      deadLetterChannel.publish({ adapter: this.#o.owner, reason: why.reason, published });
    }
    return published;
  }
}

/** A copy of the bytes that ignores anything patched onto the Buffer instance. */
function base64(bytes: Uint8Array, length = bytes.byteLength): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(length, bytes.byteLength)).toString('base64');
}

function deadLetterValue(
  message: IncomingMessage,
  why: { reason: DeadLetterReason; error: string; correlationId?: string | undefined; answered: boolean },
  maxMessageBytes: number,
): string {
  const headers: Record<string, string> = {};
  for (const [name, text] of Object.entries(message.headers ?? {}).slice(0, MAX_HEADERS)) {
    headers[name.slice(0, 256)] = text.length > MAX_HEADER_CHARS ? text.slice(0, MAX_HEADER_CHARS) : text;
  }
  const value = message.value;
  // base64 takes 4 bytes per 3: what fits beside the envelope.
  const room = Math.max(0, Math.floor(((maxMessageBytes - ENVELOPE_ROOM) * 3) / 4));
  const valueBytes = value?.byteLength ?? 0;
  const error = why.error.length > 8192 ? `${why.error.slice(0, 8192)}...` : why.error;
  const envelope: DeadLetterEnvelope = {
    event_id: newId(),
    event_type: DEAD_LETTER_EVENT_TYPE,
    timestamp: new Date().toISOString(),
    service: ADAPTER_SERVICE,
    reason: why.reason,
    error_message: error,
    ...(why.correlationId === undefined ? {} : { correlation_id: why.correlationId }),
    answered: why.answered,
    source: {
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      ...(message.timestamp === undefined || !Number.isFinite(message.timestamp)
        ? {}
        : { timestamp: message.timestamp }),
    },
    key_base64: message.key === null ? null : base64(message.key, 1024),
    value_base64: value === null ? null : base64(value, room),
    value_bytes: valueBytes,
    value_truncated: valueBytes > room,
    headers,
  };
  return JSON.stringify(envelope);
}
