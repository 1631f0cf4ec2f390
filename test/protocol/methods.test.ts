import * as fs from "node:fs/promises"
import * as net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Schema, Scope } from "effect"
import { method, requiresScope } from "../../src/protocol/method.js"
import { serve } from "../../src/services/Dispatcher.js"
import { GatewayLive } from "../../src/layers/Gateway.js"
import { GatewayError } from "../../src/protocol/errors.js"
import { connectParams, handshake, openPeer } from "../support/ws.js"
import { startGateway, tempDir, TOKEN, writeConfig } from "../support/gateway.js"
import { deviceHandshake, makeTestDevice, nodeParams } from "../support/device.js"

const auth = { auth: { token: TOKEN } }

const httpGet = (port: number, path: string, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers })
    return { status: res.status, body: await res.text() }
  })

/** Sends a raw HTTP upgrade and returns the status line the server answers with. */
const rawUpgrade = (port: number, path: string, extra = "") =>
  Effect.promise(
    () =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1", () => {
          socket.write(
            `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
              `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`
          )
        })
        let data = ""
        socket.on("data", (d) => {
          data += d.toString()
          if (data.includes("\r\n")) {
            socket.destroy()
            resolve(data.split("\r\n")[0]!)
          }
        })
        socket.on("error", reject)
      })
  )

describe("methods and scopes", () => {
  it.scopedLive("health, status, system-presence, config.get and logs.tail answer an operator", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer } = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.read"] }))
      const health = yield* Effect.promise(() => peer.call("health"))
      expect(health.payload).toMatchObject({ ok: true, channels: {}, channelOrder: [], agents: [{ agentId: "main" }] })
      expect(typeof health.payload.ts).toBe("number")
      expect(typeof health.payload.durationMs).toBe("number")
      const status = yield* Effect.promise(() => peer.call("status"))
      expect(status.payload.gateway).toMatchObject({ bind: "loopback", port: gw.port, authMode: "token" })
      expect(status.payload.connections.operators).toBe(1)
      const presence = yield* Effect.promise(() => peer.call("system-presence"))
      expect(presence.payload.map((p: any) => p.mode).sort()).toEqual(["cli", "gateway"])
      const config = yield* Effect.promise(() => peer.call("config.get"))
      expect(config.payload.path).toBe(gw.configPath)
      expect(config.payload.config.gateway.auth.token).toBe("__CLAWGATE_REDACTED__")
      expect(JSON.stringify(config.payload)).not.toContain(TOKEN)
      const logs = yield* Effect.promise(() => peer.call("logs.tail", { limit: 50 }))
      expect(logs.payload.lines.some((l: string) => l.includes("gateway listening"))).toBe(true)
      expect(logs.payload.lines.join("\n")).not.toContain(TOKEN)
      const bad = yield* Effect.promise(() => peer.call("logs.tail", { limit: "many" }))
      expect(bad.error?.code).toBe("INVALID_REQUEST")
      expect(bad.error?.message).toMatch(/invalid logs.tail params: limit/)
    })
  )

  it.scopedLive("a method the caller lacks scope for: FORBIDDEN missing scope, connection stays open", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer } = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.read"] }))
      const res = yield* Effect.promise(() => peer.call("sessions.reset", { key: "main" }))
      expect(res.error).toMatchObject({
        code: "FORBIDDEN",
        message: "missing scope: operator.admin",
        details: { code: "MISSING_SCOPE", missingScope: "operator.admin", requiredScopes: ["operator.admin"] }
      })
      const write = yield* Effect.promise(() => peer.call("send", { to: "x", message: "y" }))
      expect(write.error?.details?.missingScope).toBe("operator.write")
      // An unknown method is unknown for every caller (OpenClaw's clients read this as "not supported here").
      const unknown = yield* Effect.promise(() => peer.call("does.not.exist"))
      expect(unknown.error).toMatchObject({
        code: "INVALID_REQUEST",
        message: "unknown method: does.not.exist",
        details: { code: "UNKNOWN_METHOD" }
      })
      const still = yield* Effect.promise(() => peer.call("health"))
      expect(still.ok).toBe(true)
    })
  )

  it.scopedLive("health needs no scope (as on OpenClaw, for probes); status does", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer } = yield* handshake(
        gw.url,
        connectParams({ ...auth, scopes: [], client: { id: "openclaw-probe", version: "1", platform: "linux", mode: "probe" } })
      )
      expect((yield* Effect.promise(() => peer.call("health"))).payload.ok).toBe(true)
      expect((yield* Effect.promise(() => peer.call("status"))).error?.details?.missingScope).toBe("operator.read")
    })
  )

  it.scopedLive("write implies read; admin gets 'unknown method' for a method that does not exist", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const writer = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.write"] }))
      expect((yield* Effect.promise(() => writer.peer.call("status"))).ok).toBe(true)
      const admin = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.admin"] }))
      const res = yield* Effect.promise(() => admin.peer.call("does.not.exist"))
      expect(res.error).toMatchObject({ code: "INVALID_REQUEST", message: "unknown method: does.not.exist" })
    })
  )

  it.scopedLive("a node cannot call operator methods; an operator cannot call node-only methods", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const node = yield* deviceHandshake(gw.url, makeTestDevice(), nodeParams(TOKEN))
      const res = yield* Effect.promise(() => node.peer.call("status"))
      expect(res.error?.code).toBe("FORBIDDEN")
      expect((yield* Effect.promise(() => node.peer.call("config.get"))).error?.code).toBe("FORBIDDEN")
      const op = yield* handshake(gw.url, connectParams(auth))
      const r2 = yield* Effect.promise(() => op.peer.call("node.invoke.result", { id: "x", nodeId: "y", ok: true }))
      expect(r2.error?.code).toBe("FORBIDDEN")
      expect(r2.error?.details?.requiredRole).toBe("node")
    })
  )

  it.scopedLive("node.invoke and node.invoke.result params: each wrong field is named; right ones pass", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const op = yield* handshake(gw.url, connectParams(auth))
      const invoke = (params: unknown) => Effect.promise(() => op.peer.call("node.invoke", params))
      const good = { nodeId: "n1", command: "system.info", idempotencyKey: "k1" }
      for (const [params, field] of [
        [{}, "nodeId"],
        [{ ...good, nodeId: "" }, "nodeId"],
        [{ ...good, command: 7 }, "command"],
        [{ ...good, idempotencyKey: undefined }, "idempotencyKey"],
        [{ ...good, timeoutMs: 0 }, "timeoutMs"],
        [{ ...good, timeoutMs: 1.5 }, "timeoutMs"],
        [{ ...good, timeoutMs: "30" }, "timeoutMs"]
      ] as const) {
        const res = yield* invoke(params)
        expect(res.error?.code, JSON.stringify(params)).toBe("INVALID_REQUEST")
        expect(res.error?.message).toContain(field)
      }
      // Valid params reach the registry: that node is not connected.
      const offline = yield* invoke({ ...good, timeoutMs: 1000, params: { a: 1 } })
      expect(offline.error?.details?.code).toBe("NOT_CONNECTED")

      const device = makeTestDevice()
      const node = yield* deviceHandshake(gw.url, device, nodeParams(TOKEN))
      const result = (params: unknown) => Effect.promise(() => node.peer.call("node.invoke.result", params))
      const base = { id: "i1", nodeId: device.deviceId, ok: true }
      for (const [params, field] of [
        [{ ...base, ok: "yes" }, "ok"],
        [{ ...base, id: "" }, "id"],
        [{ ...base, payloadJSON: 5 }, "payloadJSON"],
        [{ ...base, ok: false, error: "boom" }, "error"],
        [{ ...base, ok: false, error: { code: 1 } }, "error.code"]
      ] as const) {
        const res = yield* result(params)
        expect(res.error?.code, JSON.stringify(params)).toBe("INVALID_REQUEST")
        expect(res.error?.message).toContain(field)
      }
      // A well-formed result for an invoke nobody is waiting for is acknowledged and ignored.
      const stray = yield* result({ ...base, payloadJSON: null, error: { message: "m" } })
      expect(stray.payload).toMatchObject({ ok: true, ignored: true })
    })
  )

  it.scopedLive("after hello only req frames are accepted: others get an error, the connection stays", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer } = yield* handshake(gw.url, connectParams(auth))
      peer.send({ type: "event", event: "hello" })
      const err = yield* Effect.promise(() => peer.waitFor((f) => f.type === "res" && f.ok === false))
      expect(err.error?.code).toBe("INVALID_REQUEST")
      peer.send("garbage")
      const again = yield* Effect.promise(() => peer.call("connect", connectParams(auth)))
      expect(again.error?.message).toMatch(/already connected/)
      expect((yield* Effect.promise(() => peer.call("health"))).ok).toBe(true)
    })
  )

  it.scopedLive("tick events arrive every tickIntervalMs with a per-connection monotonic seq", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, tickIntervalMs: 100 } })
      const { peer, res } = yield* handshake(gw.url, connectParams(auth))
      expect(res.payload.policy.tickIntervalMs).toBe(100)
      yield* Effect.promise(() => peer.waitFor((f) => f.event === "tick" && (f.seq ?? 0) >= 3, 3000))
      const seqs = peer.frames.filter((f) => f.type === "event" && f.event !== "connect.challenge").map((f) => f.seq!)
      expect(seqs.length).toBeGreaterThanOrEqual(3)
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1)
    })
  )

  it.scopedLive("operators see presence events when others come and go", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const watcher = yield* handshake(gw.url, connectParams(auth))
      const scope = yield* Scope.make()
      yield* handshake(
        gw.url,
        connectParams({ ...auth, client: { id: "other", version: "1", platform: "linux", mode: "cli", instanceId: "other-1" } })
      ).pipe(Scope.extend(scope))
      yield* Effect.promise(() =>
        watcher.peer.waitFor((f) => f.event === "presence" && f.payload.presence.some((p: any) => p.instanceId === "other-1"))
      )
      yield* Scope.close(scope, Exit.void)
      yield* Effect.promise(() =>
        watcher.peer.waitFor((f) => f.event === "presence" && !f.payload.presence.some((p: any) => p.instanceId === "other-1"))
      )
      const ev = watcher.peer.frames.find((f) => f.event === "presence") as any
      expect(ev.stateVersion).toEqual({ presence: expect.any(Number), health: expect.any(Number) })
    })
  )
})

describe("HTTP on the same port", () => {
  it.scopedLive("probes answer and reveal no secrets; a token in the query string is refused", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      for (const path of ["/health", "/healthz", "/ready", "/readyz"]) {
        const res = yield* httpGet(gw.port, path)
        expect(res.status).toBe(200)
        expect(JSON.parse(res.body).ok).toBe(true)
        expect(res.body).not.toContain(TOKEN)
      }
      const q = yield* httpGet(gw.port, `/health?token=${TOKEN}`)
      expect(q.status).toBe(400)
      expect(yield* rawUpgrade(gw.port, `/?token=${TOKEN}`)).toBe("HTTP/1.1 400 Bad Request")
      expect(yield* rawUpgrade(gw.port, "/any/path")).toBe("HTTP/1.1 101 Switching Protocols")
      // Unknown paths are the Control UI's (a page for a route, a 404 for a file): see test/ui/serve.test.ts.
      expect((yield* httpGet(gw.port, "/nope.json")).status).toBe(404)
    })
  )
})

describe("auth rate limit", () => {
  it.scopedLive("10 wrong tokens from a browser on loopback lock it out with AUTH_RATE_LIMITED and retryAfterMs", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      // A page on this machine: loopback, but a browser, so it is limited.
      const origin = { headers: { Origin: `http://127.0.0.1:${gw.port}` } }
      for (let i = 0; i < 9; i++) {
        const { res } = yield* handshake(gw.url, connectParams({ auth: { token: `wrong-${i}` } }), origin)
        expect(res.error?.details?.code).toBe("AUTH_TOKEN_MISMATCH")
      }
      const tenth = yield* handshake(gw.url, connectParams({ auth: { token: "wrong-10" } }), origin)
      expect(tenth.res.error?.details?.code).toBe("AUTH_RATE_LIMITED")
      // Locked out: even the right token is refused now.
      const right = yield* handshake(gw.url, connectParams(auth), origin)
      expect(right.res.error).toMatchObject({ code: "INVALID_REQUEST", details: { code: "AUTH_RATE_LIMITED" }, retryable: true })
      expect(right.res.error?.retryAfterMs).toBeGreaterThan(290_000)
      expect(right.res.error?.retryAfterMs).toBeLessThanOrEqual(300_000)
    })
  )

  it.scopedLive("loopback without Origin is exempt, and missing credentials do not count", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      for (let i = 0; i < 12; i++) {
        const { res } = yield* handshake(gw.url, connectParams({ auth: { token: `wrong-${i}` } }))
        expect(res.error?.details?.code).toBe("AUTH_TOKEN_MISMATCH")
      }
      const origin = { headers: { Origin: "http://127.0.0.1" } }
      for (let i = 0; i < 12; i++) {
        const { res } = yield* handshake(gw.url, connectParams(), origin)
        expect(res.error?.details?.code).toBe("AUTH_TOKEN_MISSING")
      }
      expect((yield* handshake(gw.url, connectParams(auth), origin)).res.ok).toBe(true)
    })
  )
})

describe("start-up rules", () => {
  it.scopedLive("a non-loopback bind without a token or password refuses to start, naming the settings", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { bind: "lan", auth: { mode: "token" } } })
      const exit = yield* Layer.build(GatewayLive({ console: false, flags: { port: 0 } }, { CLAWGATE_STATE_DIR: dir })).pipe(Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      const text = JSON.stringify(exit)
      expect(text).toMatch(/refusing to bind 0\.0\.0\.0/)
      expect(text).toMatch(/gateway\.auth\.token/)
      // Nothing was generated or written behind the user's back.
      const saved = JSON.parse(yield* Effect.promise(() => fs.readFile(`${dir}/clawgate.json`, "utf8")))
      expect(saved.gateway.auth.token).toBeUndefined()
    })
  )

  it.scopedLive("an invalid config refuses to start and names the key", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { bind: "everywhere", prot: 1 } })
      const exit = yield* Layer.build(GatewayLive({ console: false, flags: { port: 0 } }, { CLAWGATE_STATE_DIR: dir })).pipe(Effect.exit)
      const text = JSON.stringify(exit)
      expect(text).toMatch(
        /gateway\.bind: must be one of \\"loopback\\", \\"lan\\", \\"tailnet\\", \\"custom\\", \\"auto\\" \(got \\"everywhere\\"\)/
      )
      expect(text).toMatch(/gateway\.prot: is not a known setting/)
    })
  )

  it.scopedLive("a first start with no credential generates a strong token and stores it 0600", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const ctx = yield* Layer.build(GatewayLive({ console: false, flags: { port: 0 } }, { CLAWGATE_STATE_DIR: dir }))
      const { GatewayServer } = yield* Effect.promise(() => import("../../src/services/GatewayServer.js"))
      const server = (ctx as any).unsafeMap.get(GatewayServer.key)
      expect(server.generatedToken).toMatch(/^[A-Za-z0-9_-]{43}$/)
      const stat = yield* Effect.promise(() => fs.stat(`${dir}/clawgate.json`))
      expect(stat.mode & 0o777).toBe(0o600)
      const saved = JSON.parse(yield* Effect.promise(() => fs.readFile(`${dir}/clawgate.json`, "utf8")))
      expect(saved.gateway.auth).toEqual({ mode: "token", token: server.generatedToken })
      const { res } = yield* handshake(server.url, connectParams({ auth: { token: server.generatedToken } }))
      expect(res.ok).toBe(true)
      const log = yield* Effect.promise(() => fs.readFile(`${dir}/logs/gateway.log`, "utf8"))
      expect(log).not.toContain(server.generatedToken)
    })
  )
})

describe("graceful shutdown", () => {
  it.scopedLive("in-flight requests are answered, shutdown is broadcast, then sockets close", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const Slow = method("test.slow", { requires: requiresScope("operator.admin"), result: Schema.Struct({ done: Schema.Boolean }) })
      const slow = [serve(Slow, () => Effect.sleep("300 millis").pipe(Effect.as({ done: true })))]
      const { startGateway: start } = yield* Effect.promise(() => import("../support/gateway.js"))
      const gw = yield* start(undefined, { methods: slow }).pipe(Scope.extend(scope))
      // The client lives in the test's scope, the Gateway in its own, closed mid-request.
      const { peer } = yield* handshake(gw.url, connectParams(auth))
      peer.send({ type: "req", id: "slow-1", method: "test.slow" })
      yield* Effect.sleep("50 millis")
      const closing = Effect.runFork(Scope.close(scope, Exit.void))
      const res = yield* Effect.promise(() => peer.response("slow-1"))
      expect(res.ok).toBe(true)
      expect(res.payload).toEqual({ done: true })
      const shutdown = peer.frames.find((f) => f.event === "shutdown")
      expect(shutdown?.payload).toMatchObject({ reason: expect.any(String) })
      const closed = yield* Effect.promise(() => peer.closed)
      expect(closed.code).toBe(1012)
      yield* closing.await
      // New connections are refused once stopped.
      const after = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${gw.port}/health`).then(
          () => "up",
          () => "down"
        )
      )
      expect(after).toBe("down")
    })
  )
})

void GatewayError
void openPeer
