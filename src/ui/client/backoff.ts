/**
 * How long the Control UI waits before it connects again: 1 s doubling to
 * 30 s, each delay spread by ±25 % so that many browsers dropped by one
 * Gateway restart do not all come back in the same millisecond.
 */

export const BACKOFF_INITIAL_MS = 1_000
export const BACKOFF_MAX_MS = 30_000
/** While a pairing request waits, the page asks again every few seconds (2 s growing to 10 s). */
export const PAIRING_RETRY_INITIAL_MS = 2_000
export const PAIRING_RETRY_MAX_MS = 10_000

export interface BackoffOptions {
  readonly initialMs?: number
  readonly maxMs?: number
  /** The spread: 0.25 means ±25 %. */
  readonly jitter?: number
}

/**
 * The delay before retry number `attempt` (1 for the first retry). `random`
 * is in [0, 1) (`Math.random` in the browser; fixed in tests). The result
 * never exceeds `maxMs` and is at least 100 ms.
 */
export const backoffDelay = (attempt: number, random: () => number, options: BackoffOptions = {}): number => {
  const initial = options.initialMs ?? BACKOFF_INITIAL_MS
  const max = options.maxMs ?? BACKOFF_MAX_MS
  const jitter = options.jitter ?? 0.25
  const n = Math.max(1, Math.floor(attempt))
  // 2^(n-1) grows past any max quickly; cap the exponent so the number stays finite.
  const base = Math.min(max, initial * 2 ** Math.min(n - 1, 30))
  const spread = 1 - jitter + 2 * jitter * Math.min(Math.max(random(), 0), 1)
  return Math.max(100, Math.min(max, Math.round(base * spread)))
}
