/**
 * The probes on the Gateway's own port, on a real Gateway (port 0, loopback):
 * /startupz until start-up is done and after, /readyz naming the failing
 * check (a Telegram Bot API double that refuses, then recovers, then fails
 * again), /readyz during shutdown, HEAD, and no secret in any body.
 */
import * as net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Schema, Scope } from "effect"
import { basePathProblem } from "../../src/config/basePath.js"
import { channelCheck, makeReadiness, MAX_CHECK_ERROR_CHARS, probeError } from "../../src/layers/ops/ReadinessLive.js"
import { method, requiresScope } from "../../src/protocol/method.js"
import { serve } from "../../src/services/Dispatcher.js"
import { CheckStatus, Readiness } from "../../src/services/Readiness.js"
import { startGateway, TOKEN } from "../support/gateway.js"
import { rawRequest } from "../support/http.js"
import { startBotApiDouble } from "../support/telegram.js"
import { connectParams, handshake } from "../support/ws.js"

interface Probe {
  readonly status: number
  readonly text: string
  readonly body: any
}

const probe = (port: number, path: string, methodName = "GET") =>
  Effect.map(rawRequest(port, path, { method: methodName }), (res): Probe => {
    const text = res.body.toString("utf8")
    return { status: res.status, text, body: text === "" ? undefined : JSON.parse(text) }
  })

/** Asks `path` every 50 ms until `until` holds, for at most `timeoutMs`: the answer that changed, or a failure saying what came. */
const probeUntil = (port: number, path: string, until: (p: Probe) => boolean, timeoutMs = 15_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const p = yield* probe(port, path)
      if (until(p)) return p
      if (Date.now() > deadline)
        return yield* Effect.dieMessage(`${path} did not change within ${timeoutMs} ms; last: ${p.status} ${p.text}`)
      yield* Effect.sleep("50 millis")
    }
  })

const check = (p: Probe, name: string) =>
  (p.body.checks as Array<{ name: string; ok: boolean; error?: string }>).find((c) => c.name === name)

describe("Readiness in memory", () => {
  it.effect("start-up is done once every stage was up once and stays done; ready needs every check up now", () =>
    Effect.gen(function* () {
      const r = yield* makeReadiness({ startup: ["extra"] })
      expect(yield* r.snapshot).toMatchObject({ started: false, ready: false, pending: ["store", "listeners", "channels", "extra"] })
      for (const stage of ["store", "channels", "extra"]) yield* r.mark(stage, CheckStatus.up)
      yield* r.mark("channel:telegram", CheckStatus.down("no answer"))
      expect(yield* r.snapshot).toMatchObject({ started: false, pending: ["listeners"] })
      yield* r.mark("listeners", CheckStatus.up)
      const started = yield* r.snapshot
      expect(started).toMatchObject({ started: true, pending: [], ready: false })
      expect(started.checks.at(-1)).toEqual({ name: "channel:telegram", ok: false, error: "no answer" })
      yield* r.mark("channel:telegram", CheckStatus.up)
      expect((yield* r.snapshot).ready).toBe(true)
      // A stage that goes down later does not undo start-up.
      yield* r.mark("store", CheckStatus.down("disk gone"))
      expect(yield* r.snapshot).toMatchObject({ started: true, ready: false })
    })
  )

  it("errors are masked, escaped and bounded; channels map by their state", () => {
    const token = "123456789:AAH-test-token-for-the-double_0123456"
    const shown = probeError(`GET https://api.telegram.org/bot${token}/getMe failed; token ${token}\n\u001b${"y".repeat(1000)}`)
    expect(shown).not.toContain(token)
    expect(shown).not.toContain("AAH-test")
    expect(shown).toMatch(/^GET https:\/\/api\.telegram\.org\/bot\*\*\*\/getMe failed; token \*\*\*\\n\\u001b/)
    expect(shown.length).toBe(MAX_CHECK_ERROR_CHARS + 1)
    const base = { id: "telegram", label: "Telegram", configured: true, enabled: true }
    expect(channelCheck({ ...base, state: "running" })).toEqual(CheckStatus.up)
    expect(channelCheck({ ...base, state: "starting" })).toEqual(CheckStatus.starting)
    expect(channelCheck({ ...base, state: "error", lastError: { message: "refused", at: 0 } })).toEqual(CheckStatus.down("refused"))
    expect(channelCheck({ ...base, enabled: false, state: "stopped" })).toBeUndefined()
  })
})

describe("/startupz", () => {
  it.scopedLive("503 naming what is pending until start-up is done, then 200 with when and how long; it stays started", () =>
    Effect.gen(function* () {
      // An embedding application's own stage holds start-up open, so the 503 is seen on a listening Gateway.
      const gw = yield* startGateway(undefined, { readiness: { startup: ["app:warmup"] } })
      for (const path of ["/startupz", "/startup"]) {
        const starting = yield* probe(gw.port, path)
        expect(starting.status).toBe(503)
        expect(starting.body).toEqual({ ok: false, status: "starting", pending: ["app:warmup"] })
      }
      const head = yield* probe(gw.port, "/startupz", "HEAD")
      expect(head.status).toBe(503)
      expect(head.text).toBe("")
      const notReady = yield* probe(gw.port, "/readyz")
      expect(notReady.status).toBe(503)
      expect(notReady.body.status).toBe("not-ready")
      expect(check(notReady, "app:warmup")).toEqual({ name: "app:warmup", ok: false, error: "starting" })
      // The Gateway's own stages are done: the store, the listeners, the channels.
      for (const name of ["store", "listeners", "channels"]) expect(check(notReady, name)).toEqual({ name, ok: true })

      const readiness = Context.get(gw.context as Context.Context<Readiness>, Readiness)
      yield* readiness.mark("app:warmup", CheckStatus.up)
      const started = yield* probe(gw.port, "/startupz")
      expect(started.status).toBe(200)
      expect(started.body).toEqual({ ok: true, status: "started", startedAt: expect.any(String), ms: expect.any(Number) })
      expect(Number.isNaN(Date.parse(started.body.startedAt))).toBe(false)
      expect(started.body.ms).toBeGreaterThanOrEqual(0)
      expect((yield* probe(gw.port, "/startupz", "HEAD")).status).toBe(200)
      const ready = yield* probe(gw.port, "/readyz")
      expect(ready.status).toBe(200)
      expect(ready.body).toEqual({
        ok: true,
        status: "ready",
        checks: [
          { name: "store", ok: true },
          { name: "listeners", ok: true },
          { name: "channels", ok: true },
          { name: "app:warmup", ok: true }
        ]
      })

      // A stage that goes down later: not ready, but start-up answered once and stays answered.
      yield* readiness.mark("app:warmup", CheckStatus.down("cache lost"))
      expect((yield* probe(gw.port, "/startupz")).status).toBe(200)
      const down = yield* probe(gw.port, "/readyz")
      expect(down.status).toBe(503)
      expect(check(down, "app:warmup")).toEqual({ name: "app:warmup", ok: false, error: "cache lost" })
      expect((yield* probe(gw.port, "/readyz", "HEAD")).status).toBe(503)
      // Liveness is not readiness.
      expect((yield* probe(gw.port, "/healthz")).body).toEqual({ ok: true, status: "live" })
    })
  )

  it("the new probe paths are reserved against the Control UI's basePath", () => {
    for (const path of ["/startupz", "/startup", "/readyz", "/healthz"]) {
      expect(basePathProblem(path)).toMatch(/health probe answers there/)
    }
    expect(basePathProblem("/startupz/ui")).toBeUndefined()
  })
})

describe("/readyz with Telegram", () => {
  it.scopedLive(
    "503 naming channel:telegram while the Bot API refuses (bounded, escaped, no token), 200 once it answers, 503 again when polling fails",
    () =>
      Effect.gen(function* () {
        const double = yield* startBotApiDouble()
        // Telegram's refusal quotes the request URL (with the token), a control character and a lot of text.
        const description = `Bad Gateway at /bot${double.token}/deleteWebhook (token ${double.token}) \u001b[31m${"x".repeat(500)}`
        double.failAlways("getMe", { error_code: 502, description })
        double.failAlways("deleteWebhook", { error_code: 502, description })
        const gw = yield* startGateway({
          gateway: { auth: { token: TOKEN } },
          channels: { telegram: { botToken: double.token, apiRoot: double.apiRoot, allowFrom: [4242] } }
        })
        // A channel that cannot reach its service does not hold start-up.
        expect((yield* probe(gw.port, "/startupz")).status).toBe(200)

        const failing = yield* probeUntil(gw.port, "/readyz", (p) => check(p, "channel:telegram")?.error !== "starting")
        expect(failing.status).toBe(503)
        expect(failing.body.status).toBe("not-ready")
        const tg = check(failing, "channel:telegram")!
        expect(tg.ok).toBe(false)
        expect(tg.error).toMatch(/^Telegram answered (getMe|deleteWebhook) with 502: Bad Gateway at \/bot\*\*\*\//)
        expect(tg.error!.length).toBeLessThanOrEqual(201)
        expect(tg.error).not.toContain("\u001b")
        expect(tg.error).toContain("\\u001b")
        for (const name of ["store", "listeners", "channels"]) expect(check(failing, name)).toEqual({ name, ok: true })
        expect(failing.text).not.toContain(double.token)
        expect(failing.text).not.toContain(double.token.split(":")[1])
        expect(failing.text).not.toContain(TOKEN)
        const head = yield* probe(gw.port, "/readyz", "HEAD")
        expect(head.status).toBe(503)
        expect(head.text).toBe("")

        // Telegram answers again: ready, with no restart.
        double.recover("getMe")
        double.recover("deleteWebhook")
        const ready = yield* probeUntil(gw.port, "/readyz", (p) => p.status === 200)
        expect(ready.body.status).toBe("ready")
        expect(check(ready, "channel:telegram")).toEqual({ name: "channel:telegram", ok: true })

        // Later the polling loop fails: not ready again until it recovers.
        yield* double.waitFor(() => double.calls.some((c) => c.method === "getUpdates"), 10_000, "the first poll")
        double.failAlways("getUpdates", { error_code: 500, description: "Internal Server Error" })
        // An update ends the long poll under way; the next poll is refused.
        double.push({})
        const lost = yield* probeUntil(gw.port, "/readyz", (p) => p.status === 503)
        expect(check(lost, "channel:telegram")).toEqual({
          name: "channel:telegram",
          ok: false,
          error: "Telegram answered getUpdates with 500: Internal Server Error"
        })
        expect((yield* probe(gw.port, "/startupz")).status).toBe(200)
        double.recover("getUpdates")
        const back = yield* probeUntil(gw.port, "/readyz", (p) => p.status === 200)
        expect(check(back, "channel:telegram")).toEqual({ name: "channel:telegram", ok: true })
        expect(back.text).not.toContain(double.token)
        // The poll after a failure does not wait for updates, so the recovery shows at once.
        expect(double.calls.some((c) => c.method === "getUpdates" && c.params.timeout === 0)).toBe(true)
      })
  )
})

describe("/readyz while stopping", () => {
  it.scopedLive("503 shutting-down while in-flight requests drain; /startupz still says started", () =>
    Effect.gen(function* () {
      const entered = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const Hold = method("test.hold", { requires: requiresScope("operator.admin"), result: Schema.Struct({ done: Schema.Boolean }) })
      const gatewayScope = yield* Scope.make()
      const gw = yield* startGateway(undefined, {
        methods: [
          serve(Hold, () => Deferred.succeed(entered, undefined).pipe(Effect.zipRight(Deferred.await(release)), Effect.as({ done: true })))
        ]
      }).pipe(Scope.extend(gatewayScope))
      expect((yield* probe(gw.port, "/readyz")).status).toBe(200)

      // A request whose headers are not finished yet: its connection is not idle, so stopping does not cut it.
      const socket = net.connect(gw.port, "127.0.0.1")
      const answer = new Promise<string>((resolve, reject) => {
        const chunks: Array<Buffer> = []
        socket.on("data", (c) => chunks.push(c))
        socket.on("error", reject)
        socket.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")))
      })
      yield* Effect.promise(() => new Promise<void>((resolve) => socket.once("connect", () => resolve())))
      socket.write(`GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\n`)

      const { peer } = yield* handshake(gw.url, connectParams({ auth: { token: TOKEN } }))
      peer.send({ type: "req", id: "hold-1", method: "test.hold" })
      yield* Deferred.await(entered)
      const closing = Effect.runFork(Scope.close(gatewayScope, Exit.void))
      // The shutdown event is the positive signal that the Gateway is stopping (and still draining test.hold).
      yield* Effect.promise(() => peer.waitFor((f) => f.event === "shutdown"))
      socket.write("Connection: close\r\n\r\n")
      const raw = yield* Effect.promise(() => answer)
      expect(raw).toMatch(/^HTTP\/1\.1 503 /)
      expect(JSON.parse(/\{.*\}/.exec(raw)![0])).toEqual({ ok: false, status: "shutting-down" })

      yield* Deferred.succeed(release, undefined)
      const res = yield* Effect.promise(() => peer.response("hold-1"))
      expect(res.ok).toBe(true)
      yield* closing.await
    })
  )
})
