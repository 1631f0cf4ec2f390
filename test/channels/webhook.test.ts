import * as http from "node:http"
import { HttpRoutesLive } from "../../src/layers/state/HttpRoutesLive.js"
import type { AddressInfo } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer } from "effect"
import { TelegramBot, TelegramBotLive, resolveTelegram } from "../../src/layers/TelegramBot.js"
import { TelegramPoller } from "../../src/layers/TelegramPoller.js"
import { SECRET_HEADER, TELEGRAM_WEBHOOK_PATH } from "../../src/layers/TelegramWebhook.js"
import { GatewayStartError } from "../../src/services/GatewayServer.js"
import { HttpRoutes, type HttpRoutesService } from "../../src/services/HttpRoutes.js"
import { TEST_BOT_ID, startBotApiDouble, type BotApiDouble } from "../support/telegram.js"
import { TOKEN, startGateway } from "../support/gateway.js"
import { captureLogs, fakeGatewayLog, fakeRunner, fakeSessions, makeRunner, makeStore } from "./fakes.js"

const SECRET = "webhook-secret-0123456789abcdef"
const OWNER = 4242

/** The Gateway's HTTP routing in miniature: what GatewayServerLive does with HttpRoutes. */
const routeServer = (routes: HttpRoutesService) =>
  Effect.acquireRelease(
    Effect.async<{ server: http.Server; url: string }>((resume) => {
      const server = http.createServer((req, res) => {
        const route = routes.find(req.method, (req.url ?? "/").split("?")[0]!)
        if (route) return route(req, res)
        res.writeHead(404).end()
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }))
      )
    }),
    ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

const post = (url: string, body: unknown, secret?: string) =>
  Effect.promise(async () => {
    const res = await fetch(url + TELEGRAM_WEBHOOK_PATH, {
      method: "POST",
      headers: { "content-type": "application/json", ...(secret ? { [SECRET_HEADER]: secret } : {}) },
      body: typeof body === "string" ? body : JSON.stringify(body)
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  })

const message = (update_id: number, chatId: number, text: string) => ({
  update_id,
  message: {
    message_id: update_id,
    date: 0,
    chat: { id: chatId, type: "private", first_name: "x" },
    from: { id: chatId, is_bot: false, first_name: "x" },
    text
  }
})

const webhookGateway = (double: BotApiDouble, telegram: Record<string, unknown>) =>
  Effect.sync(() => {
    const store = makeStore()
    const runner = makeRunner()
    const logs: Array<string> = []
    const settings = resolveTelegram(
      {
        channels: {
          telegram: {
            botToken: double.token,
            apiRoot: double.apiRoot,
            allowFrom: [OWNER],
            webhookUrl: "https://bot.example.org/telegram/webhook",
            ...telegram
          }
        }
      },
      {}
    )
    const layer = TelegramPoller({ backoff: { initial: "20 millis", max: "100 millis" } }).pipe(
      Layer.provideMerge(TelegramBotLive(settings)),
      Layer.provideMerge(Layer.mergeAll(fakeSessions(store), fakeRunner(runner, store), fakeGatewayLog(), HttpRoutesLive)),
      Layer.provide(captureLogs(logs))
    )
    return { layer, store, runner, logs }
  })

describe("Telegram in webhook mode", () => {
  it.scopedLive("sets the webhook with the secret, serves updates at /telegram/webhook, refuses a wrong secret, runs an update once", () =>
    Effect.gen(function* () {
      const double = yield* startBotApiDouble()
      const gw = yield* webhookGateway(double, { webhookSecret: SECRET })
      const ctx = yield* Layer.build(gw.layer)
      const { url } = yield* routeServer(Context.get(ctx, HttpRoutes))
      yield* double.waitFor(() => double.calls.some((c) => c.method === "setWebhook"), 10_000, "setWebhook")
      expect(double.calls.find((c) => c.method === "setWebhook")!.params).toMatchObject({
        url: "https://bot.example.org/telegram/webhook",
        secret_token: SECRET,
        allowed_updates: ["message"],
        max_connections: 1
      })
      expect(double.calls.some((c) => c.method === "getUpdates")).toBe(false)

      const refused = yield* post(url, message(500, OWNER, "hi"), "not-the-secret")
      expect(refused.status).toBe(401)
      expect((yield* post(url, message(500, OWNER, "hi"))).status).toBe(401)
      expect(gw.runner.starts).toEqual([])
      expect(gw.logs.some((l) => l.includes("wrong or missing secret token"))).toBe(true)

      const ok = yield* post(url, message(500, OWNER, "hi"), SECRET)
      expect(ok).toEqual({ status: 200, body: { ok: true } })
      expect(gw.runner.starts.map((r) => [r.idempotencyKey, r.sessionKey, r.cursor?.value])).toEqual([
        [`telegram:${TEST_BOT_ID}:500`, `agent:main:telegram:${OWNER}`, "501"]
      ])
      // Telegram delivers it again (our 200 was lost): handled once.
      expect((yield* post(url, message(500, OWNER, "hi"), SECRET)).status).toBe(200)
      expect(gw.runner.starts).toHaveLength(1)

      // The runner cannot store it now: 500, so Telegram retries; the retry goes through.
      gw.runner.failNext = 1
      expect((yield* post(url, message(501, OWNER, "again"), SECRET)).status).toBe(500)
      expect((yield* post(url, message(501, OWNER, "again"), SECRET)).status).toBe(200)
      expect(gw.runner.starts.map((r) => r.message)).toEqual(["hi", "again"])

      // A stranger: refused once through sendMessage, 200 to Telegram.
      expect((yield* post(url, message(502, 999, "let me in"), SECRET)).status).toBe(200)
      expect(double.sent.map((m) => m.chat_id)).toEqual([999])
      expect((yield* post(url, "not json", SECRET)).status).toBe(400)

      const status = yield* Context.get(ctx, TelegramBot).adapter.status
      expect(status).toMatchObject({ mode: "webhook", state: "running" })
    })
  )

  it.scopedLive("on a real Gateway: the webhook is served on the Gateway's own port and the reply goes back through the Bot API", () =>
    Effect.gen(function* () {
      const double = yield* startBotApiDouble()
      const gw = yield* startGateway({
        gateway: { auth: { token: TOKEN } },
        channels: {
          telegram: {
            botToken: double.token,
            apiRoot: double.apiRoot,
            allowFrom: [OWNER],
            webhookUrl: "https://bot.example.org/telegram/webhook",
            webhookSecret: SECRET
          }
        }
      })
      const url = `http://127.0.0.1:${gw.port}`
      yield* double.waitFor(() => double.calls.some((c) => c.method === "setWebhook"), 10_000, "setWebhook")
      expect((yield* post(url, message(700, OWNER, "via webhook"), "wrong")).status).toBe(401)
      expect((yield* post(url, message(700, OWNER, "via webhook"), SECRET)).status).toBe(200)
      yield* double.waitFor(() => double.sent.length === 1, 15_000, "the reply")
      expect(double.sent[0]).toMatchObject({ chat_id: OWNER })
      expect(double.sent[0]!.text).toContain("via webhook")
      // Other paths and methods are the Gateway's as before.
      expect((yield* Effect.promise(() => fetch(url + "/healthz"))).status).toBe(200)
      expect((yield* Effect.promise(() => fetch(url + TELEGRAM_WEBHOOK_PATH))).status).toBe(404)
    })
  )

  it.scopedLive("a webhook URL without a secret is a startup error that says what to set", () =>
    Effect.gen(function* () {
      const double = yield* startBotApiDouble()
      const gw = yield* webhookGateway(double, {})
      const exit = yield* Effect.exit(Layer.build(gw.layer))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) ? (exit.cause as { error?: unknown }).error : undefined
      expect(error).toBeInstanceOf(GatewayStartError)
      expect((error as GatewayStartError).message).toContain("channels.telegram.webhookSecret")
    })
  )
})
