/**
 * The budgets the transport holds every peer to, before and after connect:
 * their defaults, their config keys, and the small counters that enforce
 * them. Pure: the transport reads the clock and does the closing.
 */
import type { ClawgateConfig } from "../../config/schema.js"
import { DEFAULT_MAX_FRAME_DEPTH } from "../../protocol/codec.js"
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from "../../protocol/frames.js"

export interface Limits {
  readonly maxFrameDepth: number
  /** From TCP accept to hello-ok: the HTTP upgrade and the connect handshake together. */
  readonly handshakeTimeoutMs: number
  readonly unauthenticatedPerAddress: number
  readonly unauthenticatedTotal: number
  readonly maxInflightPerConnection: number
  readonly deniedCallsPerMinute: number
  readonly pingIntervalMs: number
  readonly maxMissedPongs: number
}

export const DEFAULT_LIMITS: Limits = {
  maxFrameDepth: DEFAULT_MAX_FRAME_DEPTH,
  handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
  unauthenticatedPerAddress: 32,
  unauthenticatedTotal: 1_024,
  maxInflightPerConnection: 256,
  deniedCallsPerMinute: 30,
  pingIntervalMs: 15_000,
  maxMissedPongs: 2
}

/** The limits in force: `gateway.limits.*` over the defaults (read once, at start). */
export const resolveLimits = (cfg: ClawgateConfig): Limits => {
  const l = cfg.gateway?.limits
  return {
    maxFrameDepth: l?.maxFrameDepth ?? DEFAULT_LIMITS.maxFrameDepth,
    handshakeTimeoutMs: cfg.gateway?.handshakeTimeoutMs ?? DEFAULT_LIMITS.handshakeTimeoutMs,
    unauthenticatedPerAddress: l?.unauthenticatedPerAddress ?? DEFAULT_LIMITS.unauthenticatedPerAddress,
    unauthenticatedTotal: l?.unauthenticatedTotal ?? DEFAULT_LIMITS.unauthenticatedTotal,
    maxInflightPerConnection: l?.maxInflightPerConnection ?? DEFAULT_LIMITS.maxInflightPerConnection,
    deniedCallsPerMinute: l?.deniedCallsPerMinute ?? DEFAULT_LIMITS.deniedCallsPerMinute,
    pingIntervalMs: l?.pingIntervalMs ?? DEFAULT_LIMITS.pingIntervalMs,
    maxMissedPongs: l?.maxMissedPongs ?? DEFAULT_LIMITS.maxMissedPongs
  }
}

/** How many of something each key holds right now (unauthenticated connections per address). */
export class KeyedCounter {
  private readonly counts = new Map<string, number>()

  get(key: string): number {
    return this.counts.get(key) ?? 0
  }

  add(key: string): number {
    const n = this.get(key) + 1
    this.counts.set(key, n)
    return n
  }

  remove(key: string): void {
    const n = this.get(key) - 1
    if (n <= 0) this.counts.delete(key)
    else this.counts.set(key, n)
  }
}

export const DENIED_WINDOW_MS = 60_000

/**
 * Calls a connection made that it was not allowed to (missing scope or
 * role), in a fixed one-minute window. Past the budget every call of the
 * connection is answered RATE_LIMITED until the window ends; at twice the
 * budget (refusals and throttled calls together) it is closed.
 */
export class DeniedCalls {
  private windowStart = 0
  private count = 0

  constructor(private readonly budget: number) {}

  private roll(now: number): void {
    if (now - this.windowStart >= DENIED_WINDOW_MS) {
      this.windowStart = now
      this.count = 0
    }
  }

  /** Before a call: go on, answer RATE_LIMITED (counted), or close the connection. */
  check(now: number): { readonly _tag: "ok" } | { readonly _tag: "throttle"; readonly retryAfterMs: number } | { readonly _tag: "close" } {
    this.roll(now)
    if (this.count < this.budget) return { _tag: "ok" }
    this.count++
    if (this.count >= this.budget * 2) return { _tag: "close" }
    return { _tag: "throttle", retryAfterMs: Math.max(1, this.windowStart + DENIED_WINDOW_MS - now) }
  }

  /** A call was refused for a missing scope or role. */
  denied(now: number): void {
    this.roll(now)
    this.count++
  }

  get inWindow(): number {
    return this.count
  }
}
