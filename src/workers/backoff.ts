/**
 * Worker restart back-off (spec §8.6): TorchServe waits 1, 1, 2, 3, 5, ... 1597 s (Fibonacci,
 * capped) and resets after a successful load. We restart the first time at once — a crash during
 * a request is usually that request's fault and the model is known to load — then follow the
 * Fibonacci steps (docs/compatibility.md).
 */
export const RESTART_BACKOFF_MS: readonly number[] = [
  0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597,
].map((s) => s * 1000);

/** Delay before restart number `failures` (1-based count of consecutive failures). */
export function restartDelayMs(failures: number, schedule: readonly number[] = RESTART_BACKOFF_MS): number {
  if (schedule.length === 0) return 0;
  const i = Math.min(Math.max(failures - 1, 0), schedule.length - 1);
  return schedule[i]!;
}

/** TorchServe's maxRetryTimeoutInSec default: stop restarting after failing this long. */
export const DEFAULT_MAX_RETRY_TIMEOUT_SEC = 300;
