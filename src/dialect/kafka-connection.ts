import {
  type AbortableOperationOptions,
  type CompiledQuery,
  type DatabaseConnection,
  type QueryResult,
  SelectQueryNode,
} from 'kysely';
import type {
  DatabaseEventClient,
  QueryResult as EventQueryResult,
  Transaction,
  TransactionSettings,
} from '../client/database-event-client.js';
import { DatabaseError } from '../errors.js';
import type { RequestPayload } from '../events/request.js';
import { quoteIdent } from '../events/sql.js';
import { encodeParams } from '../events/values.js';

const AFFECTING = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);
/** "cannot execute ... in a read-only transaction". */
const READ_ONLY_SQL_TRANSACTION = '25006';

function asExecute(payload: RequestPayload): RequestPayload {
  return { ...payload, operation_type: 'EXECUTE' };
}

/** One Kysely connection over the bus: a client plus, inside `db.transaction()`, the open transaction. */
export class KafkaConnection implements DatabaseConnection {
  readonly #client: DatabaseEventClient;
  readonly #options: { maxRows: number; timeoutMs?: number };
  #transaction: Transaction | undefined;

  constructor(client: DatabaseEventClient, options: { maxRows: number; timeoutMs?: number }) {
    this.#client = client;
    this.#options = options;
  }

  /**
   * Kysely's abort signal cancels the request: the call rejects with the signal's reason, and the
   * adapter cancels the statement if it is running (a CANCEL request, see `DatabaseEventClient`).
   */
  async executeQuery<R>(
    compiledQuery: CompiledQuery,
    options?: AbortableOperationOptions,
  ): Promise<QueryResult<R>> {
    const payload = this.#payload(compiledQuery);
    const call = this.#callOptions(options?.signal);
    try {
      return toKyselyResult(await this.#client.request<R>(payload, call));
    } catch (error) {
      if (!this.#writesInRead(payload, error)) throw error;
      return toKyselyResult(await this.#client.request<R>(asExecute(payload), call));
    }
  }

  async *streamQuery<R>(
    compiledQuery: CompiledQuery,
    _chunkSize?: number,
    options?: AbortableOperationOptions,
  ): AsyncIterableIterator<QueryResult<R>> {
    // Rows arrive in the adapter's chunks (about 256 KiB each); Kysely's chunkSize has no say over Kafka messages.
    const payload = this.#payload(compiledQuery);
    const call = this.#callOptions(options?.signal);
    let yielded = false;
    try {
      for await (const rows of this.#client.stream<R>(payload, call)) {
        yielded = true;
        yield { rows };
      }
    } catch (error) {
      if (yielded || !this.#writesInRead(payload, error)) throw error;
      for await (const rows of this.#client.stream<R>(asExecute(payload), call)) yield { rows };
    }
  }

  /**
   * Kysely's `inflightQueryAbortStrategy: 'cancel query'`: the aborted call's signal has already
   * sent the adapter a CANCEL for its statement, so there is nothing left to do here.
   */
  async cancelQuery(): Promise<void> {}

  /**
   * A plain SELECT that writes through a function (`nextval`, a volatile function that inserts)
   * fails on the adapter's read-only connections with SQLSTATE 25006, having done nothing; it is
   * sent again as EXECUTE, so it works as with `PostgresDialect`. Inside a transaction every
   * statement already runs on the transaction's own connection.
   */
  #writesInRead(payload: RequestPayload, error: unknown): boolean {
    return (
      payload.operation_type === 'SELECT' &&
      this.#transaction === undefined &&
      error instanceof DatabaseError &&
      error.sqlstate === READ_ONLY_SQL_TRANSACTION
    );
  }

  async begin(settings: TransactionSettings): Promise<void> {
    if (this.#transaction) throw new Error('a transaction is already open on this connection');
    this.#transaction = await this.#client.beginTransaction(settings, this.#timeout());
  }

  /**
   * Ends the transaction; the id is forgotten whatever happens, so the connection is reusable.
   * A rollback with no transaction open is a no-op, as PostgreSQL's ROLLBACK outside a transaction
   * is: Kysely rolls back after a failed COMMIT (the transaction is already gone), and the COMMIT's
   * own error (40001, a deferred constraint, a timeout) must be what reaches the caller.
   */
  async end(action: 'commit' | 'rollback'): Promise<string> {
    const transaction = this.#transaction;
    if (!transaction && action === 'rollback') return 'ROLLBACK';
    if (!transaction) throw new Error('no transaction is open on this connection');
    try {
      return action === 'commit'
        ? await this.#client.commitTransaction(transaction, this.#timeout())
        : await this.#client.rollbackTransaction(transaction, this.#timeout());
    } finally {
      this.#transaction = undefined;
    }
  }

  async savepoint(
    command: 'SAVEPOINT' | 'ROLLBACK TO SAVEPOINT' | 'RELEASE SAVEPOINT',
    name: string,
  ): Promise<void> {
    await this.#client.request(
      { operation_type: 'EXECUTE', sql: `${command} ${quoteIdent(name)}` },
      this.#callOptions(),
    );
  }

  /** Kysely releases a connection after a transaction; one left open (a bug upstream) is rolled back. */
  async release(): Promise<void> {
    if (this.#transaction) await this.end('rollback').catch(() => {});
  }

  #payload(compiledQuery: CompiledQuery): RequestPayload {
    // Plain SELECTs go to the adapter's read-only pool; everything else (DML, raw SQL, data-modifying WITH) as EXECUTE.
    const node = compiledQuery.query;
    const read = SelectQueryNode.is(node) && node.with === undefined;
    return {
      operation_type: read ? 'SELECT' : 'EXECUTE',
      sql: compiledQuery.sql,
      params: encodeParams(compiledQuery.parameters),
    };
  }

  #timeout() {
    return this.#options.timeoutMs === undefined ? {} : { timeoutMs: this.#options.timeoutMs };
  }

  #callOptions(signal?: AbortSignal) {
    return {
      ...this.#timeout(),
      maxRows: this.#options.maxRows,
      ...(this.#transaction ? { transaction: this.#transaction } : {}),
      ...(signal === undefined ? {} : { signal }),
    };
  }
}

/** numAffectedRows from the command tag and row count, as Kysely's PostgreSQL driver reports it. */
export function toKyselyResult<R>(result: EventQueryResult<R>): QueryResult<R> {
  return AFFECTING.has(result.command)
    ? { rows: result.rows, numAffectedRows: BigInt(result.rowCount) }
    : { rows: result.rows };
}
