import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { checkOrigin, matchesProxy, resolveClientAddress } from "../../src/config/clientAddress.js"
import { connectParams, handshake } from "../support/ws.js"
import { deviceHandshake, makeTestDevice } from "../support/device.js"
import { startGateway, TOKEN } from "../support/gateway.js"

describe("client address behind proxies", () => {
  const trusted = { trustedProxies: ["127.0.0.1", "10.0.0.0/8"] }

  it("walks X-Forwarded-For from the right past trusted proxies", () => {
    expect(resolveClientAddress("127.0.0.1", { "x-forwarded-for": "203.0.113.9, 10.1.2.3" }, trusted)).toEqual({
      ip: "203.0.113.9",
      isLoopback: false,
      forwarded: true,
      untrustedForwarding: false
    })
    // A client cannot hide behind a spoofed entry on the left.
    expect(resolveClientAddress("127.0.0.1", { "x-forwarded-for": "127.0.0.1, 198.51.100.4" }, trusted).ip).toBe("198.51.100.4")
  })

  it("a spoofed X-Forwarded-For: 127.0.0.1 from an untrusted peer is ignored, and the peer is remote", () => {
    expect(resolveClientAddress("198.51.100.7", { "x-forwarded-for": "127.0.0.1" }, trusted)).toEqual({
      ip: "198.51.100.7",
      isLoopback: false,
      forwarded: true,
      untrustedForwarding: true
    })
    // Even on a loopback socket: forwarding headers with no trusted proxy configured mean "remote".
    expect(resolveClientAddress("127.0.0.1", { "x-forwarded-for": "127.0.0.1" }, {}).isLoopback).toBe(false)
  })

  it("X-Real-IP counts only with allowRealIpFallback", () => {
    expect(resolveClientAddress("127.0.0.1", { "x-real-ip": "203.0.113.5" }, trusted).ip).toBe("127.0.0.1")
    expect(resolveClientAddress("127.0.0.1", { "x-real-ip": "203.0.113.5" }, { ...trusted, allowRealIpFallback: true }).ip).toBe(
      "203.0.113.5"
    )
  })

  it("proxy entries are addresses or IPv4 CIDRs", () => {
    expect(matchesProxy("10.9.8.7", "10.0.0.0/8")).toBe(true)
    expect(matchesProxy("11.0.0.1", "10.0.0.0/8")).toBe(false)
    expect(matchesProxy("::ffff:127.0.0.1", "127.0.0.1")).toBe(true)
  })
})

describe("browser origins", () => {
  it("allowed when listed, same host, or both loopback; `null` and foreign origins are refused", () => {
    expect(checkOrigin(undefined, "gw:18789", {})).toBeUndefined()
    expect(checkOrigin("https://gw.example:18789", "gw.example:18789", {})).toBeUndefined()
    expect(checkOrigin("http://localhost:5173", "127.0.0.1:18789", {})).toBeUndefined()
    expect(checkOrigin("https://app.example", "gw.example:18789", { allowedOrigins: ["https://app.example"] })).toBeUndefined()
    expect(checkOrigin("null", "127.0.0.1:18789", {})).toMatch(/origin "null" is not allowed/)
    expect(checkOrigin("https://evil.example", "127.0.0.1:18789", {})).toMatch(/does not match the Gateway's host/)
  })

  it.scopedLive("the upgrade is refused with 403 before the 101", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, controlUi: { allowedOrigins: ["https://app.example"] } } })
      const status = (origin: string) =>
        Effect.promise(
          () =>
            new Promise<number>((resolve) => {
              import("ws").then(({ default: WebSocket }) => {
                const ws = new WebSocket(gw.url, { headers: { Origin: origin } })
                ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0))
                ws.on("open", () => {
                  ws.terminate()
                  resolve(101)
                })
                ws.on("error", () => {})
              })
            })
        )
      expect(yield* status("null")).toBe(403)
      expect(yield* status("https://evil.example")).toBe(403)
      expect(yield* status("https://app.example")).toBe(101)
      expect(yield* status(`http://localhost:${gw.port}`)).toBe(101)
    })
  )
})

describe("forwarded headers on the wire", () => {
  it.scopedLive("a loopback socket with untrusted X-Forwarded-For is remote: no scopes without a device, no silent pairing", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const spoof = { headers: { "X-Forwarded-For": "127.0.0.1" } }
      const { peer, res } = yield* handshake(gw.url, connectParams({ auth: { token: TOKEN }, scopes: ["operator.admin"] }), spoof)
      expect(res.payload.auth.scopes).toEqual([])
      expect((yield* Effect.promise(() => peer.call("status"))).error?.code).toBe("FORBIDDEN")
      const device = makeTestDevice()
      const spoofed = yield* deviceHandshake(gw.url, device, connectParams({ auth: { token: TOKEN }, scopes: ["operator.read"] }), {
        headers: spoof.headers
      })
      expect(spoofed.res.error?.details).toMatchObject({ code: "PAIRING_REQUIRED", reason: "not-paired" })
      // The same device, directly on loopback, is paired silently.
      const direct = yield* deviceHandshake(gw.url, device, connectParams({ auth: { token: TOKEN }, scopes: ["operator.read"] }))
      expect(direct.res.ok).toBe(true)
    })
  )

  it.scopedLive("behind a trusted proxy, the forwarded client is who counts", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, trustedProxies: ["127.0.0.1"] } })
      const viaProxy = { headers: { "X-Forwarded-For": "203.0.113.50" } }
      const { peer } = yield* handshake(gw.url, connectParams({ auth: { token: TOKEN }, scopes: ["operator.read"] }), viaProxy)
      const admin = yield* handshake(gw.url, connectParams({ auth: { token: TOKEN }, scopes: ["operator.admin"] }))
      const presence = yield* Effect.promise(() => admin.peer.call("system-presence"))
      expect(presence.payload.some((p: any) => p.ip === "203.0.113.50")).toBe(true)
      // That client is remote: without a paired device it gets no scopes.
      expect((yield* Effect.promise(() => peer.call("status"))).error?.code).toBe("FORBIDDEN")
    })
  )
})
