/**
 * A token bucket: `ratePerSecond` tokens flow in continuously up to `burst`; each event takes one.
 * Pure arithmetic on a stored state; the caller persists the new state with a conditional write,
 * so every concurrent execution shares one bucket per tenant.
 */
export interface BucketState {
  readonly tokens: number;
  readonly updatedAtMs: number;
}

export interface BucketLimits {
  readonly ratePerSecond: number;
  readonly burst: number;
}

export interface TakeResult {
  readonly granted: number;
  readonly next: BucketState;
  /** When the first event that was refused could be admitted (0 when all were granted). */
  readonly retryAfterMs: number;
}

/** A bucket seen for the first time starts full: a tenant may burst right away. */
export function refill(state: BucketState | undefined, nowMs: number, limits: BucketLimits): BucketState {
  if (!state) return { tokens: limits.burst, updatedAtMs: nowMs };
  const elapsedSeconds = Math.max(0, nowMs - state.updatedAtMs) / 1000;
  return {
    tokens: Math.min(limits.burst, state.tokens + elapsedSeconds * limits.ratePerSecond),
    updatedAtMs: nowMs,
  };
}

export function take(
  state: BucketState | undefined,
  requested: number,
  nowMs: number,
  limits: BucketLimits,
): TakeResult {
  const filled = refill(state, nowMs, limits);
  const granted = Math.max(0, Math.min(requested, Math.floor(filled.tokens)));
  const next = { tokens: filled.tokens - granted, updatedAtMs: nowMs };
  const deficit = granted < requested ? 1 - next.tokens : 0;
  return {
    granted,
    next,
    retryAfterMs: deficit > 0 ? Math.ceil((deficit / limits.ratePerSecond) * 1000) : 0,
  };
}
