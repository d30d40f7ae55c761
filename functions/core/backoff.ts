/**
 * Exponential backoff with full jitter (the AWS Architecture Blog's recommendation): the delay
 * before attempt `n` (0-based retry number) is uniform in [0, min(cap, base * 2^n)].
 */
export interface BackoffOptions {
  readonly baseMs: number;
  readonly capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 50, capMs: 2_000 };

export function backoffDelayMs(
  retry: number,
  options = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}
