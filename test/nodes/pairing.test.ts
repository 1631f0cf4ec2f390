import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { connectParams, handshake } from "../support/ws.js"
import { deviceHandshake, makeTestDevice, nodeParams } from "../support/device.js"
import { startGateway, TOKEN } from "../support/gateway.js"

const pairingConfig = { gateway: { auth: { token: TOKEN }, nodes: { pairing: { autoApproveLocal: false } } } }
const admin = connectParams({ auth: { token: TOKEN }, scopes: ["operator.admin"] })

describe("device identity in connect", () => {
  it.scopedLive("a valid proof connects; forged, replayed, expired and mismatched proofs each get their own code and 1008", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const device = makeTestDevice()
      const ok = yield* deviceHandshake(gw.url, device, nodeParams(TOKEN))
      expect(ok.res.ok).toBe(true)
      expect(ok.res.payload.auth.deviceToken).toMatch(/^[A-Za-z0-9_-]{43}$/)

      const cases: Array<[string, Parameters<typeof deviceHandshake>[3], string]> = [
        [
          "forged signature",
          { tamper: (p) => ({ ...p, signature: makeTestDevice().sign("something else") }) },
          "DEVICE_AUTH_SIGNATURE_INVALID"
        ],
        ["replayed nonce", { nonce: "00000000-0000-4000-8000-000000000000" }, "DEVICE_AUTH_NONCE_MISMATCH"],
        ["expired signedAt", { signedAt: Date.now() - 3 * 60_000 }, "DEVICE_AUTH_SIGNATURE_EXPIRED"],
        ["future signedAt", { signedAt: Date.now() + 3 * 60_000 }, "DEVICE_AUTH_SIGNATURE_EXPIRED"],
        ["id not matching the key", { tamper: (p) => ({ ...p, id: makeTestDevice().deviceId }) }, "DEVICE_AUTH_DEVICE_ID_MISMATCH"],
        ["key of another device", { tamper: (p) => ({ ...p, publicKey: makeTestDevice().publicKey }) }, "DEVICE_AUTH_DEVICE_ID_MISMATCH"]
      ]
      for (const [name, options, code] of cases) {
        const { peer, res } = yield* deviceHandshake(gw.url, device, nodeParams(TOKEN), options)
        expect([name, res.error?.code, res.error?.details?.code]).toEqual([name, "INVALID_REQUEST", code])
        expect((yield* Effect.promise(() => peer.closed)).code).toBe(1008)
      }
      // A proof signed for one connection does not work on another (the nonce is per connection).
      const first = yield* handshake(gw.url, connectParams())
      void first
    })
  )

  it.scopedLive("a node without a device identity is refused with DEVICE_IDENTITY_REQUIRED", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer, res } = yield* handshake(gw.url, nodeParams(TOKEN))
      expect(res.error).toMatchObject({ code: "NOT_PAIRED", details: { code: "DEVICE_IDENTITY_REQUIRED" } })
      expect((yield* Effect.promise(() => peer.closed)).code).toBe(1008)
    })
  )
})

describe("pairing", () => {
  it.scopedLive("an unknown device waits for approval; operators see device.pair.requested; approval issues a device token", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway(pairingConfig)
      const op = yield* handshake(gw.url, admin)
      const device = makeTestDevice()
      const first = yield* deviceHandshake(gw.url, device, nodeParams(TOKEN))
      expect(first.res.error).toMatchObject({
        code: "NOT_PAIRED",
        message: "pairing required: device is not approved yet",
        details: { code: "PAIRING_REQUIRED", reason: "not-paired", deviceId: device.deviceId, requestedRole: "node" }
      })
      const requestId = first.res.error!.details.requestId
      expect((yield* Effect.promise(() => first.peer.closed)).code).toBe(1008)
      const event = yield* Effect.promise(() => op.peer.waitFor((f) => f.event === "device.pair.requested"))
      expect(event.payload).toMatchObject({ requestId, deviceId: device.deviceId, role: "node", clientId: "node-host" })

      // Retrying while pending reuses the same request.
      const again = yield* deviceHandshake(gw.url, device, nodeParams(TOKEN))
      expect(again.res.error?.details?.requestId).toBe(requestId)

      const list = yield* Effect.promise(() => op.peer.call("device.pair.list"))
      expect(list.payload.pending.map((r: any) => r.requestId)).toEqual([requestId])
      const approved = yield* Effect.promise(() => op.peer.call("device.pair.approve", { requestId }))
      expect(approved.payload).toMatchObject({ requestId, device: { deviceId: device.deviceId, roles: ["node"], approvedVia: "owner" } })
      yield* Effect.promise(() => op.peer.waitFor((f) => f.event === "device.pair.resolved" && f.payload.decision === "approved"))

      const ok = yield* deviceHandshake(gw.url, device, nodeParams(TOKEN))
      expect(ok.res.ok).toBe(true)
      const deviceToken = ok.res.payload.auth.deviceToken
      expect(deviceToken).toMatch(/^[A-Za-z0-9_-]{43}$/)
      yield* Effect.sync(() => ok.peer.ws.close())

      // The device token alone now works, instead of the shared token.
      const withToken = yield* deviceHandshake(gw.url, device, nodeParams("", { auth: { deviceToken } }))
      expect(withToken.res.payload.auth).toMatchObject({ method: "device-token", role: "node" })
      expect(withToken.res.payload.auth.deviceToken).toBeUndefined()
      const unknown = yield* Effect.promise(() => op.peer.call("device.pair.approve", { requestId }))
      expect(unknown.error?.message).toBe("unknown requestId")
    })
  )

  it.scopedLive("rejection, and a device can never obtain a role or scope its pairing did not grant", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway(pairingConfig)
      const op = yield* handshake(gw.url, admin)
      const device = makeTestDevice()
      const first = yield* deviceHandshake(gw.url, device, connectParams({ auth: { token: TOKEN }, scopes: ["operator.read"] }))
      const requestId = first.res.error!.details.requestId
      const rejected = yield* Effect.promise(() => op.peer.call("device.pair.reject", { requestId }))
      expect(rejected.payload).toEqual({ requestId, deviceId: device.deviceId })
      const next = yield* deviceHandshake(gw.url, device, connectParams({ auth: { token: TOKEN }, scopes: ["operator.read"] }))
      expect(next.res.error?.details?.reason).toBe("not-paired")
      expect(next.res.error?.details?.requestId).not.toBe(requestId)
      yield* Effect.promise(() => op.peer.call("device.pair.approve", { requestId: next.res.error!.details.requestId }))

      const read = yield* deviceHandshake(gw.url, device, connectParams({ auth: { token: TOKEN }, scopes: ["operator.read"] }))
      expect(read.res.payload.auth.scopes).toEqual(["operator.read"])
      const deviceToken = read.res.payload.auth.deviceToken

      // More scopes with the shared token: a scope-upgrade request, not a grant.
      const more = yield* deviceHandshake(gw.url, device, connectParams({ auth: { token: TOKEN }, scopes: ["operator.admin"] }))
      expect(more.res.error?.details).toMatchObject({
        code: "PAIRING_REQUIRED",
        reason: "scope-upgrade",
        approvedScopes: ["operator.read"]
      })
      // More scopes with the device token: refused outright.
      const viaToken = yield* deviceHandshake(gw.url, device, connectParams({ auth: { deviceToken }, scopes: ["operator.admin"] }))
      expect(viaToken.res.error?.details?.code).toBe("AUTH_SCOPE_MISMATCH")
      // Another role: a role-upgrade request.
      const asNode = yield* deviceHandshake(gw.url, device, nodeParams(TOKEN))
      expect(asNode.res.error?.details?.reason).toBe("role-upgrade")
    })
  )

  it.scopedLive("local devices are approved silently by default", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const device = makeTestDevice()
      const { res } = yield* deviceHandshake(gw.url, device, connectParams({ auth: { token: TOKEN }, scopes: ["operator.read"] }))
      expect(res.ok).toBe(true)
      const op = yield* handshake(gw.url, admin)
      const list = yield* Effect.promise(() => op.peer.call("device.pair.list"))
      expect(list.payload.paired).toEqual([
        expect.objectContaining({ deviceId: device.deviceId, approvedVia: "silent", roles: ["operator"], connected: true })
      ])
      expect(JSON.stringify(list.payload)).not.toContain(res.payload.auth.deviceToken)
    })
  )

  it.scopedLive("revoke and remove disconnect the device at once (4001), and its old token stops working", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const op = yield* handshake(gw.url, admin)
      const device = makeTestDevice()
      const node = yield* deviceHandshake(gw.url, device, nodeParams(TOKEN))
      const deviceToken = node.res.payload.auth.deviceToken
      const revoked = yield* Effect.promise(() => op.peer.call("device.token.revoke", { deviceId: device.deviceId, role: "node" }))
      expect(revoked.payload).toMatchObject({ deviceId: device.deviceId, role: "node" })
      expect(yield* Effect.promise(() => node.peer.closed)).toEqual({ code: 4001, reason: "device token revoked" })
      const old = yield* deviceHandshake(gw.url, device, nodeParams("", { auth: { deviceToken } }))
      expect(old.res.error?.details?.code).toBe("AUTH_DEVICE_TOKEN_MISMATCH")

      const other = makeTestDevice()
      const second = yield* deviceHandshake(gw.url, other, nodeParams(TOKEN))
      const otherToken = second.res.payload.auth.deviceToken
      const removed = yield* Effect.promise(() => op.peer.call("device.pair.remove", { deviceId: other.deviceId }))
      expect(removed.payload).toEqual({ deviceId: other.deviceId })
      expect(yield* Effect.promise(() => second.peer.closed)).toEqual({ code: 4001, reason: "device removed" })
      const gone = yield* deviceHandshake(gw.url, other, nodeParams("", { auth: { deviceToken: otherToken } }))
      expect(gone.res.error?.details?.code).toBe("AUTH_DEVICE_TOKEN_MISMATCH")
    })
  )

  it.scopedLive("rotate issues a new token (handed only to the device itself) and closes the old session", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const op = yield* handshake(gw.url, admin)
      const device = makeTestDevice()
      const node = yield* deviceHandshake(gw.url, device, nodeParams(TOKEN))
      const before = node.res.payload.auth.deviceToken
      const rotated = yield* Effect.promise(() => op.peer.call("device.token.rotate", { deviceId: device.deviceId, role: "node" }))
      expect(rotated.payload).toMatchObject({ deviceId: device.deviceId, role: "node", tokenDelivery: "withheld-cross-device" })
      expect(rotated.payload.token).toBeUndefined()
      expect((yield* Effect.promise(() => node.peer.closed)).code).toBe(4001)
      const old = yield* deviceHandshake(gw.url, device, nodeParams("", { auth: { deviceToken: before } }))
      expect(old.res.error?.details?.code).toBe("AUTH_DEVICE_TOKEN_MISMATCH")
    })
  )

  it.scopedLive("paired devices and tokens survive a restart", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const gw = yield* startGateway().pipe(Scope.extend(scope))
      const device = makeTestDevice()
      const first = yield* deviceHandshake(gw.url, device, nodeParams(TOKEN)).pipe(Scope.extend(scope))
      const deviceToken = first.res.payload.auth.deviceToken
      // Keep the state dir: copy it out before the scope removes it.
      const keep = yield* Effect.promise(() => fs.mkdtemp(path.join(gw.stateDir, "..", "clawgate-keep-")))
      yield* Effect.addFinalizer(() => Effect.promise(() => fs.rm(keep, { recursive: true, force: true })))
      yield* Effect.promise(() => fs.cp(gw.stateDir, keep, { recursive: true }))
      yield* Scope.close(scope, Exit.void)
      const { GatewayLive } = yield* Effect.promise(() => import("../../src/layers/Gateway.js"))
      const { GatewayServer } = yield* Effect.promise(() => import("../../src/services/GatewayServer.js"))
      const { Context, Layer } = yield* Effect.promise(() => import("effect"))
      const ctx = yield* Layer.build(GatewayLive({ console: false, flags: { port: 0 } }, { CLAWGATE_STATE_DIR: keep }))
      const url = Context.get(ctx, GatewayServer).url
      const again = yield* deviceHandshake(url, device, nodeParams("", { auth: { deviceToken } }))
      expect(again.res.payload.auth).toMatchObject({ method: "device-token", role: "node" })
      expect((yield* Effect.promise(() => fs.stat(path.join(keep, "clawgate.sqlite")))).mode & 0o777).toBe(0o600)
    })
  )
})
