/**
 * The Control UI's connection against a real Gateway on port 0 (and, for
 * what clawgate does not do yet or a test cannot make it do, a small stub
 * Gateway): login, pairing that completes by itself, the stored device
 * token, its revocation, correlation, events across a dropped socket, the
 * tick watchdog and the one-time link.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type WebSocket from "ws"
import { WebSocketServer } from "ws"
import { ModelsFixed } from "../../src/layers/ModelsLive.js"
import { verifyDeviceProof } from "../../src/protocol/device.js"
import { LINK_USED } from "../../src/ui/client/refusal.js"
import { CallError, CONNECTION_LOST, type GatewayEvent, type HelloOk } from "../../src/ui/client/types.js"
import { startGateway, TOKEN } from "../support/gateway.js"
import { lastUserText, scriptedModel, textReply, type Parts } from "../support/model.js"
import { memoryStore, uiClient, untilState } from "../support/ui-client.js"
import { connectParams, handshake } from "../support/ws.js"
import { Stream } from "effect"

/** A local operator (no Origin: a CLI on the Gateway's host) that approves and revokes. */
const operator = (url: string) =>
  Effect.map(handshake(url, connectParams({ auth: { token: TOKEN }, scopes: ["operator.admin"] })), ({ peer, res }) => {
    expect(res.ok).toBe(true)
    return peer
  })

const originOf = (url: string) => url.replace(/^ws/, "http").replace(/\/$/, "")

/** A browser that logged in with the token and was approved: connected, with its device token stored. */
const pairedBrowser = (url: string) =>
  Effect.gen(function* () {
    const store = memoryStore()
    const h = yield* uiClient(url, originOf(url), { store, initialCredential: { token: TOKEN } })
    const waiting = yield* untilState(h.client, (s) => s._tag === "pairing")
    const admin = yield* operator(url)
    const requestId = waiting._tag === "pairing" ? waiting.requestId : ""
    const approved = yield* Effect.promise(() => admin.call("device.pair.approve", { requestId }))
    expect(approved.ok).toBe(true)
    yield* untilState(h.client, (s) => s._tag === "connected")
    return { ...h, store, admin, requestId }
  })

const gated = (gate: Promise<void>, then: Parts): Parts => Stream.concat(Stream.drain(Stream.fromEffect(Effect.promise(() => gate))), then)

describe("the Control UI's connection to a real Gateway", () => {
  it.scopedLive("a new browser logs in with the token, waits for approval, and connects by itself once approved", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { client, store, requestId } = yield* pairedBrowser(gw.url)
      expect(requestId).toMatch(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/)
      const s = client.state.value
      const hello = (s as { hello: HelloOk }).hello
      expect(hello.auth.scopes).toEqual(expect.arrayContaining(["operator.admin", "operator.write", "operator.read"]))
      expect(client.can("operator.admin")).toBe(true)
      // The Gateway's device token is kept; the shared token is not stored anywhere.
      expect(store.token()?.token).toMatch(/.{16,}/)
      expect(JSON.stringify(store.token())).not.toContain(TOKEN)
      // Correlation: answers reach the call that asked, errors as CallError.
      const health = (yield* Effect.promise(() => client.call("health"))) as { ok: boolean }
      expect(health.ok).toBe(true)
      const unknown = yield* Effect.promise(() =>
        client.call("no.such.method").then(
          () => undefined,
          (e: unknown) => e
        )
      )
      expect(unknown).toBeInstanceOf(CallError)
      expect((unknown as CallError).code).toBe("INVALID_REQUEST")
    })
  )

  it.scopedLive("the next page load connects with the stored device token alone; a revoked token sends it back to login", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const first = yield* pairedBrowser(gw.url)
      first.client.stop()
      const again = yield* uiClient(gw.url, originOf(gw.url), { store: first.store })
      const s = yield* untilState(again.client, (x) => x._tag === "connected")
      expect(s._tag === "connected" && s.hello.auth.method).toBe("device-token")
      const deviceId = again.client.deviceId()!
      const revoked = yield* Effect.promise(() => first.admin.call("device.token.revoke", { deviceId, role: "operator" }))
      expect(revoked.ok).toBe(true)
      const login = yield* untilState(again.client, (x) => x._tag === "login")
      expect(login._tag === "login" && login.error).toContain("revoked or rotated")
      expect(first.store.token()).toBeUndefined()
    })
  )

  it.scopedLive("a wrong token gets the login form with what to do; no credential gets the form without an error", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const wrong = yield* uiClient(gw.url, originOf(gw.url), { initialCredential: { token: "not-the-token" } })
      const s = yield* untilState(wrong.client, (x) => x._tag === "login")
      expect(s._tag === "login" && s.error).toContain("not this Gateway's")
      const none = yield* uiClient(gw.url, originOf(gw.url))
      expect(yield* untilState(none.client, (x) => x._tag === "login")).toEqual({ _tag: "login", prefer: "token" })
      // Logging in from the form connects (and here waits for approval).
      none.client.login({ token: TOKEN })
      yield* untilState(none.client, (x) => x._tag === "pairing")
    })
  )

  it.scopedLive("an origin the Gateway refuses ends in a failure naming gateway.controlUi.allowedOrigins", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const h = yield* uiClient(gw.url, "https://evil.example", { initialCredential: { token: TOKEN }, probeHttp: async () => true })
      const s = yield* untilState(h.client, (x) => x._tag === "failed", 20_000)
      expect(s._tag === "failed" && s.message).toContain("gateway.controlUi.allowedOrigins")
    })
  )

  it.scopedLive(
    "a dropped socket mid-run: the cut request says so, the page reconnects, and the run's later events and history arrive once",
    () =>
      Effect.gen(function* () {
        let open!: () => void
        const gate = new Promise<void>((r) => (open = r))
        const m = scriptedModel((prompt) => gated(gate, textReply(`You said: ${lastUserText(prompt)}`)))
        const gw = yield* startGateway(undefined, { models: ModelsFixed(m.model) })
        const { client, sockets } = yield* pairedBrowser(gw.url)
        const events: Array<GatewayEvent> = []
        client.on("chat", (e) => events.push(e))
        let reconnects = 0
        client.onConnected(() => reconnects++)
        const sent = yield* Effect.promise(() =>
          client.call("chat.send", { sessionKey: "agent:main:main", message: "hello", idempotencyKey: "run-drop-1" })
        )
        expect(sent).toMatchObject({ runId: "run-drop-1", status: "started" })
        // A request in flight when the socket drops fails as CONNECTION_LOST (whether it arrived is unknown).
        const inFlight = client.call("agent.wait", { runId: "run-drop-1", timeoutMs: 60_000 }).then(
          () => undefined,
          (e: unknown) => e
        )
        sockets.at(-1)!.terminate()
        const cut = yield* Effect.promise(() => inFlight)
        expect((cut as CallError).detailCode).toBe(CONNECTION_LOST)
        yield* untilState(client, (s) => s._tag === "reconnecting")
        yield* untilState(client, (s) => s._tag === "connected")
        expect(reconnects).toBe(1)
        open()
        // The run's final reaches the new connection.
        yield* Effect.promise(async () => {
          const deadline = Date.now() + 10_000
          while (!events.some((e) => (e.payload as { state?: string }).state === "final")) {
            if (Date.now() > deadline) throw new Error(`no final: ${JSON.stringify(events)}`)
            await new Promise((r) => setTimeout(r, 20))
          }
        })
        const history = (yield* Effect.promise(() => client.call("chat.history", { sessionKey: "agent:main:main" }))) as {
          messages: Array<{ role: string; text: string; runId: string }>
        }
        expect(history.messages.map((e) => [e.role, e.text])).toEqual([
          ["user", "hello"],
          ["assistant", "You said: hello"]
        ])
        // A manual retry with the same key runs nothing twice.
        const retry = yield* Effect.promise(() =>
          client.call("chat.send", { sessionKey: "agent:main:main", message: "hello", idempotencyKey: "run-drop-1" })
        )
        expect(retry).toMatchObject({ runId: "run-drop-1" })
        expect(m.calls()).toBe(1)
      })
  )

  it.scopedLive("tick events update lastTick", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, tickIntervalMs: 200 } })
      const { client } = yield* pairedBrowser(gw.url)
      yield* Effect.promise(async () => {
        const deadline = Date.now() + 5000
        while (client.lastTick.value === undefined) {
          if (Date.now() > deadline) throw new Error("no tick")
          await new Promise((r) => setTimeout(r, 20))
        }
      })
      expect(client.state.value._tag).toBe("connected")
    })
  )
})

/** A stub Gateway: challenge, then `answer` decides the reply to connect; it never ticks. */
const stubGateway = (answer: (params: any, nonce: string, n: number) => Record<string, unknown>) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{ url: string; server: WebSocketServer; connects: Array<any>; closes: Array<number> }>((resolve) => {
          const connects: Array<any> = []
          const closes: Array<number> = []
          const server = new WebSocketServer({ host: "127.0.0.1", port: 0 }, () => {
            const port = (server.address() as { port: number }).port
            resolve({ url: `ws://127.0.0.1:${port}/`, server, connects, closes })
          })
          server.on("connection", (ws: WebSocket) => {
            const nonce = `nonce-${connects.length + 1}`
            ws.on("close", (code) => closes.push(code))
            ws.send(JSON.stringify({ type: "event", event: "connect.challenge", payload: { nonce, ts: Date.now() } }))
            ws.on("message", (data) => {
              const frame = JSON.parse(data.toString())
              if (frame.method !== "connect") return
              connects.push({ params: frame.params, nonce })
              ws.send(JSON.stringify({ type: "res", id: frame.id, ...answer(frame.params, nonce, connects.length) }))
            })
          })
        })
    ),
    ({ server }) =>
      Effect.promise(
        () =>
          new Promise<void>((r) => {
            for (const c of server.clients) c.terminate()
            server.close(() => r())
          })
      )
  )

const helloOk = (extra: Record<string, unknown> = {}, tickIntervalMs = 30_000) => ({
  ok: true,
  payload: {
    type: "hello-ok",
    protocol: 4,
    server: { version: "stub", connId: "c" },
    features: { methods: ["health"], events: ["tick"] },
    snapshot: { presence: [], health: {}, uptimeMs: 1 },
    auth: { method: "bootstrap-token", role: "operator", scopes: ["operator.admin"], ...extra },
    policy: { tickIntervalMs, maxPayload: 1 << 20 }
  }
})

describe("the Control UI's connection against a stub Gateway", () => {
  it.scopedLive("no tick for twice the interval: the page closes with 4000 and connects again", () =>
    Effect.gen(function* () {
      const stub = yield* stubGateway(() => helloOk({}, 100))
      const { client } = yield* uiClient(stub.url, "http://127.0.0.1")
      yield* untilState(client, (s) => s._tag === "connected")
      const r = yield* untilState(client, (s) => s._tag === "reconnecting")
      expect(r._tag === "reconnecting" && r.reason).toContain("tick timeout")
      yield* untilState(client, (s) => s._tag === "connected", 5000)
      expect(stub.connects.length).toBeGreaterThanOrEqual(2)
      yield* Effect.promise(async () => {
        while (!stub.closes.includes(4000)) await new Promise((res) => setTimeout(res, 10))
      })
    })
  )

  it.scopedLive("the one-time link: signs the bootstrap token (OpenClaw's rule), keeps the device token; used again, says so", () =>
    Effect.gen(function* () {
      let used = false
      const stub = yield* stubGateway(() => {
        if (used) {
          return {
            ok: false,
            error: {
              code: "INVALID_REQUEST",
              message: "unauthorized: setup code invalid",
              details: { code: "AUTH_BOOTSTRAP_TOKEN_INVALID" }
            }
          }
        }
        used = true
        return helloOk({ deviceToken: "issued-device-token" })
      })
      const store = memoryStore()
      const first = yield* uiClient(stub.url, "http://127.0.0.1", { store, initialCredential: { bootstrapToken: "one-time-code" } })
      yield* untilState(first.client, (s) => s._tag === "connected")
      const { params, nonce } = stub.connects[0]
      expect(params.auth).toEqual({ bootstrapToken: "one-time-code" })
      const verified = verifyDeviceProof(params.device, {
        clientId: params.client.id,
        clientMode: params.client.mode,
        role: params.role,
        scopes: params.scopes,
        token: "one-time-code",
        platform: params.client.platform,
        deviceFamily: params.client.deviceFamily,
        nonce,
        now: Date.now()
      })
      expect(verified.ok).toBe(true)
      expect(store.token()?.token).toBe("issued-device-token")
      // The same link in another browser profile: refused, and the page says what to do.
      const second = yield* uiClient(stub.url, "http://127.0.0.1", { initialCredential: { bootstrapToken: "one-time-code" } })
      const s = yield* untilState(second.client, (x) => x._tag === "login")
      expect(s).toEqual({ _tag: "login", error: LINK_USED })
    })
  )

  it.scopedLive("a Gateway that refuses the bootstrap signature gets one more try signed without the token", () =>
    Effect.gen(function* () {
      const stub = yield* stubGateway((_params, _nonce, n) =>
        n === 1
          ? {
              ok: false,
              error: { code: "INVALID_REQUEST", message: "device signature invalid", details: { code: "DEVICE_AUTH_SIGNATURE_INVALID" } }
            }
          : helloOk()
      )
      const { client } = yield* uiClient(stub.url, "http://127.0.0.1", { initialCredential: { bootstrapToken: "code" } })
      yield* untilState(client, (s) => s._tag === "connected")
      const { params, nonce } = stub.connects[1]
      const check = (token: string) =>
        verifyDeviceProof(params.device, {
          clientId: params.client.id,
          clientMode: params.client.mode,
          role: params.role,
          scopes: params.scopes,
          token,
          platform: params.client.platform,
          deviceFamily: params.client.deviceFamily,
          nonce,
          now: Date.now()
        }).ok
      expect([check(""), check("code")]).toEqual([true, false])
    })
  )

  it.scopedLive("pairing, rate limiting and a shutdown show as states and retry on their own", () =>
    Effect.gen(function* () {
      const stub = yield* stubGateway((_p, _n, n) =>
        n === 1
          ? {
              ok: false,
              error: { code: "NOT_PAIRED", message: "pairing required", details: { code: "PAIRING_REQUIRED", requestId: "req-1" } }
            }
          : n === 2
            ? {
                ok: false,
                error: { code: "INVALID_REQUEST", message: "too many", details: { code: "AUTH_RATE_LIMITED" }, retryAfterMs: 1000 }
              }
            : helloOk()
      )
      const { client } = yield* uiClient(stub.url, "http://127.0.0.1", { initialCredential: { token: "t" } })
      const p = yield* untilState(client, (s) => s._tag === "pairing")
      expect(p).toMatchObject({ requestId: "req-1" })
      expect((p as { deviceId: string }).deviceId).toMatch(/^[0-9a-f]{64}$/)
      const r = yield* untilState(client, (s) => s._tag === "reconnecting", 5000)
      expect(r._tag === "reconnecting" && r.inMs).toBeGreaterThanOrEqual(1000)
      yield* untilState(client, (s) => s._tag === "connected", 5000)
      // The Gateway says it stops: the page shows why while it reconnects.
      for (const c of stub.server.clients) {
        c.send(JSON.stringify({ type: "event", event: "shutdown", payload: { reason: "gateway stopping", restartExpectedMs: null } }))
        c.close(1012, "restart")
      }
      const down = yield* untilState(client, (s) => s._tag === "reconnecting")
      expect(down._tag === "reconnecting" && down.reason).toContain("gateway stopping")
    })
  )
})
