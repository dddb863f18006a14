import { LatencyHistogram, type LatencySummary } from './histogram.js';

/** One request of a load run: resolves when the answer is in. */
export type Call = (index: number) => Promise<unknown>;

export interface LoadResult {
  readonly latency: LatencySummary;
  /** Requests answered successfully. */
  readonly ok: number;
  /** Requests that failed, timed out, were still unanswered at the end, or were never sent (backlog). */
  readonly errors: number;
  readonly errorKinds: Readonly<Record<string, number>>;
  /** Requests issued. */
  readonly sent: number;
  /** From the first scheduled send to the last answer (or the scheduled end, if later), s. */
  readonly elapsedS: number;
  /** Successful answers per second over `elapsedS`. */
  readonly achievedRps: number;
  /** Most requests outstanding at once. */
  readonly maxOutstanding: number;
  /** Why sending stopped before the schedule's end, if it did. */
  readonly abortedReason?: string;
}

export interface OpenLoopOptions {
  /** Requests per second, on a fixed schedule. */
  readonly rate: number;
  readonly durationMs: number;
  readonly call: Call;
  /** Give up waiting for answers this long after the last scheduled send. */
  readonly drainTimeoutMs: number;
  /**
   * Stop sending once this many requests are outstanding: the system is seconds behind, and the rest
   * of the schedule would only measure the queue. The unsent requests count as errors.
   */
  readonly maxOutstanding: number;
}

function errorKind(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (error instanceof Error) return error.name;
  }
  return 'unknown';
}

/**
 * Open-loop load: request i is due at `start + i / rate` whatever happened to the earlier ones, and its
 * latency counts from that due time, so a stall shows up as the queue it builds (no coordinated
 * omission). The sender wakes every millisecond and issues every request that is due.
 */
export function openLoop(options: OpenLoopOptions): Promise<LoadResult> {
  const { rate, durationMs, call } = options;
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const interval = 1000 / rate;
  const histogram = new LatencyHistogram();
  const kinds: Record<string, number> = {};
  const start = performance.now() + 2;
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let outstanding = 0;
  let maxOutstanding = 0;
  let lastAnswer = start;
  let abortedReason: string | undefined;

  return new Promise<LoadResult>((resolve) => {
    let finished = false;
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (drainTimer) clearTimeout(drainTimer);
      const unanswered = outstanding;
      const unsent = total - sent;
      if (unanswered > 0) kinds.UNANSWERED = unanswered;
      if (unsent > 0) kinds.NOT_SENT_BACKLOG = unsent;
      const elapsedS = Math.max(durationMs, lastAnswer - start) / 1000;
      resolve({
        latency: histogram.summary(),
        ok,
        errors: failed + unanswered + unsent,
        errorKinds: { ...kinds },
        sent,
        elapsedS: Math.round(elapsedS * 1000) / 1000,
        achievedRps: Math.round((ok / elapsedS) * 10) / 10,
        maxOutstanding,
        ...(abortedReason === undefined ? {} : { abortedReason }),
      });
    };
    const settle = () => {
      outstanding--;
      lastAnswer = performance.now();
      if (outstanding === 0 && (sent === total || abortedReason !== undefined)) finish();
    };
    const tick = () => {
      if (finished) return;
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) {
        if (outstanding >= options.maxOutstanding) {
          abortedReason = `more than ${options.maxOutstanding} requests outstanding`;
          break;
        }
        const due = start + sent * interval;
        const index = sent++;
        outstanding++;
        if (outstanding > maxOutstanding) maxOutstanding = outstanding;
        call(index).then(
          () => {
            histogram.recordMs(performance.now() - due);
            ok++;
            settle();
          },
          (error: unknown) => {
            failed++;
            const kind = errorKind(error);
            kinds[kind] = (kinds[kind] ?? 0) + 1;
            settle();
          },
        );
      }
      if (sent < total && abortedReason === undefined) {
        setTimeout(tick, 1);
      } else if (outstanding === 0) {
        finish();
      } else {
        drainTimer = setTimeout(finish, options.drainTimeoutMs);
      }
    };
    setTimeout(tick, 2);
  });
}

export interface ClosedLoopOptions {
  /** Workers, each with one request outstanding at a time. */
  readonly concurrency: number;
  readonly durationMs: number;
  readonly call: Call;
}

/** Closed-loop load for peak throughput: `concurrency` workers send back to back for `durationMs`. */
export async function closedLoop(options: ClosedLoopOptions): Promise<LoadResult> {
  const histogram = new LatencyHistogram();
  const kinds: Record<string, number> = {};
  const start = performance.now();
  const end = start + options.durationMs;
  let ok = 0;
  let failed = 0;
  let sent = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const began = performance.now();
      const index = sent++;
      try {
        await options.call(index);
        histogram.recordMs(performance.now() - began);
        ok++;
      } catch (error) {
        failed++;
        const kind = errorKind(error);
        kinds[kind] = (kinds[kind] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const elapsedS = (performance.now() - start) / 1000;
  return {
    latency: histogram.summary(),
    ok,
    errors: failed,
    errorKinds: kinds,
    sent,
    elapsedS: Math.round(elapsedS * 1000) / 1000,
    achievedRps: Math.round((ok / elapsedS) * 10) / 10,
    maxOutstanding: options.concurrency,
  };
}
