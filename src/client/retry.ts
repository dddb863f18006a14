/** Delay before retry number `attempt` (0-based): initial * multiplier^attempt, capped, with +-jitter. */
export function backoffDelay(
  attempt: number,
  retry: { initialRetryTime: number; multiplier: number; maxRetryTime: number; jitter: number },
  random: () => number = Math.random,
): number {
  const base = Math.min(retry.maxRetryTime, retry.initialRetryTime * retry.multiplier ** attempt);
  const spread = base * retry.jitter;
  return Math.max(0, Math.round(base - spread + random() * 2 * spread));
}

export const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
