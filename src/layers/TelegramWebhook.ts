/**
 * Telegram in webhook mode (`channels.telegram.webhookUrl` set): the Gateway
 * asks Telegram (`setWebhook`) to POST each update to that URL, which must
 * reach this Gateway's port at `/telegram/webhook` (a reverse proxy, or
 * Tailscale Funnel). Every POST must carry `channels.telegram.webhookSecret`
 * in `X-Telegram-Bot-Api-Secret-Token`; anything else is refused.
 *
 * An update is answered 200 only once it is handled (for a text message:
 * once the runner has stored it), so Telegram sends it again after a crash;
 * the runner's idempotency key and the stored offset make the second delivery
 * a no-op. `max_connections: 1` and one update at a time keep each chat in
 * order.
 */
import { timingSafeEqual } from "node:crypto"
import type * as http from "node:http"
import { Effect, Exit, Option, Redacted, Runtime, Schedule } from "effect"
import type { Update } from "grammy/types"
import { GatewayStartError } from "../services/GatewayServer.js"
import { HttpRoutes } from "../services/HttpRoutes.js"
import { Sessions } from "../services/Sessions.js"
import { TELEGRAM_CHANNEL, TelegramBot } from "./TelegramBot.js"
import { makeInbound, type TelegramPollerOptions } from "./TelegramInbound.js"

export const TELEGRAM_WEBHOOK_PATH = "/telegram/webhook"
export const SECRET_HEADER = "x-telegram-bot-api-secret-token"
const MAX_BODY_BYTES = 1024 * 1024

const sameSecret = (given: string | string[] | undefined, expected: string) => {
  if (typeof given !== "string") return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

const answer = (res: http.ServerResponse, status: number, body: unknown) => {
  if (res.writableEnded) return
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
  res.end(JSON.stringify(body))
}

/** Registers the webhook route and tells Telegram where it is; the route goes with the scope. */
export const serveTelegramWebhook = (options: TelegramPollerOptions = {}) =>
  Effect.gen(function* () {
    const bot = yield* TelegramBot
    const routes = yield* HttpRoutes
    const sessions = yield* Sessions
    const settings = bot.settings
    const url = settings.webhookUrl
    if (!url) {
      return yield* new GatewayStartError({
        message: "channels.telegram.webhookUrl is not set: the Telegram webhook has no address to register"
      })
    }
    const secret = settings.webhookSecret
    if (!secret) {
      return yield* new GatewayStartError({
        message:
          "channels.telegram.webhookUrl is set but channels.telegram.webhookSecret is not: set a long random secret " +
          "(Telegram sends it with every update, so no one else can post to the webhook), or unset webhookUrl to use polling"
      })
    }
    const inbound = yield* makeInbound(options)
    const lock = yield* Effect.makeSemaphore(1)
    // Updates below the stored offset were handled already (a redelivery after a crash).
    const stored = yield* sessions.cursor(TELEGRAM_CHANNEL, settings.botId).pipe(
      Effect.map(Option.flatMap((v) => (/^\d+$/.test(v) ? Option.some(Number(v)) : Option.none()))),
      Effect.orElseSucceed(() => Option.none<number>())
    )
    let next = Option.getOrUndefined(stored)
    const runtime = yield* Effect.runtime<never>()
    const runCallback = Runtime.runCallback(runtime)

    const handle = (update: Update) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          if (next !== undefined && update.update_id < next) {
            yield* Effect.logDebug(`telegram: webhook update ${update.update_id} was handled before; ignored`)
            return
          }
          yield* inbound(update)
          next = update.update_id + 1
          yield* bot.setState("running")
        })
      )

    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (!sameSecret(req.headers[SECRET_HEADER], Redacted.value(secret))) {
        runCallback(Effect.logWarning(`telegram: webhook POST from ${req.socket.remoteAddress} refused: wrong or missing secret token`))
        req.resume()
        return answer(res, 401, { ok: false, error: "wrong or missing X-Telegram-Bot-Api-Secret-Token" })
      }
      const chunks: Array<Buffer> = []
      let size = 0
      req.on("data", (c: Buffer) => {
        size += c.length
        if (size > MAX_BODY_BYTES) {
          answer(res, 413, { ok: false, error: "update too large" })
          req.destroy()
        } else chunks.push(c)
      })
      req.on("end", () => {
        if (res.writableEnded) return
        let update: Update
        try {
          update = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Update
        } catch {
          return answer(res, 400, { ok: false, error: "body is not JSON" })
        }
        if (typeof update !== "object" || update === null || typeof update.update_id !== "number") {
          return answer(res, 400, { ok: false, error: "not a Telegram update (no update_id)" })
        }
        runCallback(handle(update), {
          onExit: (exit) => {
            if (Exit.isSuccess(exit)) return answer(res, 200, { ok: true })
            // Not stored: Telegram will send it again.
            const message = Exit.isFailure(exit) ? String(exit.cause).slice(0, 300) : "failed"
            runCallback(bot.recordError(`webhook update ${update.update_id} not handled (Telegram will retry): ${message}`))
            answer(res, 500, { ok: false, error: "not handled; retry later" })
          }
        })
      })
    }

    yield* routes.add("POST", TELEGRAM_WEBHOOK_PATH, onRequest)
    if (settings.allowFrom.length === 0) {
      yield* Effect.logWarning(
        "telegram: channels.telegram.allowFrom is empty, so nobody may talk to the bot: add your Telegram user id (see docs/channels.md)"
      )
    }
    if (new URL(url).pathname !== TELEGRAM_WEBHOOK_PATH) {
      yield* Effect.logWarning(
        `telegram: channels.telegram.webhookUrl ends in ${new URL(url).pathname}, but the Gateway serves the webhook at ${TELEGRAM_WEBHOOK_PATH}: make your proxy forward it there`
      )
    }

    // Tell Telegram where to post, in the background (a Gateway starts even when Telegram is unreachable).
    const backoff = options.backoff ?? { initial: "1 second", max: "30 seconds" }
    const register = bot
      .call("setWebhook", (signal) =>
        bot.api.setWebhook(
          url,
          { secret_token: Redacted.value(secret), allowed_updates: ["message"], max_connections: 1, drop_pending_updates: false },
          signal as never
        )
      )
      .pipe(
        Effect.tapError((e) => bot.recordError(e.message)),
        Effect.retry(Schedule.exponential(backoff.initial).pipe(Schedule.union(Schedule.spaced(backoff.max)))),
        Effect.zipRight(bot.setState("running")),
        Effect.zipRight(Effect.logInfo(`telegram: webhook set to ${url} (served at ${TELEGRAM_WEBHOOK_PATH})`))
      )
    yield* bot.setState("starting")
    yield* Effect.forkScoped(register)
  })
