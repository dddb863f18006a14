import {
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryCompiler,
} from 'kysely';
import type { DatabaseEventClient } from '../client/database-event-client.js';
import type { DatabaseEventClientOptions } from '../client/options.js';
import { KafkaPostgresAdapter } from './kafka-adapter.js';
import { KafkaDriver } from './kafka-driver.js';

export interface KafkaDialectConfig {
  /**
   * The client the queries travel through. Either a client you start and stop yourself, or options
   * for one that the dialect creates, starts on first use and stops on `db.destroy()`.
   */
  readonly client: DatabaseEventClient | DatabaseEventClientOptions;
  /** Reply timeout per query, ms. Default: the client's `requestTimeoutMs`. */
  readonly timeoutMs?: number;
  /** Row cap per query, passed as `max_rows` (the adapter's default is the seed's 1000). Default 1000000. */
  readonly maxRows?: number;
}

/**
 * A Kysely dialect for PostgreSQL over Kafka. It reuses Kysely's PostgreSQL adapter (with a
 * transaction-level Migrator lock, see `KafkaPostgresAdapter`), query compiler and introspector, so `.compile()` is identical to `PostgresDialect`'s; its driver sends
 * each compiled query (SQL + parameters) through the DatabaseEventClient instead of a socket.
 */
export class KafkaDialect implements Dialect {
  readonly #config: KafkaDialectConfig;

  constructor(config: KafkaDialectConfig) {
    this.#config = Object.freeze({ ...config });
  }

  createDriver(): Driver {
    return new KafkaDriver(this.#config);
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new KafkaPostgresAdapter();
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kysely's Dialect interface takes Kysely<any>.
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
}
