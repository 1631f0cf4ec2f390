import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { AuthLive, safeEqual } from "../../src/layers/AuthLive.js"
import { ConfigMemory } from "../../src/layers/ConfigMemory.js"
import { GatewayError } from "../../src/protocol/errors.js"
import { Auth } from "../../src/services/Auth.js"
import { GatewayLog } from "../../src/services/GatewayLog.js"
import { TailscaleTest } from "../../src/layers/TailscaleTest.js"

const NoLog = Layer.succeed(GatewayLog, {
  file: "(none)",
  tail: () => Effect.fail(GatewayError.unavailable("no log")),
  addSecret: () => Effect.void
})

const layer = (config: Record<string, unknown>) =>
  AuthLive().pipe(Layer.provide(Layer.mergeAll(ConfigMemory(config), NoLog, TailscaleTest())))

const remote = (token: string | undefined, ip = "203.0.113.7") => ({
  auth: token === undefined ? undefined : { token },
  clientIp: ip,
  isLoopback: false,
  forwarded: false,
  hasOrigin: false
})

const code = (e: GatewayError) => e.detailCode

describe("safeEqual", () => {
  it("compares secrets of any lengths without throwing", () => {
    expect(safeEqual("abc", "abc")).toBe(true)
    expect(safeEqual("abc", "abcd")).toBe(false)
    expect(safeEqual("", "x".repeat(10_000))).toBe(false)
    expect(safeEqual("ünïcødé", "ünïcødé")).toBe(true)
  })
})

describe("failed-attempt limit (TestClock)", () => {
  it.effect("10 failures in 60 s lock the address for 5 minutes, then it may try again", () =>
    Effect.gen(function* () {
      const auth = yield* Auth
      for (let i = 0; i < 9; i++) expect(code(yield* Effect.flip(auth.authenticate(remote("bad"))))).toBe("AUTH_TOKEN_MISMATCH")
      const tenth = yield* Effect.flip(auth.authenticate(remote("bad")))
      expect(code(tenth)).toBe("AUTH_RATE_LIMITED")
      expect(tenth.retryAfterMs).toBe(300_000)
      yield* TestClock.adjust("4 minutes")
      const still = yield* Effect.flip(auth.authenticate(remote("good-token")))
      expect(still.retryAfterMs).toBe(60_000)
      // Other addresses are unaffected.
      expect(yield* auth.authenticate(remote("good-token", "203.0.113.8"))).toMatchObject({ method: "token" })
      yield* TestClock.adjust("61 seconds")
      expect(yield* auth.authenticate(remote("good-token"))).toMatchObject({ method: "token" })
    }).pipe(Effect.provide(layer({ gateway: { auth: { token: "good-token" } } })))
  )

  it.effect("failures older than the window are forgotten; missing credentials never count", () =>
    Effect.gen(function* () {
      const auth = yield* Auth
      for (let i = 0; i < 9; i++) yield* Effect.flip(auth.authenticate(remote("bad")))
      yield* TestClock.adjust("61 seconds")
      for (let i = 0; i < 9; i++) expect(code(yield* Effect.flip(auth.authenticate(remote("bad"))))).toBe("AUTH_TOKEN_MISMATCH")
      for (let i = 0; i < 20; i++) expect(code(yield* Effect.flip(auth.authenticate(remote(undefined))))).toBe("AUTH_TOKEN_MISSING")
      expect(yield* auth.authenticate(remote("good-token"))).toMatchObject({ method: "token" })
    }).pipe(Effect.provide(layer({ gateway: { auth: { token: "good-token" } } })))
  )

  it.effect("the limit is configurable under gateway.auth.rateLimit", () =>
    Effect.gen(function* () {
      const auth = yield* Auth
      yield* Effect.flip(auth.authenticate(remote("bad")))
      const second = yield* Effect.flip(auth.authenticate(remote("bad")))
      expect(second).toMatchObject({ code: "INVALID_REQUEST", retryAfterMs: 1000 })
    }).pipe(Effect.provide(layer({ gateway: { auth: { token: "t0k3n", rateLimit: { maxAttempts: 2, lockoutMs: 1000 } } } })))
  )

  it.effect("auth mode none accepts anyone (only ever allowed on a loopback bind)", () =>
    Effect.gen(function* () {
      const auth = yield* Auth
      expect(yield* auth.authenticate(remote(undefined))).toEqual({ method: "none" })
    }).pipe(Effect.provide(layer({ gateway: { auth: { mode: "none" } } })))
  )
})
