/**
 * Authorization has no self-service path upward: approvals, token rotation and
 * removal stay within the approver's own scopes; a changed shared secret ends
 * its sessions; scopeless clients see nobody; approval fields need
 * operator.approvals; failed device tokens count; Funnel and forwarded
 * requests get no shortcut.
 */

import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { connectParams, handshake } from "../support/ws.js"
import { deviceHandshake, makeTestDevice, nodeParams, type TestDevice } from "../support/device.js"
import { startGateway, TOKEN, writeConfig } from "../support/gateway.js"
import { runCli } from "../support/cli.js"
import { TailscaleTest } from "../../src/layers/TailscaleTest.js"
import { resolveClientAddress, tailscaleClaim } from "../../src/config/clientAddress.js"

const auth = { auth: { token: TOKEN } }
const manualPairing = { gateway: { auth: { token: TOKEN }, nodes: { pairing: { autoApproveLocal: false } } } }
const owner = connectParams({ ...auth, scopes: ["operator.admin"] })

const operatorAs = (scopes: Array<string>, id = "app") =>
  connectParams({ ...auth, scopes, client: { id, version: "1", platform: "linux", mode: "ui" } })

/** Pairs `device` for `scopes` through an owner's approval; returns a session of the device with those scopes. */
const pairOperator = (url: string, device: TestDevice, scopes: Array<string>) =>
  Effect.gen(function* () {
    const ask = yield* deviceHandshake(url, device, operatorAs(scopes))
    expect(ask.res.error?.details?.code).toBe("PAIRING_REQUIRED")
    const ownerSession = yield* handshake(url, owner)
    const approved = yield* Effect.promise(() =>
      ownerSession.peer.call("device.pair.approve", { requestId: ask.res.error!.details.requestId })
    )
    expect(approved.ok).toBe(true)
    const session = yield* deviceHandshake(url, device, operatorAs(scopes))
    expect(session.res.payload.auth.scopes).toEqual(scopes)
    return session
  })

describe("approvals never reach beyond the approver", () => {
  it.scopedLive("a device with read+pairing cannot approve its own scope upgrade, nor another device's admin request", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway(manualPairing)
      const mallory = makeTestDevice()
      const session = yield* pairOperator(gw.url, mallory, ["operator.read", "operator.pairing"])
      const upgrade = yield* deviceHandshake(gw.url, mallory, operatorAs(["operator.admin"]))
      expect(upgrade.res.error?.details).toMatchObject({ code: "PAIRING_REQUIRED", reason: "scope-upgrade" })
      const self = yield* Effect.promise(() =>
        session.peer.call("device.pair.approve", { requestId: upgrade.res.error!.details.requestId })
      )
      expect(self.error).toMatchObject({ code: "FORBIDDEN", details: { code: "SELF_APPROVAL_FORBIDDEN" } })
      // A second key of the same person is another device, but the approver still does not hold admin.
      const sock = makeTestDevice()
      const other = yield* deviceHandshake(gw.url, sock, operatorAs(["operator.admin"]))
      const cross = yield* Effect.promise(() => session.peer.call("device.pair.approve", { requestId: other.res.error!.details.requestId }))
      expect(cross.error).toMatchObject({
        code: "FORBIDDEN",
        message: expect.stringMatching(/^missing scope: operator\.admin/),
        details: { code: "MISSING_SCOPE", missingScope: "operator.admin" }
      })
      // Both requests are still waiting, and the device is still read+pairing.
      const pending = yield* Effect.promise(() => session.peer.call("device.pair.list"))
      expect(pending.payload.pending.map((r: { deviceId: string }) => r.deviceId).sort()).toEqual([mallory.deviceId, sock.deviceId].sort())
      const again = yield* deviceHandshake(gw.url, mallory, operatorAs(["operator.admin"]))
      expect(again.res.error?.details?.code).toBe("PAIRING_REQUIRED")
      // It may approve what it holds itself: a request for read.
      const reader = makeTestDevice()
      const readReq = yield* deviceHandshake(gw.url, reader, operatorAs(["operator.read"]))
      expect(
        (yield* Effect.promise(() => session.peer.call("device.pair.approve", { requestId: readReq.res.error!.details.requestId }))).ok
      ).toBe(true)
    })
  )

  it.scopedLive("pairing alone cannot rotate, revoke or remove an admin device; the admin device keeps working", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway(manualPairing)
      const admin = makeTestDevice()
      const adminSession = yield* pairOperator(gw.url, admin, ["operator.admin"])
      const deviceToken = adminSession.res.payload.auth.deviceToken as string
      const pairer = yield* pairOperator(gw.url, makeTestDevice(), ["operator.pairing"])
      for (const [method, params] of [
        ["device.token.rotate", { deviceId: admin.deviceId, role: "operator" }],
        ["device.token.revoke", { deviceId: admin.deviceId, role: "operator" }],
        ["device.pair.remove", { deviceId: admin.deviceId }]
      ] as const) {
        const res = yield* Effect.promise(() => pairer.peer.call(method, params))
        expect([method, res.error?.code, res.error?.details?.missingScope]).toEqual([method, "FORBIDDEN", "operator.admin"])
      }
      const back = yield* deviceHandshake(gw.url, admin, { ...operatorAs(["operator.admin"]), auth: { deviceToken } })
      expect(back.res.payload.auth).toMatchObject({ method: "device-token", scopes: ["operator.admin"] })
    })
  )

  it.scopedLive("on the Gateway host, `clawgate devices approve` approves an admin request (the local CLI is the owner)", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway(manualPairing)
      const device = makeTestDevice()
      const ask = yield* deviceHandshake(gw.url, device, operatorAs(["operator.admin"]))
      const requestId = ask.res.error!.details.requestId as string
      const cli = yield* runCli(["devices", "approve", requestId, "--url", gw.url, "--token", TOKEN], { CLAWGATE_STATE_DIR: gw.stateDir })
      expect([cli.code, cli.stdout.trim()]).toEqual([0, `approved ${requestId}: "${device.deviceId}"`])
      expect((yield* deviceHandshake(gw.url, device, operatorAs(["operator.admin"]))).res.payload.auth.scopes).toEqual(["operator.admin"])
    })
  )
})

describe("a changed shared secret ends the sessions that used the old one", () => {
  it.scopedLive("rotating gateway.auth.token closes token sessions within a second (4001); device-token sessions go on", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const withToken = yield* handshake(gw.url, owner)
      const device = makeTestDevice()
      const paired = yield* deviceHandshake(gw.url, device, operatorAs(["operator.read"]))
      const byDevice = yield* deviceHandshake(gw.url, device, {
        ...operatorAs(["operator.read"]),
        auth: { deviceToken: paired.res.payload.auth.deviceToken }
      })
      expect(byDevice.res.payload.auth.method).toBe("device-token")
      const started = Date.now()
      yield* writeConfig(gw.stateDir, { gateway: { auth: { token: "the-new-token-0123456789" } } })
      const closed = yield* Effect.promise(() => withToken.peer.closed)
      expect(Date.now() - started).toBeLessThan(1_500)
      expect(closed).toEqual({ code: 4001, reason: "the gateway token was changed: reconnect with the new credential" })
      expect((yield* Effect.promise(() => paired.peer.closed)).code).toBe(4001)
      expect((yield* Effect.promise(() => byDevice.peer.call("health"))).ok).toBe(true)
      expect((yield* handshake(gw.url, owner)).res.error?.details?.code).toBe("AUTH_TOKEN_MISMATCH")
      expect((yield* handshake(gw.url, connectParams({ auth: { token: "the-new-token-0123456789" } }))).res.ok).toBe(true)
    })
  )

  it.scopedLive("switching to password auth ends the token sessions too", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const session = yield* handshake(gw.url, owner)
      yield* writeConfig(gw.stateDir, { gateway: { auth: { mode: "password", password: "a-long-password-here" } } })
      expect((yield* Effect.promise(() => session.peer.closed)).code).toBe(4001)
    })
  )
})

describe("what a connection sees", () => {
  it.scopedLive("a scopeless client gets no presence, in hello-ok or as events; a reader gets both", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const probe = yield* handshake(
        gw.url,
        connectParams({ ...auth, scopes: [], client: { id: "probe", version: "1", platform: "linux", mode: "probe" } })
      )
      expect(probe.res.payload.snapshot.presence).toEqual([])
      const reader = yield* handshake(gw.url, operatorAs(["operator.read"], "reader"))
      expect(reader.res.payload.snapshot.presence.length).toBeGreaterThanOrEqual(2)
      yield* handshake(gw.url, operatorAs(["operator.read"], "newcomer"))
      yield* Effect.promise(() =>
        reader.peer.waitFor(
          (f) => f.event === "presence" && f.payload.presence.some((p: { clientId: string }) => p.clientId === "newcomer")
        )
      )
      // The broadcast reached every socket before this answer was written: had the probe been sent it, it would be here.
      expect((yield* Effect.promise(() => probe.peer.call("health"))).ok).toBe(true)
      expect(probe.peer.frames.filter((f) => f.event === "presence")).toEqual([])
    })
  )

  it.scopedLive("approval fields in node.invoke params need operator.approvals; they never reach the node otherwise", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const node = yield* deviceHandshake(gw.url, makeTestDevice(), nodeParams(TOKEN, { commands: ["system.run"] }))
      const writer = yield* handshake(gw.url, operatorAs(["operator.write"]))
      const nodeId = (yield* Effect.promise(() => writer.peer.call("node.list"))).payload.nodes[0].nodeId
      for (const fields of [{ approved: true }, { approvalDecision: "allow-always" }, { ApprovalId: "x" }]) {
        const res = yield* Effect.promise(() =>
          writer.peer.call("node.invoke", {
            nodeId,
            command: "system.run",
            idempotencyKey: crypto.randomUUID(),
            params: { command: ["id"], ...fields }
          })
        )
        expect(res.error).toMatchObject({ code: "FORBIDDEN", details: { code: "MISSING_SCOPE", missingScope: "operator.approvals" } })
      }
      const approver = yield* handshake(gw.url, operatorAs(["operator.write", "operator.approvals"]))
      approver.peer.send({
        type: "req",
        id: "ok",
        method: "node.invoke",
        params: { nodeId, command: "system.run", idempotencyKey: "k", params: { command: ["id"], approved: true } }
      })
      const first = yield* Effect.promise(() => node.peer.waitFor((f) => f.event === "node.invoke.request"))
      // The first request the node ever saw is the approver's.
      expect(JSON.parse(first.payload.paramsJSON)).toEqual({ command: ["id"], approved: true })
    })
  )
})

describe("failed credentials and forwarded requests", () => {
  it.scopedLive("wrong device tokens count towards the failure limit like wrong shared tokens", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN, rateLimit: { maxAttempts: 3, exemptLoopback: false } } } })
      const device = makeTestDevice()
      const codes: Array<string> = []
      for (let i = 0; i < 3; i++) {
        const res = (yield* deviceHandshake(gw.url, device, { ...operatorAs(["operator.read"]), auth: { deviceToken: `wrong-${i}` } })).res
        codes.push(res.error?.details?.code)
      }
      expect(codes).toEqual(["AUTH_DEVICE_TOKEN_MISMATCH", "AUTH_DEVICE_TOKEN_MISMATCH", "AUTH_RATE_LIMITED"])
      // The address is locked out for the shared token too.
      expect((yield* handshake(gw.url, owner)).res.error?.details?.code).toBe("AUTH_RATE_LIMITED")
    })
  )

  it("a request marked as coming through Funnel never gets a Tailscale identity", () => {
    const headers = {
      "x-forwarded-for": "100.101.102.103",
      "x-forwarded-proto": "https",
      "x-forwarded-host": "gw.tailnet.ts.net",
      "tailscale-user-login": "alice@example.com",
      "tailscale-funnel-request": "?1"
    }
    expect(tailscaleClaim("127.0.0.1", headers)).toEqual({
      _tag: "Refused",
      reason: "the request came through Tailscale Funnel (the public internet), which carries no identity"
    })
  })

  it.scopedLive("over a socket: a Funnel request with a confirmed login is refused without a token", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway(
        { gateway: { auth: { token: TOKEN, allowTailscale: true }, tailscale: { mode: "serve" } } },
        { tailscale: TailscaleTest({ "100.101.102.103": "alice@example.com" }) }
      )
      const headers = {
        "X-Forwarded-For": "100.101.102.103",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "gw.tailnet.ts.net",
        "Tailscale-User-Login": "alice@example.com",
        "Tailscale-Funnel-Request": "?1"
      }
      const { res } = yield* handshake(gw.url, connectParams({ scopes: [] }), { headers })
      expect(res.error?.details?.code).toBe("AUTH_TAILSCALE_NOT_SERVE")
    })
  )

  it("a forwarded request is never loopback, whichever header named the client", () => {
    const trusted = { trustedProxies: ["127.0.0.1"] }
    for (const headers of [
      { "x-real-ip": "127.0.0.1" },
      { "x-forwarded-for": "127.0.0.1" },
      { forwarded: "for=127.0.0.1" },
      { "x-real-ip": "203.0.113.9" }
    ]) {
      expect([headers, resolveClientAddress("127.0.0.1", headers, trusted).isLoopback]).toEqual([headers, false])
      expect([headers, resolveClientAddress("127.0.0.1", headers, { ...trusted, allowRealIpFallback: true }).isLoopback]).toEqual([
        headers,
        false
      ])
    }
  })

  it.scopedLive("behind a trusted proxy that sends only X-Real-IP, clients are limited, not exempt as loopback", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN, rateLimit: { maxAttempts: 2 } }, trustedProxies: ["127.0.0.1"] } })
      const headers = { "X-Real-IP": "203.0.113.9" }
      const codes: Array<string> = []
      for (let i = 0; i < 3; i++)
        codes.push((yield* handshake(gw.url, connectParams({ auth: { token: "wrong" } }), { headers })).res.error?.details?.code)
      expect(codes).toEqual(["AUTH_TOKEN_MISMATCH", "AUTH_RATE_LIMITED", "AUTH_RATE_LIMITED"])
      // A direct loopback client (no forwarding headers) is still exempt by default.
      expect((yield* handshake(gw.url, owner)).res.ok).toBe(true)
    })
  )
})

describe("approvals show what they grant; limits and rotation have no side doors", () => {
  it.scopedLive("a pending request that then asks for more is a new request with a new id and notice; the old id approves nothing", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway(manualPairing)
      const ownerSession = yield* handshake(gw.url, owner)
      const device = makeTestDevice()
      const first = yield* deviceHandshake(gw.url, device, operatorAs(["operator.read"]))
      const shown = first.res.error!.details.requestId as string
      yield* Effect.promise(() => ownerSession.peer.waitFor((f) => f.event === "device.pair.requested" && f.payload.requestId === shown))
      const wider = yield* deviceHandshake(gw.url, device, operatorAs(["operator.admin"]))
      const widerId = wider.res.error!.details.requestId as string
      expect(widerId).not.toBe(shown)
      const notice = yield* Effect.promise(() =>
        ownerSession.peer.waitFor((f) => f.event === "device.pair.requested" && f.payload.requestId === widerId)
      )
      expect(notice.payload.scopes).toEqual(["operator.read", "operator.admin"])
      expect((yield* Effect.promise(() => ownerSession.peer.call("device.pair.approve", { requestId: shown }))).error?.message).toBe(
        "unknown requestId"
      )
      // Asking again for what is already asked keeps the id.
      const again = yield* deviceHandshake(gw.url, device, operatorAs(["operator.read"]))
      expect(again.res.error?.details?.requestId).toBe(widerId)
    })
  )

  it.scopedLive("a good device token does not wipe the address's failed shared-token attempts", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN, rateLimit: { maxAttempts: 3, exemptLoopback: false } } } })
      const device = makeTestDevice()
      const paired = yield* deviceHandshake(gw.url, device, operatorAs(["operator.read"]))
      const deviceToken = paired.res.payload.auth.deviceToken as string
      const codes: Array<string> = []
      for (let i = 0; i < 3; i++) {
        codes.push((yield* handshake(gw.url, connectParams({ auth: { token: `wrong-${i}` } }))).res.error?.details?.code)
        if (i < 2)
          expect((yield* deviceHandshake(gw.url, device, { ...operatorAs(["operator.read"]), auth: { deviceToken } })).res.ok).toBe(true)
      }
      expect(codes).toEqual(["AUTH_TOKEN_MISMATCH", "AUTH_TOKEN_MISMATCH", "AUTH_RATE_LIMITED"])
    })
  )

  it.scopedLive("turning auth on (mode none to a token) ends the sessions that came in with no credential", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { mode: "none" } } })
      const open = yield* handshake(gw.url, connectParams({ scopes: ["operator.read"] }))
      expect(open.res.payload.auth.method).toBe("none")
      yield* writeConfig(gw.stateDir, { gateway: { auth: { token: "now-a-real-token-0123456789" } } })
      expect(yield* Effect.promise(() => open.peer.closed)).toEqual({
        code: 4001,
        reason: "the Gateway now requires a credential: reconnect with the new credential"
      })
    })
  )
})
