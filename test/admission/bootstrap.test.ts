/**
 * One-time dashboard codes (`auth.bootstrapToken`): the store on its own and
 * admission with codes, on the real Auth and device store, the Clock a
 * TestClock. A code is used once, expires after 10 minutes, never grants more
 * than its issuer holds, needs a signed device, and a bad one counts towards
 * the failure limit.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Exit, Option, Queue, TestClock } from "effect"
import { type ClawgateConfig, validateConfig } from "../../src/config/schema.js"
import { makeBootstrapCodesMemory } from "../../src/layers/admission/BootstrapCodesMemory.js"
import { makeDispatcher } from "../../src/layers/DispatcherLive.js"
import { controlUiBasePath, dashboardMethods } from "../../src/layers/methods/dashboard.js"
import { BootstrapCodes, MAX_OUTSTANDING_CODES } from "../../src/services/BootstrapCodes.js"
import { Devices } from "../../src/services/Devices.js"
import { EventBus } from "../../src/services/EventBus.js"
import { ADMISSION_TOKEN, admissionLayer, admit, admitDevice, operator, REMOTE } from "../support/admission.js"
import { makeTestDevice } from "../support/device.js"

const TEN_MINUTES = 600_000
const EVERYTHING = ["operator.admin", "operator.read", "operator.write", "operator.pairing", "operator.approvals"]
/** A browser's connect with a code: no shared secret, the scopes it would like. */
const withCode = (code: string, scopes: ReadonlyArray<string> = EVERYTHING) => ({
  ...operator({ bootstrapToken: code }, scopes),
  client: { id: "clawgate-control-ui", version: "1.0.0", platform: "web", mode: "webchat" }
})

/** Mints a code through the method, as a caller holding `held` would. */
const issueAs = (held: ReadonlyArray<string>, params: Record<string, unknown> = {}) =>
  Effect.gen(function* () {
    const dispatcher = makeDispatcher(yield* dashboardMethods)
    const ctx = { connId: "c-issuer", role: "operator" as const, scopes: held, clientIp: "127.0.0.1", interim: () => Effect.void }
    return (yield* dispatcher.dispatch(ctx, "device.bootstrap.issue", params)) as {
      token: string
      expiresAtMs: number
      scopes: Array<string>
      basePath: string
    }
  })

describe("the code store", () => {
  it.effect("a code is 32 random bytes, works once, and expires 10 minutes after it was issued", () =>
    Effect.gen(function* () {
      const store = makeBootstrapCodesMemory()
      const a = yield* store.issue({ scopes: ["operator.read"] })
      expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(a.expiresAtMs).toBe(TEN_MINUTES)
      const b = yield* store.issue({ scopes: ["operator.read"] })
      expect(b.token).not.toBe(a.token)
      expect(yield* store.outstanding).toBe(2)

      expect(Option.getOrThrow(yield* store.consume(a.token)).scopes).toEqual(["operator.read"])
      expect(Option.isNone(yield* store.consume(a.token))).toBe(true)
      expect(Option.isNone(yield* store.consume("not-a-code"))).toBe(true)

      // b: still good a moment before its 10 minutes are up, and not at them.
      const c = yield* store.issue({ scopes: ["operator.read"] })
      yield* TestClock.adjust(TEN_MINUTES - 1)
      expect(Option.isSome(yield* store.consume(b.token))).toBe(true)
      yield* TestClock.adjust(1)
      expect(Option.isNone(yield* store.consume(c.token))).toBe(true)
      expect(yield* store.outstanding).toBe(0)
    })
  )

  it.effect(`at most ${MAX_OUTSTANDING_CODES} wait at once: one more pushes out the oldest`, () =>
    Effect.gen(function* () {
      const store = makeBootstrapCodesMemory()
      const issued = yield* Effect.forEach(Array.from({ length: MAX_OUTSTANDING_CODES + 1 }), () => store.issue({ scopes: [] }))
      expect(yield* store.outstanding).toBe(MAX_OUTSTANDING_CODES)
      expect(Option.isNone(yield* store.consume(issued[0]!.token))).toBe(true)
      expect(Option.isSome(yield* store.consume(issued[1]!.token))).toBe(true)
      expect(Option.isSome(yield* store.consume(issued[MAX_OUTSTANDING_CODES]!.token))).toBe(true)
    })
  )
})

describe("device.bootstrap.issue", () => {
  it.effect("grants what was asked for within what the caller holds (default: all it holds), never more", () =>
    Effect.gen(function* () {
      const admin = yield* issueAs(["operator.admin"])
      expect(admin).toMatchObject({ scopes: ["operator.admin"], basePath: "/", expiresAtMs: TEN_MINUTES })
      // A caller that may only pair cannot hand out admin: the code grants what it holds.
      const pairingOnly = yield* issueAs(["operator.pairing"], { scopes: ["operator.admin", "operator.pairing"] })
      expect(pairingOnly.scopes).toEqual(["operator.pairing"])
      const nothing = yield* Effect.flip(issueAs(["operator.pairing"], { scopes: ["operator.admin"] }))
      expect(nothing).toMatchObject({ code: "INVALID_REQUEST", details: { code: "MISSING_SCOPE" } })
      expect(nothing.message).toContain("holds operator.pairing")
      // Without operator.pairing (or admin) the method is not for the caller at all.
      const denied = yield* Effect.flip(issueAs(["operator.read", "operator.write"]))
      expect(denied).toMatchObject({ code: "FORBIDDEN", details: { code: "MISSING_SCOPE", missingScope: "operator.pairing" } })
      // Bounded params: a label past 128 characters is refused, naming the field.
      const long = yield* Effect.flip(issueAs(["operator.admin"], { label: "x".repeat(129) }))
      expect(long.message).toContain("label")
    }).pipe(Effect.provide(admissionLayer()))
  )

  it("a basePath becomes the link's path with a trailing slash (as the UI is served); unset, it is /", () => {
    const cfg = (basePath: unknown) => ({ gateway: { controlUi: { basePath } } }) as unknown as ClawgateConfig
    expect(controlUiBasePath({})).toBe("/")
    expect(controlUiBasePath(cfg("/"))).toBe("/")
    expect(controlUiBasePath(cfg("/ui"))).toBe("/ui/")
    expect(controlUiBasePath(cfg("/a/b/"))).toBe("/a/b/")
  })

  // gateway.controlUi.basePath is the Control UI serving's key (its own branch of issue 11): tested once it is in the schema.
  const withBasePath = { gateway: { auth: { token: ADMISSION_TOKEN }, controlUi: { basePath: "/ui" } } }
  it.effect.skipIf(Either.isLeft(validateConfig(withBasePath)))("the link's path is gateway.controlUi.basePath, with its slash", () =>
    Effect.gen(function* () {
      expect((yield* issueAs(["operator.admin"])).basePath).toBe("/ui/")
    }).pipe(Effect.provide(admissionLayer(withBasePath)))
  )
})

describe("Admission with a dashboard code", () => {
  it.scoped("pairs the browser's device once, returns its device token, and tells every operator", () =>
    Effect.gen(function* () {
      const events = yield* Effect.flatMap(EventBus, (b) => b.subscribe)
      const { token } = yield* issueAs(["operator.admin"])
      const browser = makeTestDevice()
      const admitted = yield* admitDevice(browser, withCode(token), REMOTE)
      expect(admitted).toMatchObject({ method: "bootstrap-token", deviceId: browser.deviceId, scopes: EVERYTHING })
      expect(admitted.credential).toBeUndefined()
      const deviceToken = admitted.deviceToken
      if (deviceToken === undefined) return yield* Effect.dieMessage("no device token in the answer")

      const { paired, pending } = yield* Effect.flatMap(Devices, (d) => d.list)
      expect(pending).toEqual([])
      expect(paired).toHaveLength(1)
      expect(paired[0]).toMatchObject({ deviceId: browser.deviceId, roles: ["operator"], approvedVia: "owner" })
      expect([...paired[0]!.scopes].sort()).toEqual([...EVERYTHING].sort())
      const resolved = Chunk.toArray(yield* Queue.takeAll(events)).filter((e) => e.event === "device.pair.resolved")
      expect(resolved).toHaveLength(1)
      expect(resolved[0]!.payload).toMatchObject({ deviceId: browser.deviceId, decision: "approved" })

      // From now on the browser connects with its device token.
      const again = yield* admitDevice(browser, operator({ deviceToken }, EVERYTHING), REMOTE)
      expect(again).toMatchObject({ method: "device-token", deviceId: browser.deviceId, scopes: EVERYTHING })

      // The code itself is spent: refused, for this browser and any other, with what to do.
      const reused = yield* Effect.flip(admitDevice(makeTestDevice(), withCode(token), REMOTE))
      expect(reused).toMatchObject({ code: "INVALID_REQUEST", details: { code: "AUTH_BOOTSTRAP_TOKEN_INVALID" } })
      expect(reused.message).toContain("run `clawgate dashboard` again")
    }).pipe(Effect.provide(admissionLayer()))
  )

  it.effect("a code waits 10 minutes on the Clock, not more", () =>
    Effect.gen(function* () {
      const early = yield* issueAs(["operator.admin"])
      const late = yield* issueAs(["operator.admin"])
      yield* TestClock.adjust(TEN_MINUTES - 1)
      expect((yield* admitDevice(makeTestDevice(), withCode(early.token), REMOTE)).method).toBe("bootstrap-token")
      yield* TestClock.adjust(1)
      const expired = yield* Effect.flip(admitDevice(makeTestDevice(), withCode(late.token), REMOTE))
      expect(expired.detailCode).toBe("AUTH_BOOTSTRAP_TOKEN_INVALID")
    }).pipe(Effect.provide(admissionLayer()))
  )

  it.effect("two connects racing with one code: exactly one is paired", () =>
    Effect.gen(function* () {
      const { token } = yield* issueAs(["operator.admin"])
      const [a, b] = [makeTestDevice(), makeTestDevice()]
      const exits = yield* Effect.all(
        [a, b].map((d) => Effect.exit(admitDevice(d, withCode(token), REMOTE))),
        { concurrency: "unbounded" }
      )
      expect(exits.filter(Exit.isSuccess)).toHaveLength(1)
      const lost = exits.find(Exit.isFailure)
      expect(lost && Exit.isFailure(lost) ? JSON.stringify(lost.cause) : "").toContain("AUTH_BOOTSTRAP_TOKEN_INVALID")
      const { paired } = yield* Effect.flatMap(Devices, (d) => d.list)
      expect(paired).toHaveLength(1)
    }).pipe(Effect.provide(admissionLayer()))
  )

  it.effect("a code from a caller that may only pair cannot make a browser an admin", () =>
    Effect.gen(function* () {
      const { token, scopes } = yield* issueAs(["operator.pairing"], { scopes: EVERYTHING })
      expect(scopes).toEqual(["operator.pairing"])
      const browser = makeTestDevice()
      const admitted = yield* admitDevice(browser, withCode(token), REMOTE)
      expect(admitted.scopes).toEqual(["operator.pairing"])
      const device = yield* Effect.flatMap(Devices, (d) => d.get(browser.deviceId))
      expect(device?.scopes).toEqual(["operator.pairing"])
      // Its token does not cover admin either: asking for it is refused.
      const deviceToken = admitted.deviceToken ?? ""
      const asAdmin = yield* Effect.flip(admitDevice(browser, operator({ deviceToken }, ["operator.admin"]), REMOTE))
      expect(asAdmin.detailCode).toBe("AUTH_SCOPE_MISMATCH")
    }).pipe(Effect.provide(admissionLayer()))
  )

  it.effect("the code is narrowed further by what the connect asks for", () =>
    Effect.gen(function* () {
      const { token } = yield* issueAs(["operator.admin"])
      const browser = makeTestDevice()
      const admitted = yield* admitDevice(browser, withCode(token, ["operator.read", "operator.bogus"]), REMOTE)
      expect(admitted.scopes).toEqual(["operator.read"])
      expect((yield* Effect.flatMap(Devices, (d) => d.get(browser.deviceId)))?.scopes).toEqual(["operator.read"])
    }).pipe(Effect.provide(admissionLayer()))
  )

  it.effect("a connect without a signed device is refused, and the code is not spent", () =>
    Effect.gen(function* () {
      const { token } = yield* issueAs(["operator.admin"])
      const bare = yield* Effect.flip(admit(withCode(token), REMOTE))
      expect(bare).toMatchObject({ code: "NOT_PAIRED", details: { code: "DEVICE_IDENTITY_REQUIRED" } })
      expect(bare.message).toContain("device identity required")
      // A node cannot use one either.
      const node = yield* Effect.flip(
        admitDevice(
          makeTestDevice(),
          { ...withCode(token, []), role: "node", client: { id: "n", version: "1", platform: "linux", mode: "node" } },
          REMOTE
        )
      )
      expect(node.detailCode).toBe("AUTH_BOOTSTRAP_TOKEN_INVALID")
      expect(node.message).toContain("operator device")
      expect((yield* admitDevice(makeTestDevice(), withCode(token), REMOTE)).method).toBe("bootstrap-token")
    }).pipe(Effect.provide(admissionLayer()))
  )

  it.effect("a used or unknown code counts towards the failure limit like a wrong token, and a locked-out address spends no code", () =>
    Effect.gen(function* () {
      const { token } = yield* issueAs(["operator.admin"])
      yield* admitDevice(makeTestDevice(), withCode(token), REMOTE)
      const first = yield* Effect.flip(admitDevice(makeTestDevice(), withCode(token), REMOTE))
      expect(first.detailCode).toBe("AUTH_BOOTSTRAP_TOKEN_INVALID")
      // The second failure reaches gateway.auth.rateLimit.maxAttempts (2): the address is locked out.
      const second = yield* Effect.flip(admitDevice(makeTestDevice(), withCode("guessed-code"), REMOTE))
      expect(second.detailCode).toBe("AUTH_RATE_LIMITED")
      // Locked out: even a good code is refused, and stays good for when the lockout ends.
      const fresh = yield* issueAs(["operator.admin"])
      const locked = yield* Effect.flip(admitDevice(makeTestDevice(), withCode(fresh.token), REMOTE))
      expect(locked.detailCode).toBe("AUTH_RATE_LIMITED")
      expect(yield* Effect.flatMap(BootstrapCodes, (c) => c.outstanding)).toBe(1)
      // A wrong shared token from another address counts on its own.
      const other = { ...REMOTE, ip: "198.51.100.9" }
      const wrong = yield* Effect.flip(admit(operator({ token: "wrong" }), other))
      expect(wrong.detailCode).toBe("AUTH_TOKEN_MISMATCH")
      const thenCode = yield* Effect.flip(admitDevice(makeTestDevice(), withCode("guessed-code"), other))
      expect(thenCode.detailCode).toBe("AUTH_RATE_LIMITED")
    }).pipe(
      Effect.provide(
        admissionLayer({
          gateway: { auth: { token: ADMISSION_TOKEN, rateLimit: { maxAttempts: 2, windowMs: 60_000, lockoutMs: 300_000 } } }
        })
      )
    )
  )
})
