/**
 * Bounds of a request, shared by both sides: the adapter refuses a request beyond them with a
 * VALIDATION_ERROR before it touches the database, and a client may check them before sending.
 */
export const REQUEST_LIMITS = Object.freeze({
  /** Bind parameters of one statement: PostgreSQL's protocol counts them in 16 bits. */
  maxParams: 65_535,
  /**
   * Largest `max_rows` PostgreSQL's protocol can carry (Execute takes a signed 32-bit row count;
   * the adapter asks for one row more to see a cut). A larger `max_rows` is clamped to it.
   */
  maxRows: 2_147_483_646,
  /** `timeout_ms` at most one hour. */
  maxTimeoutMs: 3_600_000,
  /** Characters of `sql` / `query` (and of each BATCH statement). */
  maxSqlLength: 1_000_000,
  /** Nesting of arrays and objects inside one parameter value (`[[[1]]]` is 3). */
  maxParamDepth: 32,
  /** Characters of `event_id`, `correlation_id`, `client_id`, `service`, `transaction_id`, `idempotency_key`. */
  maxIdLength: 200,
  /** Statements of one BATCH. */
  maxStatements: 1000,
});

/** Depth of nested arrays/objects in a JSON value (a scalar is 0), without recursion. */
export function jsonDepth(value: unknown, stopAbove = Number.POSITIVE_INFINITY): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    const d = depth + 1;
    if (d > max) max = d;
    if (max > stopAbove) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, d]);
    }
  }
  return max;
}

/**
 * Why one statement's text and parameters cannot be sent to PostgreSQL as they are, or undefined.
 * `where` names the statement in the message (`params`, `statements[3].params`).
 */
export function statementProblem(
  sql: string | undefined,
  params: readonly unknown[] | undefined,
  where = '',
): string | undefined {
  const at = (field: string) => (where === '' ? field : `${where}.${field}`);
  if (sql !== undefined) {
    if (sql.length > REQUEST_LIMITS.maxSqlLength)
      return `${at('sql')} has ${sql.length} characters; the limit is ${REQUEST_LIMITS.maxSqlLength}`;
    if (sql.includes('\u0000')) return `${at('sql')} contains a NUL character, which PostgreSQL cannot take`;
  }
  if (params !== undefined) {
    if (params.length > REQUEST_LIMITS.maxParams)
      return `${at('params')} has ${params.length} parameters; PostgreSQL takes at most ${REQUEST_LIMITS.maxParams} per statement`;
    for (const [i, value] of params.entries()) {
      if (value !== null && typeof value === 'object') {
        const depth = jsonDepth(value, REQUEST_LIMITS.maxParamDepth);
        if (depth > REQUEST_LIMITS.maxParamDepth)
          return `${at(`params[${i}]`)} is nested deeper than ${REQUEST_LIMITS.maxParamDepth} levels`;
      }
    }
  }
  return undefined;
}

interface LimitedPayload {
  readonly sql?: string | undefined;
  readonly query?: string | undefined;
  readonly params?: readonly unknown[] | undefined;
  readonly data?: Readonly<Record<string, unknown>> | undefined;
  readonly where?: Readonly<Record<string, unknown>> | undefined;
  readonly filters?: Readonly<Record<string, unknown>> | undefined;
  readonly statements?:
    | readonly { readonly sql: string; readonly params?: readonly unknown[] | undefined }[]
    | undefined;
}

/** Why a request payload is beyond the bounds of `REQUEST_LIMITS`, or undefined when it is within them. */
export function payloadProblem(payload: LimitedPayload): string | undefined {
  const problem =
    statementProblem(payload.sql, payload.params) ??
    statementProblem(payload.query, undefined)?.replace(/^sql/, 'query') ??
    payload.statements
      ?.map((s, i) => statementProblem(s.sql, s.params, `statements[${i}]`))
      .find((p) => p !== undefined);
  if (problem !== undefined) return problem;
  for (const field of ['data', 'where', 'filters'] as const) {
    const value = payload[field];
    if (value === undefined) continue;
    if (Object.keys(value).length > REQUEST_LIMITS.maxParams)
      return `${field} has more than ${REQUEST_LIMITS.maxParams} columns`;
    if (jsonDepth(value, REQUEST_LIMITS.maxParamDepth + 1) > REQUEST_LIMITS.maxParamDepth + 1)
      return `${field} is nested deeper than ${REQUEST_LIMITS.maxParamDepth} levels`;
  }
  return undefined;
}
