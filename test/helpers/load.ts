import { DbBridgeError } from '../../src/index.js';

/** One call of a load run: its marker, when it started and ended (ms since epoch), and how it ended. */
export interface CallRecord {
  readonly marker: string;
  readonly startedAt: number;
  readonly endedAt: number;
  /** `ok`, or the coded error's `code`; `UNCODED: <message>` for anything else (always a bug). */
  readonly outcome: string;
  /** The error's message, for failed calls. */
  readonly message?: string;
}

export interface LoadRun {
  /** Every call that ended so far. */
  readonly calls: readonly CallRecord[];
  /** Successful calls so far. */
  successes(): number;
  /** Waits until `n` calls succeeded after `since` (default: ever), failing after `timeoutMs`. */
  waitForSuccesses(n: number, timeoutMs: number, since?: number): Promise<void>;
  /** Lets every worker finish its current call, then resolves with all records. */
  stop(): Promise<readonly CallRecord[]>;
}

/**
 * Runs `write(marker)` from `concurrency` workers in a loop, each call with a marker of its own
 * (`<prefix>-<n>`), until `stop()`. Records every call's outcome; never throws from a call.
 */
export function startLoad(options: {
  readonly prefix: string;
  readonly concurrency: number;
  readonly write: (marker: string) => Promise<unknown>;
  /** Pause of a worker between its calls, ms. Default 0. */
  readonly pauseMs?: number;
}): LoadRun {
  const calls: CallRecord[] = [];
  let next = 0;
  let stopping = false;
  let ok = 0;
  const worker = async () => {
    while (!stopping) {
      const marker = `${options.prefix}-${next++}`;
      const startedAt = Date.now();
      let outcome: string;
      let message: string | undefined;
      try {
        await options.write(marker);
        outcome = 'ok';
        ok++;
      } catch (error) {
        outcome =
          error instanceof DbBridgeError
            ? error.code
            : `UNCODED: ${(error as Error)?.message ?? String(error)}`;
        message = (error as Error)?.message ?? String(error);
      }
      calls.push({
        marker,
        startedAt,
        endedAt: Date.now(),
        outcome,
        ...(message === undefined ? {} : { message }),
      });
      if (outcome !== 'ok')
        await new Promise((r) => setTimeout(r, 100)); // a failing call: do not spin
      else if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
  };
  const workers = Array.from({ length: options.concurrency }, worker);
  return {
    calls,
    successes: () => ok,
    async waitForSuccesses(n, timeoutMs, since = 0) {
      const deadline = Date.now() + timeoutMs;
      const count = () => calls.filter((c) => c.outcome === 'ok' && c.startedAt >= since).length;
      while (count() < n) {
        if (Date.now() > deadline) {
          const outcomes = summarize(calls.filter((c) => c.startedAt >= since)).outcomes;
          throw new Error(
            `fewer than ${n} successful calls within ${timeoutMs} ms (${count()}); outcomes: ${JSON.stringify(outcomes)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      stopping = true;
      await Promise.all(workers);
      return calls;
    },
  };
}

/** Outcome counts, the longest time without a successful reply, and the slowest call. */
export function summarize(calls: readonly CallRecord[]) {
  const outcomes: Record<string, number> = {};
  /** The first message of each failed outcome. */
  const messages: Record<string, string> = {};
  for (const c of calls) {
    outcomes[c.outcome] = (outcomes[c.outcome] ?? 0) + 1;
    if (c.message !== undefined) messages[c.outcome] ??= c.message;
  }
  const ends = calls
    .filter((c) => c.outcome === 'ok')
    .map((c) => c.endedAt)
    .sort((a, b) => a - b);
  let longestGapMs = 0;
  for (let i = 1; i < ends.length; i++)
    longestGapMs = Math.max(longestGapMs, (ends[i] as number) - (ends[i - 1] as number));
  const slowestMs = calls.reduce((m, c) => Math.max(m, c.endedAt - c.startedAt), 0);
  return { outcomes, messages, longestGapMs, slowestMs };
}

/**
 * How long a fault at `faultAt` disturbed the service: from the fault to the end of the last call
 * that was in flight then or started later and failed or took longer than `slowMs`. 0 when none did.
 */
export function recoveryMs(calls: readonly CallRecord[], faultAt: number, slowMs: number): number {
  let last = faultAt;
  for (const c of calls) {
    if (c.endedAt < faultAt) continue;
    if (c.outcome !== 'ok' || c.endedAt - c.startedAt > slowMs) last = Math.max(last, c.endedAt);
  }
  return last - faultAt;
}

/**
 * The longest a call may take with the client's retries: every attempt waits its whole timeout and
 * every backoff is at its longest (`initial * multiplier^k`, capped, plus jitter), plus `slackMs`.
 */
export function callBoundMs(o: {
  timeoutMs: number;
  maxRetries: number;
  initialRetryTime: number;
  multiplier: number;
  maxRetryTime: number;
  jitter: number;
  slackMs: number;
}): number {
  let backoff = 0;
  for (let k = 0; k < o.maxRetries; k++)
    backoff += Math.min(o.initialRetryTime * o.multiplier ** k, o.maxRetryTime) * (1 + o.jitter);
  return (o.maxRetries + 1) * o.timeoutMs + backoff + o.slackMs;
}
