import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Redacted, Ref, Schema } from "effect"
import { method, requiresScope } from "../../src/protocol/method.js"
import { serve } from "../../src/services/Dispatcher.js"
import { WebSocketServer } from "ws"
import { GatewayCore } from "../../src/layers/Gateway.js"
import { ConfigMemory } from "../../src/layers/ConfigMemory.js"
import { GatewayClientLocal } from "../../src/layers/GatewayClientLocal.js"
import { GatewayClientRemote } from "../../src/layers/GatewayClientRemote.js"
import { GatewayClientCalls, GatewayClientTest } from "../../src/layers/GatewayClientTest.js"
import { GatewayError } from "../../src/protocol/errors.js"
import { GatewayClient } from "../../src/services/GatewayClient.js"
import { call, gatewayStatus, health, status } from "../../src/programs/probe.js"
import { startGateway, tempDir, TOKEN } from "../support/gateway.js"
import { connectParams, handshake } from "../support/ws.js"
import { makeDeviceIdentity } from "../../src/layers/DeviceIdentityFile.js"

// An extension method, declared and served the way a team adds its own (admin-only: the test's token is).
const TwoPhase = method("test.twoPhase", {
  requires: requiresScope("operator.admin"),
  result: Schema.Struct({ runId: Schema.String, status: Schema.String, summary: Schema.optional(Schema.String) })
})
const twoPhase = [
  serve(TwoPhase, (_, ctx) =>
    Effect.gen(function* () {
      yield* ctx.interim({ runId: "r1", status: "accepted" })
      yield* Effect.sleep("100 millis")
      return { runId: "r1", status: "ok", summary: "done" }
    })
  )
]

describe("programs with the Test client layer", () => {
  const fake = GatewayClientTest({
    health: () => Effect.succeed({ ok: true, ts: 1, channelOrder: [] }),
    status: () => Effect.succeed({ gateway: { bind: "loopback", port: 1 } }),
    "system-presence": () => Effect.succeed([{ key: "gateway" }])
  })

  it.effect("health asks for health once and reports what it got", () =>
    Effect.gen(function* () {
      const report = yield* health()
      expect(report.health).toEqual({ ok: true, ts: 1, channelOrder: [] })
      expect(report.target.mode).toBe("test")
      const calls = yield* Ref.get(yield* GatewayClientCalls)
      expect(calls.map((c) => c.method)).toEqual(["health"])
    }).pipe(Effect.provide(fake))
  )

  it.effect("status --deep adds health and presence; without --deep it does not", () =>
    Effect.gen(function* () {
      const shallow = yield* status(false)
      expect(shallow.health).toBeUndefined()
      const deep = yield* status(true)
      expect(deep.reachable).toBe(true)
      expect(deep.presence).toEqual([{ key: "gateway" }])
      expect(deep.config.mode).toBe("remote")
      const calls = yield* Ref.get(yield* GatewayClientCalls)
      expect(calls.map((c) => c.method).sort()).toEqual(["health", "status", "status", "system-presence"])
    }).pipe(Effect.provide(Layer.merge(fake, ConfigMemory({ gateway: { mode: "remote", remote: { url: "wss://x" } } }))))
  )

  it.effect("a Gateway error reaches the program unchanged", () =>
    Effect.gen(function* () {
      const err = yield* call("config.set").pipe(Effect.flip)
      expect(err).toBeInstanceOf(GatewayError)
      expect((err as GatewayError).code).toBe("FORBIDDEN")
    }).pipe(
      Effect.provide(GatewayClientTest({ "config.set": () => Effect.fail(GatewayError.of("FORBIDDEN", "missing scope: operator.admin")) }))
    )
  )
})

describe("programs with the Local client layer (in-process Gateway, no socket)", () => {
  const local = GatewayClientLocal.pipe(
    Layer.provideMerge(GatewayCore({ console: false, methods: twoPhase })),
    Layer.provideMerge(ConfigMemory({ gateway: { auth: { token: TOKEN } } }))
  )

  it.live("the same programs run in-process through the same Dispatcher", () =>
    Effect.gen(function* () {
      const report = yield* health()
      expect(report.target.mode).toBe("in-process")
      expect((report.health as { ok: boolean }).ok).toBe(true)
      const st = yield* gatewayStatus
      expect(st.reachable).toBe(true)
      expect((st.status as { gateway: { authMode: string } }).gateway.authMode).toBe("token")
    }).pipe(Effect.provide(local))
  )

  it.live("two-phase replies: the interim answer without expectFinal, the final one with it", () =>
    Effect.gen(function* () {
      expect(yield* call("test.twoPhase")).toEqual({ runId: "r1", status: "accepted" })
      expect(yield* call("test.twoPhase", { expectFinal: true })).toMatchObject({ status: "ok", summary: "done" })
    }).pipe(Effect.provide(local))
  )
})

describe("the Remote client layer against a real Gateway", () => {
  it.scopedLive("request/response correlation, concurrent requests and --expect-final over the wire", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway(undefined, { methods: twoPhase })
      const client = GatewayClientRemote({ target: { url: gw.url, urlSource: "--url", mode: "remote", token: Redacted.make(TOKEN) } })
      yield* Effect.gen(function* () {
        const c = yield* GatewayClient
        const server = yield* c.connect
        expect(server.protocol).toBe(4)
        expect(server.scopes).toContain("operator.admin")
        const results = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? c.request("health") : c.request("status"))),
          { concurrency: "unbounded" }
        )
        results.forEach((r, i) => expect(i % 2 ? (r as { ok: boolean }).ok : (r as { gateway: unknown }).gateway).toBeTruthy())
        expect(yield* c.request("test.twoPhase")).toEqual({ runId: "r1", status: "accepted" })
        expect(yield* c.request("test.twoPhase", undefined, { expectFinal: true })).toMatchObject({ status: "ok" })
        const timeout = yield* c.request("test.twoPhase", undefined, { expectFinal: true, timeoutMs: 20 }).pipe(Effect.flip)
        expect(timeout).toMatchObject({ _tag: "GatewayClientError", reason: "Timeout" })
      }).pipe(Effect.provide(client), Effect.scoped)
    })
  )

  it.scopedLive("a Gateway that goes silent for 2× tickIntervalMs is detected as a tick timeout", () =>
    Effect.gen(function* () {
      // A peer that completes the handshake, promises ticks every 100 ms, then says nothing.
      const wss = yield* Effect.acquireRelease(
        Effect.async<WebSocketServer>((resume) => {
          const s: WebSocketServer = new WebSocketServer({ host: "127.0.0.1", port: 0 }, (): void => resume(Effect.succeed(s)))
        }),
        (s) => Effect.sync(() => s.close())
      )
      wss.on("connection", (ws) => {
        ws.send(JSON.stringify({ type: "event", event: "connect.challenge", payload: { nonce: "n", ts: Date.now() } }))
        ws.on("message", (d) => {
          const req = JSON.parse(d.toString())
          if (req.method === "connect") {
            ws.send(
              JSON.stringify({
                type: "res",
                id: req.id,
                ok: true,
                payload: { type: "hello-ok", protocol: 4, server: { version: "x", connId: "c" }, policy: { tickIntervalMs: 100 } }
              })
            )
          }
        })
      })
      const port = (wss.address() as { port: number }).port
      const started = Date.now()
      const result = yield* Effect.gen(function* () {
        const c = yield* GatewayClient
        return yield* c.request("health", undefined, { timeoutMs: 5_000 })
      }).pipe(
        Effect.provide(
          GatewayClientRemote({ target: { url: `ws://127.0.0.1:${port}`, urlSource: "--url", mode: "remote", token: Redacted.make("t") } })
        ),
        Effect.scoped,
        Effect.either
      )
      expect(Either.isLeft(result)).toBe(true)
      const err = (result as Either.Left<{ reason: string; message: string }, unknown>).left
      expect(err.reason).toBe("Timeout")
      expect(err.message).toMatch(/tick timeout/)
      expect(Date.now() - started).toBeLessThan(2_000)
    })
  )

  it.scopedLive("with a device identity: NOT_PAIRED names the approve command; once approved, the stored device token suffices", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, nodes: { pairing: { autoApproveLocal: false } } } })
      const dir = yield* tempDir()
      const device = yield* makeDeviceIdentity(dir)
      const status = (target: { token?: Redacted.Redacted<string> }) =>
        Effect.flatMap(GatewayClient, (c) => Effect.zip(c.connect, c.request("status"))).pipe(
          Effect.provide(
            GatewayClientRemote({
              target: { url: gw.url, urlSource: "--url", mode: "remote", ...target },
              scopes: ["operator.read"],
              device
            })
          ),
          Effect.scoped
        )
      const refused = yield* Effect.flip(status({ token: Redacted.make(TOKEN) }))
      expect(refused).toMatchObject({ _tag: "GatewayClientError", reason: "NotPaired" })
      const requestId = (refused as { error: { details: { requestId: string } } }).error.details.requestId
      expect(refused.message).toContain(`clawgate devices approve ${requestId}`)

      const admin = yield* handshake(gw.url, connectParams({ auth: { token: TOKEN }, scopes: ["operator.admin"] }))
      expect((yield* Effect.promise(() => admin.peer.call("device.pair.approve", { requestId }))).ok).toBe(true)

      const [server] = yield* status({ token: Redacted.make(TOKEN) })
      expect(server.scopes).toEqual(["operator.read"])
      const stored = yield* device.tokenFor(gw.url, "operator")
      expect(stored?.token).toMatch(/^[A-Za-z0-9_-]{43}$/)
      const [viaToken] = yield* status({})
      expect(viaToken.authMethod).toBe("device-token")
    })
  )
})
