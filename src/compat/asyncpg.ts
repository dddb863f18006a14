import {
  DatabaseEventClient,
  type QueryResult,
  type Row,
  type Transaction,
} from '../client/database-event-client.js';
import type { DatabaseEventClientOptions } from '../client/options.js';
import { encodeParams } from '../events/values.js';

const ALL_ROWS = 1_000_000;

/**
 * asyncpg's connection calls over the bus, for code that moves off a direct connection by
 * changing one line: `await asyncpg.connect(...)` becomes `await connectAsyncpg()`.
 * Positional parameters stay `$1, $2, ...` and are passed as arguments, as in asyncpg.
 */
export class AsyncpgConnection implements AsyncDisposable {
  readonly #client: DatabaseEventClient;
  readonly #owned: boolean;
  #transaction: Transaction | undefined;

  constructor(client: DatabaseEventClient, owned = false) {
    this.#client = client;
    this.#owned = owned;
  }

  async #run(sql: string, args: readonly unknown[]): Promise<QueryResult> {
    return this.#client.request(
      { operation_type: 'EXECUTE', sql, params: encodeParams(args) },
      { maxRows: ALL_ROWS, ...(this.#transaction ? { transaction: this.#transaction } : {}) },
    );
  }

  /** All rows, as objects (asyncpg's Record list). */
  async fetch<R = Row>(sql: string, ...args: unknown[]): Promise<R[]> {
    return (await this.#run(sql, args)).rows as R[];
  }

  /** The first row, or null. */
  async fetchrow<R = Row>(sql: string, ...args: unknown[]): Promise<R | null> {
    return ((await this.#run(sql, args)).rows[0] as R | undefined) ?? null;
  }

  /** The first column of the first row, or null (asyncpg's `column=0`). */
  async fetchval<V = unknown>(sql: string, ...args: unknown[]): Promise<V | null> {
    const result = await this.#run(sql, args);
    const first = result.rows[0];
    const name = result.fields[0]?.name;
    return first === undefined || name === undefined ? null : ((first[name] as V) ?? null);
  }

  /** Runs a statement; returns PostgreSQL's status string, e.g. `UPDATE 3` or `INSERT 0 1`, as asyncpg does. */
  async execute(sql: string, ...args: unknown[]): Promise<string> {
    const result = await this.#run(sql, args);
    return result.command === 'INSERT'
      ? `INSERT 0 ${result.rowCount}`
      : `${result.command} ${result.rowCount}`;
  }

  /** `async with conn.transaction():` becomes `await conn.transaction(async () => ...)`. */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#transaction)
      throw new Error('a transaction is already open on this connection (nested ones: use savepoints)');
    const transaction = await this.#client.beginTransaction();
    this.#transaction = transaction;
    try {
      const result = await fn();
      this.#transaction = undefined;
      const tag = await this.#client.commitTransaction(transaction);
      if (tag !== 'COMMIT') throw new Error(`transaction ended with ${tag}`);
      return result;
    } catch (error) {
      if (this.#transaction) {
        this.#transaction = undefined;
        await this.#client.rollbackTransaction(transaction).catch(() => {});
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#client.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** `asyncpg.connect()` over the bus: no host, port, user or password; only Kafka. */
export async function connectAsyncpg(options: DatabaseEventClientOptions = {}): Promise<AsyncpgConnection> {
  const client = new DatabaseEventClient(options);
  await client.start();
  return new AsyncpgConnection(client, true);
}
