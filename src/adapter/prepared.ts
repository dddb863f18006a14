import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type pg from 'pg';

/** `pg`'s per-connection record of named statements (internal to `pg` 8's Connection). */
interface NamedStatements {
  parsedStatements: Record<string, string>;
  submittedNamedStatements: Record<string, string>;
}

export interface PreparedStatementsOptions {
  /** A text is prepared from its `after`-th use on (0: never). Default 2. */
  readonly after?: number;
  /** Most statements prepared on one connection; texts beyond it run unnamed there. Default 256. */
  readonly perConnection?: number;
}

interface TextState {
  uses: number;
  /** Bumped when PostgreSQL says the cached plan no longer fits: the next name is a fresh one. */
  generation: number;
  digest: string;
}

/**
 * A named statement failed before it ran because of its name, not its content: "cached plan must not
 * change result type" (its tables changed shape since it was prepared), or the connection's
 * statements are not what `pg` recorded (does not exist: 26000; already exists: 42P05; e.g. after a
 * Bind that failed in `pg` once its Parse had gone out). Run again unnamed, it runs as it would have.
 */
export function isPreparedMismatch(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | undefined;
  if (e?.code === '26000' || e?.code === '42P05') return true;
  return e?.code === '0A000' && typeof e.message === 'string' && e.message.includes('cached plan');
}

/**
 * Named prepared statements for the texts that repeat: PostgreSQL parses, analyzes and plans an
 * unnamed statement on every run, which for a short write costs as much as running it. From a text's
 * `after`-th use on, it runs under a name derived from its text (`pg` sends the Parse once per
 * connection and only Bind/Execute after). Bounded per connection, so texts that never repeat cannot
 * pile up in a backend; a reset connection (`DISCARD ALL`) has none again (`forget`). Not used where
 * a trace comment makes each text unique. Off when `pg`'s internals are not what this relies on.
 */
export class PreparedStatements {
  readonly #after: number;
  readonly #perConnection: number;
  readonly #texts = new LRUCache<string, TextState>({ max: 5000 });
  readonly #counts = new WeakMap<object, number>();

  constructor(options: PreparedStatementsOptions = {}) {
    this.#after = Math.max(0, Math.floor(options.after ?? 2));
    this.#perConnection = Math.max(0, Math.floor(options.perConnection ?? 256));
  }

  /** The name `text` runs under on `client` this time, or undefined: unnamed. Counts the use. */
  nameFor(client: pg.PoolClient, text: string): string | undefined {
    if (this.#after === 0) return undefined;
    const named = namedStatements(client);
    if (named === undefined) return undefined;
    let state = this.#texts.get(text);
    if (state === undefined) {
      state = {
        uses: 0,
        generation: 0,
        digest: createHash('sha256').update(text).digest('hex').slice(0, 32),
      };
      this.#texts.set(text, state);
    }
    state.uses++;
    if (state.uses < this.#after) return undefined;
    const name = `dbbridge_${state.generation}_${state.digest}`;
    if (named.parsedStatements[name] !== undefined || named.submittedNamedStatements[name] !== undefined)
      return name;
    const count = this.#counts.get(client) ?? 0;
    if (count >= this.#perConnection) return undefined;
    this.#counts.set(client, count + 1);
    return name;
  }

  /** The text's statement no longer fits (`isPreparedMismatch`): it is prepared afresh under a new name from now on. */
  stale(text: string): void {
    const state = this.#texts.get(text);
    if (state !== undefined) state.generation++;
  }

  /** The connection's session was reset: PostgreSQL dropped its prepared statements. */
  forget(client: pg.PoolClient): void {
    const named = namedStatements(client);
    if (named === undefined) return;
    named.parsedStatements = {};
    named.submittedNamedStatements = {};
    this.#counts.delete(client);
  }
}

function namedStatements(client: pg.PoolClient): NamedStatements | undefined {
  const connection = (client as unknown as { connection?: Partial<NamedStatements> }).connection;
  if (
    connection === undefined ||
    typeof connection.parsedStatements !== 'object' ||
    typeof connection.submittedNamedStatements !== 'object'
  )
    return undefined;
  return connection as NamedStatements;
}
