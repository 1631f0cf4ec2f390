/**
 * Admission without a socket: the service the transport calls once per
 * connect, on the real Auth and the real device store (an in-memory SQLite),
 * fed the connect params, the peer's address facts and the nonce directly
 * (test/support/admission.ts).
 */
import { randomUUID } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { tailscaleClaim } from "../../src/config/clientAddress.js"
import type { TailscaleTestCalls } from "../../src/layers/TailscaleTest.js"
import type { PeerFacts } from "../../src/services/Admission.js"
import { Devices } from "../../src/services/Devices.js"
import { ADMISSION_TOKEN, admissionLayer, admit, admitDevice, LOCAL, operator, REMOTE } from "../support/admission.js"
import { makeTestDevice, signed, type TestDevice } from "../support/device.js"

const TOKEN = ADMISSION_TOKEN
const ADMIN = { scopes: ["operator.admin"] }

/** The remote device asks to pair; the owner approves; returns the request id. */
const pair = (device: TestDevice, scopes: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const refused = yield* Effect.flip(admitDevice(device, operator({ token: TOKEN }, scopes), REMOTE))
    const requestId = (refused.details as { requestId: string }).requestId
    yield* Effect.flatMap(Devices, (d) => d.approve(requestId, ADMIN))
    return requestId
  })

describe("Admission: the shared secret", () => {
  it.effect("a wrong token is refused with AUTH_TOKEN_MISMATCH", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(admit(operator({ token: "wrong" }), REMOTE))
      expect(error.code).toBe("INVALID_REQUEST")
      expect(error.detailCode).toBe("AUTH_TOKEN_MISMATCH")
      const missing = yield* Effect.flip(admit(operator(undefined), REMOTE))
      expect(missing.detailCode).toBe("AUTH_TOKEN_MISSING")
    }).pipe(Effect.provide(admissionLayer()))
  )

  it.effect("the right token admits: operator scopes for a local client, none for a remote one without a device", () =>
    Effect.gen(function* () {
      const local = yield* admit(operator({ token: TOKEN }, ["operator.read", "operator.write", "operator.bogus"]), LOCAL)
      expect(local).toMatchObject({ method: "token", scopes: ["operator.read", "operator.write"], credential: { kind: "token" } })
      expect(local.deviceId).toBeUndefined()
      const remote = yield* admit(operator({ token: TOKEN }, ["operator.admin"]), REMOTE)
      expect(remote).toMatchObject({ method: "token", scopes: [] })
    }).pipe(Effect.provide(admissionLayer()))
  )
})

describe("Admission: devices", () => {
  it.effect("a device proof with a bad signature is refused before any credential is looked at", () =>
    Effect.gen(function* () {
      const device = makeTestDevice()
      const nonce = randomUUID()
      const raw = signed(device, operator({ token: TOKEN }), nonce, (p) => ({ ...p, signature: makeTestDevice().sign("something else") }))
      const error = yield* Effect.flip(admit(raw, REMOTE, nonce))
      expect(error.detailCode).toBe("DEVICE_AUTH_SIGNATURE_INVALID")
      // A proof signed for another challenge is refused too.
      const stale = yield* Effect.flip(admit(signed(device, operator({ token: TOKEN }), randomUUID()), REMOTE, nonce))
      expect(stale.detailCode).toBe("DEVICE_AUTH_NONCE_MISMATCH")
    }).pipe(Effect.provide(admissionLayer()))
  )

  it.effect("a node without a device identity is refused", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        admit(
          { ...operator({ token: TOKEN }, []), role: "node", client: { id: "n", version: "1", platform: "linux", mode: "node" } },
          LOCAL
        )
      )
      expect(error).toMatchObject({ code: "NOT_PAIRED", details: { code: "DEVICE_IDENTITY_REQUIRED" } })
    }).pipe(Effect.provide(admissionLayer()))
  )

  it.effect("an unpaired remote device gets NOT_PAIRED and a pairing request waits for the owner", () =>
    Effect.gen(function* () {
      const device = makeTestDevice()
      const error = yield* Effect.flip(admitDevice(device, operator({ token: TOKEN }, ["operator.read"]), REMOTE))
      expect(error).toMatchObject({ code: "NOT_PAIRED", details: { code: "PAIRING_REQUIRED" } })
      const requestId = (error.details as { requestId: string }).requestId
      const { pending, paired } = yield* Effect.flatMap(Devices, (d) => d.list)
      expect(paired).toHaveLength(0)
      expect(pending).toHaveLength(1)
      expect(pending[0]).toMatchObject({
        requestId,
        deviceId: device.deviceId,
        role: "operator",
        scopes: ["operator.read"],
        reason: "not-paired"
      })
    }).pipe(Effect.provide(admissionLayer()))
  )

  it.effect("a paired device gets what it asked for cut down to what it was granted, never more", () =>
    Effect.gen(function* () {
      const device = makeTestDevice()
      yield* pair(device, ["operator.read"])
      const admitted = yield* admitDevice(device, operator({ token: TOKEN }, ["operator.read", "operator.bogus"]), REMOTE)
      expect(admitted).toMatchObject({ method: "token", deviceId: device.deviceId, scopes: ["operator.read"] })
      // The first connect after approval is issued the device's token.
      expect(typeof admitted.deviceToken).toBe("string")
      // Asking beyond the pairing is a scope upgrade for the owner to approve, not a grant.
      const upgrade = yield* Effect.flip(admitDevice(device, operator({ token: TOKEN }, ["operator.read", "operator.admin"]), REMOTE))
      expect(upgrade).toMatchObject({ code: "NOT_PAIRED", details: { code: "PAIRING_REQUIRED" } })
      const { pending } = yield* Effect.flatMap(Devices, (d) => d.list)
      expect(pending.map((r) => r.reason)).toEqual(["scope-upgrade"])
    }).pipe(Effect.provide(admissionLayer()))
  )

  it.effect("a device token admits its device; once rotated, the old one is refused", () =>
    Effect.gen(function* () {
      const device = makeTestDevice()
      yield* pair(device, ["operator.read", "operator.write"])
      const first = yield* admitDevice(device, operator({ token: TOKEN }, ["operator.read"]), REMOTE)
      const deviceToken = first.deviceToken
      if (deviceToken === undefined) return yield* Effect.dieMessage("no device token issued")
      const byToken = yield* admitDevice(device, operator({ deviceToken }, ["operator.read", "operator.write"]), REMOTE)
      expect(byToken).toMatchObject({ method: "device-token", deviceId: device.deviceId, scopes: ["operator.read", "operator.write"] })
      expect(byToken.credential).toBeUndefined()
      // Another device cannot use it.
      const other = yield* Effect.flip(admitDevice(makeTestDevice(), operator({ deviceToken }), REMOTE))
      expect(other.detailCode).toBe("AUTH_DEVICE_TOKEN_MISMATCH")
      yield* Effect.flatMap(Devices, (d) => d.rotate(device.deviceId, "operator", undefined, ADMIN))
      const refused = yield* Effect.flip(admitDevice(device, operator({ deviceToken }), REMOTE))
      expect(refused.detailCode).toBe("AUTH_DEVICE_TOKEN_MISMATCH")
    }).pipe(Effect.provide(admissionLayer()))
  )
})

describe("Admission: Tailscale identity", () => {
  const serveHeaders = {
    "x-forwarded-for": "100.64.0.5",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "gw.tailnet.ts.net",
    "tailscale-user-login": "alice@example.com"
  }
  /** As the upgrade sees a request from Tailscale's proxy on loopback. */
  const viaTailscale = (headers: Record<string, string>): PeerFacts => ({
    ip: "100.64.0.5",
    isLoopback: false,
    forwarded: true,
    hasOrigin: false,
    local: false,
    tailscale: tailscaleClaim("127.0.0.1", headers)
  })

  it.effect("through Serve, a login that whois confirms stands in for the shared secret (and is never local)", () => {
    const record: TailscaleTestCalls = { calls: [] }
    return Effect.gen(function* () {
      const admitted = yield* admit(operator(undefined, ["operator.admin"]), viaTailscale(serveHeaders))
      expect(admitted).toMatchObject({ method: "tailscale", user: "alice@example.com", scopes: [], credential: { kind: "tailscale" } })
      expect(record.calls).toEqual(["whois 100.64.0.5"])
    }).pipe(
      Effect.provide(
        admissionLayer(
          { gateway: { auth: { token: TOKEN, allowTailscale: true }, tailscale: { mode: "serve" } } },
          { logins: { "100.64.0.5": "alice@example.com" }, record }
        )
      )
    )
  })

  it.effect("a Funnel request never gets a Tailscale login, whatever its headers say", () => {
    const record: TailscaleTestCalls = { calls: [] }
    const funnelHeaders = { ...serveHeaders, "tailscale-funnel-request": "?1" }
    return Effect.gen(function* () {
      // Under Serve with allowTailscale: Funnel's header makes the claim a refusal, checked with nobody.
      const viaFunnel = yield* Effect.flip(admit(operator(undefined), viaTailscale(funnelHeaders)))
      expect(viaFunnel.detailCode).toBe("AUTH_TAILSCALE_NOT_SERVE")
      expect(record.calls).toEqual([])
    }).pipe(
      Effect.provide(
        admissionLayer(
          { gateway: { auth: { token: TOKEN, allowTailscale: true }, tailscale: { mode: "serve" } } },
          { logins: { "100.64.0.5": "alice@example.com" }, record }
        )
      )
    )
  })

  it.effect("with gateway.tailscale.mode funnel, even a well-formed claim needs the password", () => {
    const record: TailscaleTestCalls = { calls: [] }
    return Effect.gen(function* () {
      const error = yield* Effect.flip(admit(operator(undefined), viaTailscale(serveHeaders)))
      expect(error.detailCode).toBe("AUTH_PASSWORD_MISSING")
      expect(record.calls).toEqual([])
      const admitted = yield* admit(operator({ password: "funnel-password-0123" }), viaTailscale(serveHeaders))
      expect(admitted).toMatchObject({ method: "password", credential: { kind: "password" } })
      expect(admitted.user).toBeUndefined()
      expect(record.calls).toEqual([])
    }).pipe(
      Effect.provide(
        admissionLayer(
          {
            gateway: { auth: { mode: "password", password: "funnel-password-0123", allowTailscale: true }, tailscale: { mode: "funnel" } }
          },
          { logins: { "100.64.0.5": "alice@example.com" }, record }
        )
      )
    )
  })
})
