/**
 * Shared-credential auth with a per-address limit on failed attempts.
 */
import { credentialHash, safeEqual } from "../util/secrets.js"
import { Clock, Effect, Layer, Option, Redacted } from "effect"
import type { TailscaleClaim } from "../config/clientAddress.js"
import { GatewayError } from "../protocol/errors.js"
import { Auth, type AuthAttempt, type AuthGrant, type AuthOverrides, type AuthService, resolveServerAuth } from "../services/Auth.js"
import { ConfigStore } from "../services/Config.js"
import { GatewayLog } from "../services/GatewayLog.js"
import { Tailscale } from "../services/Tailscale.js"

export { safeEqual }

export interface RateLimitPolicy {
  readonly maxAttempts: number
  readonly windowMs: number
  readonly lockoutMs: number
  readonly exemptLoopback: boolean
}

export const DEFAULT_RATE_LIMIT: RateLimitPolicy = {
  maxAttempts: 10,
  windowMs: 60_000,
  lockoutMs: 300_000,
  exemptLoopback: true
}

interface Bucket {
  failures: Array<number>
  lockedUntil: number
}

/** The failures of a `limited` check that count like a wrong shared secret: a wrong device token, a bad dashboard code. */
const COUNTED_CODES: ReadonlySet<string> = new Set(["AUTH_DEVICE_TOKEN_MISMATCH", "AUTH_BOOTSTRAP_TOKEN_INVALID"])

/** At most this many addresses are tracked; the oldest is forgotten first. */
const MAX_TRACKED = 10_000

export class FailureLimiter {
  private readonly buckets = new Map<string, Bucket>()

  /** Milliseconds until `key` may try again, or 0. */
  lockedFor(key: string, now: number): number {
    const b = this.buckets.get(key)
    if (!b) return 0
    return b.lockedUntil > now ? b.lockedUntil - now : 0
  }

  /** Records a failure; returns the lockout in ms when this failure triggered one. */
  fail(key: string, now: number, policy: RateLimitPolicy): number {
    let b = this.buckets.get(key)
    if (!b) {
      if (this.buckets.size >= MAX_TRACKED) {
        const oldest = this.buckets.keys().next().value
        if (oldest !== undefined) this.buckets.delete(oldest)
      }
      b = { failures: [], lockedUntil: 0 }
      this.buckets.set(key, b)
    }
    b.failures = b.failures.filter((t) => now - t < policy.windowMs)
    b.failures.push(now)
    if (b.failures.length >= policy.maxAttempts) {
      b.lockedUntil = now + policy.lockoutMs
      b.failures = []
      return policy.lockoutMs
    }
    return 0
  }

  succeed(key: string): void {
    this.buckets.delete(key)
  }
}

const rateLimited = (retryAfterMs: number) =>
  GatewayError.of("INVALID_REQUEST", "unauthorized: too many failed authentication attempts (retry later)", {
    details: {
      code: "AUTH_RATE_LIMITED",
      authReason: "rate_limited",
      canRetryWithDeviceToken: false,
      recommendedNextStep: "wait_then_retry"
    },
    retryable: true,
    retryAfterMs
  })

const tailscaleRefused = (code: string, message: string) =>
  GatewayError.invalidRequest(`unauthorized: ${message}`, {
    code,
    authReason: "tailscale_identity_unverified",
    canRetryWithDeviceToken: false,
    recommendedNextStep: "update_auth_configuration"
  })

export const makeAuth = (overrides: AuthOverrides) =>
  Effect.gen(function* () {
    const config = yield* ConfigStore
    const log = yield* GatewayLog
    const tailscale = yield* Tailscale
    const limiter = new FailureLimiter()
    // The hash of the secret in force, computed once per secret (every session keeps it).
    let hashed: { secret: string; hash: string } | undefined
    const hashOf = (secret: string) => {
      if (hashed?.secret !== secret) hashed = { secret, hash: credentialHash(secret) }
      return hashed.hash
    }
    const registered = new Set<string>()

    const resolved = Effect.gen(function* () {
      const current = yield* config.current.pipe(
        Effect.mapError((e) => GatewayError.unavailable(`gateway config is invalid: ${e.message}`))
      )
      const r = resolveServerAuth(current, config.env, overrides)
      for (const redacted of [r.token, r.password]) {
        const secret = redacted === undefined ? undefined : Redacted.value(redacted)
        if (secret && !registered.has(secret)) {
          registered.add(secret)
          yield* log.addSecret(secret)
        }
      }
      const rl = current.gateway?.auth?.rateLimit
      const policy: RateLimitPolicy = {
        maxAttempts: rl?.maxAttempts ?? DEFAULT_RATE_LIMIT.maxAttempts,
        windowMs: rl?.windowMs ?? DEFAULT_RATE_LIMIT.windowMs,
        lockoutMs: rl?.lockoutMs ?? DEFAULT_RATE_LIMIT.lockoutMs,
        exemptLoopback: rl?.exemptLoopback ?? DEFAULT_RATE_LIMIT.exemptLoopback
      }
      return { r, policy }
    })

    /**
     * A request shaped as Tailscale Serve forwards it, whose login `tailscale
     * whois` confirms for the forwarded address (case-insensitively).
     */
    const verifyTailscale = (claim: TailscaleClaim): Effect.Effect<AuthGrant, GatewayError> =>
      Effect.gen(function* () {
        if (claim._tag === "Refused") {
          yield* Effect.logWarning(`auth: Tailscale identity refused: ${claim.reason}`)
          return yield* tailscaleRefused("AUTH_TAILSCALE_NOT_SERVE", `Tailscale identity not accepted: ${claim.reason}`)
        }
        const found = yield* tailscale.whois(claim.clientIp).pipe(
          Effect.tapError((e) => Effect.logWarning(`auth: tailscale whois ${claim.clientIp} failed: ${e.message}`)),
          Effect.mapError(() =>
            tailscaleRefused(
              "AUTH_TAILSCALE_WHOIS_FAILED",
              `cannot confirm the Tailscale identity of ${claim.clientIp} (tailscale whois failed)`
            )
          )
        )
        if (Option.isNone(found) || found.value.toLowerCase() !== claim.login.toLowerCase()) {
          yield* Effect.logWarning(
            `auth: tailscale-user-login ${JSON.stringify(claim.login)} from ${claim.clientIp}, but tailscale whois says ${Option.match(found, { onNone: () => "no user", onSome: (l) => JSON.stringify(l) })}`
          )
          return yield* tailscaleRefused(
            "AUTH_TAILSCALE_IDENTITY_MISMATCH",
            `the Tailscale identity header does not match tailscale whois for ${claim.clientIp}`
          )
        }
        return { method: "tailscale" as const, user: found.value }
      })

    /**
     * The failure limit for one attempt: whether it applies (a direct loopback
     * client without a browser Origin may be exempt; a forwarded one never
     * is), refused while locked out, and `counted` for a failure.
     */
    const limitFor = (attempt: AuthAttempt, policy: RateLimitPolicy, now: number) => {
      const limited = !(policy.exemptLoopback && attempt.isLoopback && !attempt.forwarded && !attempt.hasOrigin)
      const key = attempt.clientIp
      const wait = limited ? limiter.lockedFor(key, now) : 0
      /** A failure that counts towards the limit; the one that reaches it answers "rate limited". */
      const counted = (error: GatewayError) =>
        Effect.gen(function* () {
          if (limited) {
            const lockout = limiter.fail(key, now, policy)
            if (lockout > 0) {
              yield* Effect.logWarning(`auth: ${key} locked out for ${lockout} ms after repeated failures`)
              return yield* rateLimited(lockout)
            }
          }
          return yield* error
        })
      return { limited, key, wait, counted }
    }

    const limited: AuthService["limited"] = (attempt, check) =>
      Effect.gen(function* () {
        const { policy } = yield* resolved
        const limit = limitFor(attempt, policy, yield* Clock.currentTimeMillis)
        if (limit.wait > 0) return yield* rateLimited(limit.wait)
        // A good device token does not wipe the address's record: one device's token would otherwise buy
        // unlimited guesses at the shared secret between its logins.
        return yield* check.pipe(Effect.catchIf((e) => COUNTED_CODES.has(e.detailCode ?? ""), limit.counted))
      })

    const authenticate: AuthService["authenticate"] = (attempt: AuthAttempt) =>
      Effect.gen(function* () {
        const { r, policy } = yield* resolved
        if (r.mode === "none") return { method: "none" as const }
        const { limited, key, wait, counted } = limitFor(attempt, policy, yield* Clock.currentTimeMillis)
        if (wait > 0) return yield* rateLimited(wait)
        // Tailscale Serve's identity stands in for the shared credential only when none was sent.
        const sharedPresented = Boolean(attempt.auth?.token || attempt.auth?.password)
        if (r.allowTailscale && attempt.tailscale !== undefined && !sharedPresented) {
          const grant = yield* verifyTailscale(attempt.tailscale).pipe(Effect.catchAll(counted))
          if (limited) limiter.succeed(key)
          return grant
        }
        const presented = r.mode === "token" ? attempt.auth?.token : attempt.auth?.password
        const secret = r.mode === "token" ? r.token : r.password
        const expected = secret === undefined ? undefined : Redacted.value(secret)
        const what = r.mode === "token" ? "token" : "password"
        const upper = what.toUpperCase()
        if (expected === undefined) {
          return yield* GatewayError.of("UNAVAILABLE", `gateway has no ${what} configured (set gateway.auth.${what})`, {
            details: { code: `AUTH_${upper}_NOT_CONFIGURED` }
          })
        }
        if (presented === undefined || presented === "") {
          // Missing credentials are a client misconfiguration, not a guess: not counted.
          return yield* GatewayError.invalidRequest(
            `unauthorized: gateway ${what} missing (provide auth.${what}: set gateway.remote.${what} or pass --${what})`,
            {
              code: `AUTH_${upper}_MISSING`,
              authReason: `${what}_missing`,
              canRetryWithDeviceToken: false,
              recommendedNextStep: "update_auth_configuration"
            }
          )
        }
        if (!safeEqual(presented, expected)) {
          return yield* counted(
            GatewayError.invalidRequest(`unauthorized: gateway ${what} mismatch (the ${what} sent does not match the Gateway's)`, {
              code: `AUTH_${upper}_MISMATCH`,
              authReason: `${what}_mismatch`,
              canRetryWithDeviceToken: false,
              recommendedNextStep: "update_auth_credentials"
            })
          )
        }
        if (limited) limiter.succeed(key)
        return { method: r.mode, credentialHash: hashOf(expected) }
      })

    return {
      authenticate,
      limited,
      resolved: Effect.map(resolved, (x) => x.r)
    } satisfies AuthService
  })

export const AuthLive = (overrides: AuthOverrides = {}) => Layer.effect(Auth, makeAuth(overrides))
