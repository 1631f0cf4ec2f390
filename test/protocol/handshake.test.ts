import * as fs from "node:fs/promises"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { connectParams, handshake, openPeer } from "../support/ws.js"
import { startGateway, TOKEN } from "../support/gateway.js"
import { deviceHandshake, makeTestDevice, nodeParams } from "../support/device.js"

const auth = { auth: { token: TOKEN } }

describe("handshake over a real socket", () => {
  it.scopedLive("sends connect.challenge on open, then hello-ok for a valid connect", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const peer = yield* openPeer(gw.url)
      const challenge = yield* Effect.promise(() => peer.waitFor((f) => f.type === "event"))
      expect(challenge.event).toBe("connect.challenge")
      expect(challenge.payload.nonce).toMatch(/^[0-9a-f-]{36}$/)
      expect(typeof challenge.payload.ts).toBe("number")
      const res = yield* Effect.promise(() => peer.call("connect", connectParams(auth), "c1"))
      expect(res.ok).toBe(true)
      const hello = res.payload
      expect(hello.type).toBe("hello-ok")
      expect(hello.protocol).toBe(4)
      expect(hello.server.connId).toMatch(/^[0-9a-f-]{36}$/)
      expect(hello.features.methods).toEqual(expect.arrayContaining(["health", "status", "system-presence", "config.get", "logs.tail"]))
      expect(hello.snapshot.sessionDefaults).toEqual({ defaultAgentId: "main", mainKey: "main", mainSessionKey: "agent:main:main" })
      expect(hello.snapshot.stateVersion).toEqual({ presence: expect.any(Number), health: expect.any(Number) })
      expect(hello.auth).toEqual({ method: "token", role: "operator", scopes: ["operator.admin"] })
      expect(hello.policy).toEqual({ maxPayload: 26214400, maxBufferedBytes: 52428800, tickIntervalMs: 30000 })
    })
  )

  it.scopedLive("first frame not connect: INVALID_REQUEST and close 1008", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const peer = yield* openPeer(gw.url)
      yield* Effect.promise(() => peer.opened)
      const res = yield* Effect.promise(() => peer.call("health", undefined, "h1"))
      expect(res.ok).toBe(false)
      expect(res.error?.code).toBe("INVALID_REQUEST")
      expect(res.error?.message).toBe("invalid handshake: first request must be connect")
      expect((yield* Effect.promise(() => peer.closed)).code).toBe(1008)
    })
  )

  it.scopedLive("wrong token: AUTH_TOKEN_MISMATCH and close 1008", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer, res } = yield* handshake(gw.url, connectParams({ auth: { token: "nope" } }))
      expect(res.ok).toBe(false)
      expect(res.error?.code).toBe("INVALID_REQUEST")
      expect(res.error?.message).toMatch(/^unauthorized: gateway token mismatch/)
      expect(res.error?.details).toEqual({
        code: "AUTH_TOKEN_MISMATCH",
        authReason: "token_mismatch",
        canRetryWithDeviceToken: false,
        recommendedNextStep: "update_auth_credentials"
      })
      expect((yield* Effect.promise(() => peer.closed)).code).toBe(1008)
    })
  )

  it.scopedLive("missing token: AUTH_TOKEN_MISSING and close 1008", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer, res } = yield* handshake(gw.url, connectParams())
      expect(res.error?.details).toMatchObject({ code: "AUTH_TOKEN_MISSING" })
      expect((yield* Effect.promise(() => peer.closed)).code).toBe(1008)
    })
  )

  it.scopedLive("password mode: right password connects, wrong or missing one is refused", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { mode: "password", password: "correct horse battery" } } })
      const ok = yield* handshake(gw.url, connectParams({ auth: { password: "correct horse battery" } }))
      expect(ok.res.payload.auth.method).toBe("password")
      const bad = yield* handshake(gw.url, connectParams({ auth: { password: "wrong" } }))
      expect(bad.res.error?.details).toMatchObject({ code: "AUTH_PASSWORD_MISMATCH" })
      const none = yield* handshake(gw.url, connectParams({ auth: { token: TOKEN } }))
      expect(none.res.error?.details).toMatchObject({ code: "AUTH_PASSWORD_MISSING" })
    })
  )

  it.scopedLive("protocol mismatch: PROTOCOL_MISMATCH and close 1002", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer, res } = yield* handshake(gw.url, connectParams({ ...auth, minProtocol: 5, maxProtocol: 6 }))
      expect(res.error?.code).toBe("INVALID_REQUEST")
      expect(res.error?.message).toBe("protocol mismatch")
      expect(res.error?.details).toMatchObject({ code: "PROTOCOL_MISMATCH", expectedProtocol: 4 })
      expect((yield* Effect.promise(() => peer.closed)).code).toBe(1002)
    })
  )

  it.scopedLive("protocol 3 is accepted for probes and nodes, refused for a plain operator", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const v3 = { minProtocol: 3, maxProtocol: 3 }
      const probe = yield* handshake(
        gw.url,
        connectParams({ ...auth, ...v3, client: { id: "openclaw-cli", version: "2026.9.6", platform: "linux", mode: "probe" } })
      )
      expect(probe.res.ok).toBe(true)
      expect(probe.res.payload.protocol).toBe(3)
      const node = yield* deviceHandshake(gw.url, makeTestDevice(), nodeParams(TOKEN, v3))
      expect(node.res.ok).toBe(true)
      expect(node.res.payload.auth.role).toBe("node")
      const op = yield* handshake(gw.url, connectParams({ ...auth, ...v3 }))
      expect(op.res.error?.details?.code).toBe("PROTOCOL_MISMATCH")
    })
  )

  it.scopedLive("an OpenClaw-style connect with extra fields is accepted (strict types, tolerant of unknown fields)", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer, res } = yield* handshake(gw.url, {
        minProtocol: 3,
        maxProtocol: 4,
        client: {
          id: "openclaw-cli",
          displayName: "laptop",
          version: "2026.9.6",
          platform: "darwin",
          deviceFamily: "Mac",
          modelIdentifier: "Mac15,3",
          mode: "cli",
          instanceId: "7c6f0a4e-1d0b-4d5e-9e51-0a4cf1a7e0f3",
          somethingNew: { nested: true }
        },
        role: "operator",
        scopes: ["operator.read", "operator.write"],
        caps: [],
        commands: [],
        permissions: {},
        auth: { token: TOKEN },
        locale: "en-US",
        userAgent: "openclaw-cli/2026.9.6",
        futureField: 1
      })
      expect(res.ok).toBe(true)
      expect(res.payload.protocol).toBe(4)
      const health = yield* Effect.promise(() => peer.call("health"))
      expect(health.ok).toBe(true)
      expect(health.payload.ok).toBe(true)
      const status = yield* Effect.promise(() => peer.call("status"))
      expect(status.ok).toBe(true)
    })
  )

  it.scopedLive("a connect with a wrongly typed field is refused with the field named", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer, res } = yield* handshake(gw.url, connectParams({ ...auth, minProtocol: "4" }))
      expect(res.error?.code).toBe("INVALID_REQUEST")
      expect(res.error?.message).toMatch(/invalid connect params.*minProtocol/)
      expect((yield* Effect.promise(() => peer.closed)).code).toBe(1008)
    })
  )

  it.scopedLive("a scope the credential does not allow is dropped, never granted", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { res } = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.read", "operator.root", "node.everything"] }))
      expect(res.payload.auth.scopes).toEqual(["operator.read"])
      const node = yield* deviceHandshake(gw.url, makeTestDevice(), nodeParams(TOKEN, { scopes: ["operator.admin"] }))
      expect(node.res.payload.auth.scopes).toEqual([])
    })
  )

  it.scopedLive("a frame that is not JSON before the handshake: error and close 1008", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const peer = yield* openPeer(gw.url)
      yield* Effect.promise(() => peer.opened)
      peer.send("{not json")
      const res = yield* Effect.promise(() => peer.waitFor((f) => f.type === "res"))
      expect(res.error?.code).toBe("INVALID_REQUEST")
      expect((yield* Effect.promise(() => peer.closed)).code).toBe(1008)
    })
  )

  it.scopedLive("a frame over 64 KiB before connect succeeds: close 1009", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const peer = yield* openPeer(gw.url)
      yield* Effect.promise(() => peer.opened)
      peer.send({ type: "req", id: "c1", method: "connect", params: { pad: "x".repeat(70 * 1024) } })
      expect((yield* Effect.promise(() => peer.closed)).code).toBe(1009)
    })
  )

  it.scopedLive("after the handshake, frames up to 25 MiB are accepted", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer } = yield* handshake(gw.url, connectParams(auth))
      const res = yield* Effect.promise(() => peer.call("health", { pad: "x".repeat(1024 * 1024) }))
      expect(res.ok).toBe(true)
    })
  )

  it.scopedLive("no connect within the handshake timeout: closed with 1008", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, handshakeTimeoutMs: 300 } })
      const peer = yield* openPeer(gw.url)
      const closed = yield* Effect.promise(() => peer.closed)
      expect(closed.code).toBe(1008)
      expect(closed.reason).toBe("handshake timeout (gateway.handshakeTimeoutMs 300)")
    })
  )

  it.scopedLive("a token changed in the config file applies to new connections without a restart", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const before = yield* handshake(gw.url, connectParams(auth))
      expect(before.res.ok).toBe(true)
      const next = "rotated-token-abcdefghijklmnop"
      yield* Effect.promise(() => fs.writeFile(gw.configPath, JSON.stringify({ gateway: { auth: { token: next } } })))
      const old = yield* handshake(gw.url, connectParams(auth))
      expect(old.res.error?.details).toMatchObject({ code: "AUTH_TOKEN_MISMATCH" })
      const fresh = yield* handshake(gw.url, connectParams({ auth: { token: next } }))
      expect(fresh.res.ok).toBe(true)
      // The connection made before the change stays up.
      const still = yield* Effect.promise(() => before.peer.call("health"))
      expect(still.ok).toBe(true)
    })
  )

  it.scopedLive("a config file broken while running: new connections get UNAVAILABLE naming the file, old ones stay, a fix heals it", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const before = yield* handshake(gw.url, connectParams(auth))
      yield* Effect.promise(() => fs.writeFile(gw.configPath, "{ gateway: { auth: { token: "))
      const broken = yield* handshake(gw.url, connectParams(auth))
      expect(broken.res.error?.code).toBe("UNAVAILABLE")
      expect(broken.res.error?.message).toContain(gw.configPath)
      expect((yield* Effect.promise(() => before.peer.call("health"))).ok).toBe(true)
      yield* Effect.promise(() => fs.writeFile(gw.configPath, JSON.stringify({ gateway: { auth: { token: TOKEN } } })))
      expect((yield* handshake(gw.url, connectParams(auth))).res.ok).toBe(true)
    })
  )
})
