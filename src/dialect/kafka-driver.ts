import {
  AbortedTransactionError,
  type DatabaseConnection,
  type Driver,
  type TransactionSettings,
} from 'kysely';
import { DatabaseEventClient } from '../client/database-event-client.js';
import { KafkaConnection } from './kafka-connection.js';
import type { KafkaDialectConfig } from './kafka-dialect.js';

/**
 * There are no sockets to pool: a "connection" is a cheap handle that remembers an open
 * transaction. Transactions are held by the adapter under a server-issued id; the connection keeps
 * it, sends it with every query, and clears it when the transaction ends.
 */
export class KafkaDriver implements Driver {
  readonly #config: KafkaDialectConfig;
  readonly #client: DatabaseEventClient;
  readonly #ownsClient: boolean;

  constructor(config: KafkaDialectConfig) {
    this.#config = config;
    this.#ownsClient = !(config.client instanceof DatabaseEventClient);
    this.#client =
      config.client instanceof DatabaseEventClient ? config.client : new DatabaseEventClient(config.client);
  }

  async init(): Promise<void> {
    if (this.#ownsClient) await this.#client.start();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new KafkaConnection(this.#client, {
      maxRows: this.#config.maxRows ?? 1_000_000,
      ...(this.#config.timeoutMs === undefined ? {} : { timeoutMs: this.#config.timeoutMs }),
    });
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const { isolationLevel, accessMode } = settings;
    if (isolationLevel === 'snapshot') throw new TypeError('PostgreSQL has no "snapshot" isolation level');
    await (connection as KafkaConnection).begin({
      ...(isolationLevel ? { isolationLevel } : {}),
      ...(accessMode ? { accessMode } : {}),
    });
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    // PostgreSQL completes COMMIT with a ROLLBACK tag when an earlier error aborted the transaction.
    if ((await (connection as KafkaConnection).end('commit')) === 'ROLLBACK')
      throw new AbortedTransactionError();
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as KafkaConnection).end('rollback');
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await (connection as KafkaConnection).savepoint('SAVEPOINT', name);
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await (connection as KafkaConnection).savepoint('ROLLBACK TO SAVEPOINT', name);
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await (connection as KafkaConnection).savepoint('RELEASE SAVEPOINT', name);
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    await (connection as KafkaConnection).release();
  }

  async destroy(): Promise<void> {
    if (this.#ownsClient) await this.#client.stop();
  }
}
