import type pg from 'pg';
import { newId } from '../events/ids.js';
import type { RequestPayload } from '../events/request.js';
import type { Logger } from '../logger.js';
import { isConnectionError } from './error-mapping.js';
import type { Executor } from './executor.js';
import { RequestRejected } from './failures.js';

export interface TransactionOptions {
  /** Idle time after which an open transaction is rolled back, ms. Default 30000. */
  readonly idleTimeoutMs?: number;
  /** Upper bound of a request's `idle_timeout_ms`, ms. Default 300000. */
  readonly maxIdleTimeoutMs?: number;
  /** Longest life of a transaction from BEGIN, ms. Default 600000. */
  readonly maxLifetimeMs?: number;
  /** Called once for every transaction the adapter rolls back itself (not the caller's ROLLBACK). */
  readonly onRolledBack?: (reason: RollbackReason, origin: TransactionOrigin | undefined) => void;
  /** Transactions open at once in this process. Default: half the pool size. */
  readonly maxOpen?: number;
}

/** The request topic and partition a transaction began on: every request of it arrives there. */
export interface TransactionOrigin {
  readonly topic: string;
  readonly partition: number;
}

/** Why an open transaction was rolled back by the adapter rather than ended by its caller. */
export type RollbackReason = 'idle' | 'lifetime' | 'partition-moved' | 'shutdown';

/** Ids remembered per reason of an adapter-side roll-back, so a late request is told what happened. */
const REMEMBERED_IDS = 10_000;

const NOT_OPEN_HERE =
  'is not open on this adapter (unknown, or already ended; if its partition moved to another adapter, that adapter rolled it back when the partition was revoked)';

function originKey(origin: TransactionOrigin): string {
  return `${origin.topic}\u0000${origin.partition}`;
}

interface Open {
  readonly id: string;
  /** Where it began; undefined when begun outside the consumer (tests, tools). */
  readonly origin: TransactionOrigin | undefined;
  /** Identity that began it (the service of its request topic; '' on the shared topics): only it may use it. */
  readonly owner: string;
  readonly client: pg.PoolClient;
  readonly idleTimeoutMs: number;
  readonly lifetime: NodeJS.Timeout;
  idle: NodeJS.Timeout;
  /** Statements of one transaction run one after another, in arrival order. */
  tail: Promise<unknown>;
  broken: Error | undefined;
}

type Settings = NonNullable<RequestPayload['transaction']>;

function transactionFailure(errorType: string, message: string): RequestRejected {
  return new RequestRejected({
    code: 'VALIDATION_ERROR',
    message,
    errorType,
    retryable: false,
    executed: false,
  });
}

/**
 * Interactive transactions: each holds one read-write pooled connection under a server-issued id,
 * and resets its session when it goes back to the pool (`Executor.releaseReset`).
 * A transaction nobody uses for its idle timeout, or that outlives the maximum lifetime, is rolled
 * back and its connection returned, so a client that dies mid-transaction leaves nothing open.
 */
export class Transactions {
  readonly #executor: Executor;
  readonly #logger: Logger;
  readonly #idleTimeoutMs: number;
  readonly #maxIdleTimeoutMs: number;
  readonly #maxLifetimeMs: number;
  readonly #maxOpen: number;
  readonly #open = new Map<string, Open>();
  /** Ids that ended by expiry, so a late request is told "expired" rather than "unknown". */
  readonly #expired = new Set<string>();
  /** Ids rolled back because their partition was revoked (bounded), so a late request is told so. */
  readonly #moved = new Map<string, TransactionOrigin>();
  readonly #onRolledBack: TransactionOptions['onRolledBack'];
  /** Revocations so far, and per request partition the count when it was last revoked. */
  #revocations = 0;
  readonly #revokedAt = new Map<string, number>();

  constructor(executor: Executor, logger: Logger, options: TransactionOptions & { poolMax: number }) {
    this.#executor = executor;
    this.#logger = logger;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.#maxIdleTimeoutMs = options.maxIdleTimeoutMs ?? 300_000;
    this.#maxLifetimeMs = options.maxLifetimeMs ?? 600_000;
    this.#maxOpen = options.maxOpen ?? Math.max(1, Math.floor(options.poolMax / 2));
    this.#onRolledBack = options.onRolledBack;
  }

  get size(): number {
    return this.#open.size;
  }

  /**
   * Opens a transaction. `origin` is the request partition its BEGIN came from: the client keys every
   * request of a transaction like its BEGIN, so when that partition is revoked the transaction can no
   * longer be reached here and is rolled back at once (`revoke`).
   */
  async begin(settings: Settings, owner = '', origin?: TransactionOrigin): Promise<string> {
    if (this.#open.size >= this.#maxOpen) {
      throw new RequestRejected({
        code: 'DATABASE_CONNECTION_FAILED',
        message: `too many open transactions (${this.#maxOpen}); retry later`,
        errorType: 'TooManyTransactions',
        retryable: true,
        executed: false,
      });
    }
    const revocationsAtStart = this.#revocations;
    const client = await this.#executor.acquire(false);
    let sql = 'BEGIN';
    if (settings.isolation_level) sql += ` ISOLATION LEVEL ${settings.isolation_level.toUpperCase()}`;
    if (settings.access_mode) sql += ` ${settings.access_mode.toUpperCase()}`;
    try {
      await client.query(sql);
    } catch (error) {
      client.release(isConnectionError(error) ? (error as Error) : undefined);
      throw error;
    }
    const id = `tx-${newId()}`;
    const idleTimeoutMs = Math.min(settings.idle_timeout_ms ?? this.#idleTimeoutMs, this.#maxIdleTimeoutMs);
    const open: Open = {
      id,
      origin,
      owner,
      client,
      idleTimeoutMs,
      idle: setTimeout(() => void this.#expire(id, 'idle'), idleTimeoutMs),
      lifetime: setTimeout(() => void this.#expire(id, 'lifetime'), this.#maxLifetimeMs),
      tail: Promise.resolve(),
      broken: undefined,
    };
    this.#open.set(id, open);
    // Its partition was revoked while BEGIN ran: nothing will reach it here again.
    if (origin !== undefined && (this.#revokedAt.get(originKey(origin)) ?? 0) > revocationsAtStart) {
      await this.#expire(id, 'partition-moved');
      throw this.#gone(id);
    }
    this.#logger.debug('transaction begun', {
      transactionId: id,
      idleTimeoutMs,
      ...(origin === undefined ? {} : { topic: origin.topic, partition: origin.partition }),
    });
    return id;
  }

  /**
   * Queues `work` on the transaction's connection. The queueing happens synchronously, so requests
   * run in the order they were handed in.
   */
  run<T>(id: string, work: (client: pg.PoolClient) => Promise<T>, owner = ''): Promise<T> {
    const open = this.#lookup(id, owner);
    clearTimeout(open.idle);
    const result = open.tail.then(async () => {
      if (!this.#open.has(id)) throw this.#gone(id);
      try {
        return await work(open.client);
      } catch (error) {
        if (isConnectionError(error)) open.broken = error as Error;
        throw error;
      } finally {
        if (this.#open.has(id)) {
          clearTimeout(open.idle);
          open.idle = setTimeout(() => void this.#expire(id, 'idle'), open.idleTimeoutMs);
        }
      }
    });
    open.tail = result.catch(() => {});
    return result;
  }

  /** COMMIT or ROLLBACK; resolves to PostgreSQL's command tag (an aborted transaction commits as ROLLBACK). */
  async end(
    id: string,
    action: 'commit' | 'rollback',
    owner = '',
    /** Runs on the transaction's connection just before COMMIT (the idempotency record). */
    beforeCommit?: (client: pg.PoolClient) => Promise<void>,
  ): Promise<string> {
    const open = this.#lookup(id, owner);
    clearTimeout(open.idle);
    const done = open.tail.then(async () => {
      if (!this.#open.has(id)) throw this.#gone(id);
      this.#open.delete(id);
      clearTimeout(open.idle);
      clearTimeout(open.lifetime);
      try {
        if (action === 'commit' && beforeCommit !== undefined) await beforeCommit(open.client);
        const result = await open.client.query(action === 'commit' ? 'COMMIT' : 'ROLLBACK');
        return result.command ?? action.toUpperCase();
      } catch (error) {
        if (isConnectionError(error)) open.broken = error as Error;
        throw error;
      } finally {
        // Reset before the next user gets it; the reply need not wait for that.
        void this.#executor.releaseReset(open.client, open.broken);
      }
    });
    open.tail = done.catch(() => {});
    return done;
  }

  /** Another identity's transaction is answered as an unknown one: ids cannot be probed. */
  #lookup(id: string, owner: string): Open {
    const open = this.#open.get(id);
    if (open === undefined) throw this.#gone(id);
    if (open.owner !== owner) {
      this.#logger.warn('transaction used by another identity; refused', {
        transactionId: id,
        owner: open.owner,
        caller: owner,
      });
      throw transactionFailure('UnknownTransaction', `transaction ${id} ${NOT_OPEN_HERE}`);
    }
    return open;
  }

  #gone(id: string): RequestRejected {
    const moved = this.#moved.get(id);
    if (moved !== undefined)
      return transactionFailure(
        'TransactionPartitionMoved',
        `transaction ${id} was rolled back because its partition (${moved.topic} [${moved.partition}]) moved to another adapter in a consumer-group rebalance; nothing of it was committed: begin a new transaction`,
      );
    return this.#expired.has(id)
      ? transactionFailure(
          'TransactionExpired',
          `transaction ${id} expired (idle or too old) and was rolled back`,
        )
      : transactionFailure('UnknownTransaction', `transaction ${id} ${NOT_OPEN_HERE}`);
  }

  /**
   * Rolls back at once every transaction begun on one of these request partitions (they were revoked
   * from this adapter: the transaction's next request goes to the partition's new owner, which does
   * not know it). Resolves with how many were rolled back once their connections are back.
   */
  async revoke(partitions: readonly TransactionOrigin[]): Promise<number> {
    const revoked = new Set(partitions.map(originKey));
    if (partitions.length > 0) this.#revocations++;
    for (const key of revoked) this.#revokedAt.set(key, this.#revocations);
    const ids = [...this.#open.values()]
      .filter((o) => o.origin !== undefined && revoked.has(originKey(o.origin)))
      .map((o) => o.id);
    await Promise.all(ids.map((id) => this.#expire(id, 'partition-moved')));
    return ids.length;
  }

  async #expire(id: string, why: RollbackReason): Promise<void> {
    const open = this.#open.get(id);
    if (open === undefined) return;
    this.#open.delete(id);
    clearTimeout(open.idle);
    clearTimeout(open.lifetime);
    if (why === 'partition-moved' && open.origin !== undefined) {
      this.#moved.set(id, open.origin);
      if (this.#moved.size > REMEMBERED_IDS) this.#moved.delete(this.#moved.keys().next().value as string);
      this.#logger.warn(
        'transaction rolled back: its request partition was revoked (moved to another adapter)',
        {
          transactionId: id,
          topic: open.origin.topic,
          partition: open.origin.partition,
        },
      );
    } else {
      this.#expired.add(id);
      if (this.#expired.size > REMEMBERED_IDS)
        this.#expired.delete(this.#expired.values().next().value as string);
      this.#logger.warn(
        why === 'shutdown'
          ? 'adapter stopping; rolling back open transaction'
          : 'transaction expired; rolling back',
        { transactionId: id, reason: why },
      );
    }
    this.#onRolledBack?.(why, open.origin);
    // A statement may still run on it: wait for the queue, then roll back and return the connection.
    await open.tail;
    try {
      await open.client.query('ROLLBACK');
      await this.#executor.releaseReset(open.client, open.broken);
    } catch (error) {
      open.client.release(error as Error);
    }
  }

  /** Rolls back every open transaction (adapter shutdown). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#open.keys()].map((id) => this.#expire(id, 'shutdown')));
  }
}
