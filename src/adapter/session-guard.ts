import type pg from 'pg';

/** After a failed load, the next attempt waits this long, ms. */
const RETRY_AFTER_MS = 5000;

/**
 * Decides which statements may change their connection's session although the validator let them
 * through: those that call a function that is not one of PostgreSQL's own (`pg_catalog`), whose body
 * no validator sees (a PL/pgSQL function can `EXECUTE 'SET ...'`, LISTEN or PREPARE). Their connection
 * is reset before it goes back to the pool; every other statement keeps its one round trip.
 *
 * PostgreSQL's own function names are read once from the catalog, less any name that another schema
 * also defines (an unqualified call could resolve to that one). Until they are known, every statement
 * that calls a function counts as one that may change the session.
 */
export class SessionGuard {
  readonly #pool: pg.Pool;
  #builtins: ReadonlySet<string> | undefined;
  #loading = false;
  #failedAt = Number.NEGATIVE_INFINITY;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Starts reading PostgreSQL's own function names, unless known or being read. Never rejects. */
  load(): void {
    if (this.#builtins !== undefined || this.#loading || Date.now() - this.#failedAt < RETRY_AFTER_MS) return;
    this.#loading = true;
    this.#pool
      .query<{ proname: string }>(
        `SELECT proname FROM pg_catalog.pg_proc WHERE pronamespace = 'pg_catalog'::regnamespace
         EXCEPT SELECT proname FROM pg_catalog.pg_proc WHERE pronamespace <> 'pg_catalog'::regnamespace`,
      )
      .then(
        ({ rows }) => {
          this.#builtins = new Set(rows.map((r) => r.proname));
        },
        () => {
          this.#failedAt = Date.now();
        },
      )
      .finally(() => {
        this.#loading = false;
      });
  }

  /** Whether a statement that calls these functions (as written: `lower`, `public.f`) must be followed by a reset. */
  needsReset(functions: ReadonlySet<string>): boolean {
    if (functions.size === 0) return false;
    const builtins = this.#builtins;
    if (builtins === undefined) {
      this.load();
      return true;
    }
    for (const written of functions) {
      const dot = written.lastIndexOf('.');
      if (dot >= 0 && written.slice(0, dot) !== 'pg_catalog') return true;
      if (!builtins.has(written.slice(dot + 1))) return true;
    }
    return false;
  }
}
