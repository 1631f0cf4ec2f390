/**
 * The Telegram adapter's inbound half: a worker that long-polls `getUpdates`
 * and hands each allowed text message to the AgentRunner, one session per
 * chat (`agent:main:telegram:<chatId>`), with the reply delivered back to the
 * chat when the run ends.
 *
 * Nothing is lost and nothing runs twice: the next update offset is stored
 * by the runner in the same transaction as the user message (the request's
 * `cursor`), and polling resumes from the stored offset after a restart, so
 * an update is either in the transcript with its offset or asked for again.
 * The runner's idempotency key (`telegram:<botId>:<update_id>`) covers the
 * rest. Updates are handled one at a time, in Telegram's order, so each
 * chat's messages reach its session in order.
 *
 * Who may talk to the bot is `channels.telegram.allowFrom` (user ids, chat
 * ids, @usernames, or "*"); an empty list lets nobody in. A stranger gets one
 * polite refusal per chat (per Gateway run) and a log line; their update's
 * offset is stored so it is not handled again.
 */
import { Effect, Layer, Option, Ref, Schedule } from "effect"
import { Sessions } from "../services/Sessions.js"
import { TELEGRAM_CHANNEL, TelegramBot, type TelegramApiError, type TelegramBotService } from "./TelegramBot.js"
import { serveTelegramWebhook } from "./TelegramWebhook.js"

import { makeInbound, TelegramInboundError, type TelegramPollerOptions } from "./TelegramInbound.js"

export { isAllowed, makeInbound, refusalText, TelegramInboundError, type TelegramPollerOptions } from "./TelegramInbound.js"

const backoffSchedule = (options: TelegramPollerOptions) => {
  const b = options.backoff ?? { initial: "1 second", max: "30 seconds" }
  return Schedule.exponential(b.initial).pipe(Schedule.union(Schedule.spaced(b.max)))
}

type PollError = TelegramApiError | TelegramInboundError

/** Retries `effect` with backoff, recording each failure in the channel's status and the log. */
const supervised = <A>(bot: TelegramBotService, options: TelegramPollerOptions, effect: Effect.Effect<A, PollError>) =>
  effect.pipe(
    Effect.tapError((e) => Effect.zipRight(bot.recordError(e.message), Effect.logWarning(`telegram: ${e.message} (retrying)`))),
    Effect.retry(backoffSchedule(options))
  )

/** The polling loop, from the stored offset; runs until interrupted. */
export const pollTelegram = (options: TelegramPollerOptions = {}) =>
  Effect.gen(function* () {
    const bot = yield* TelegramBot
    const sessions = yield* Sessions
    const inbound = yield* makeInbound(options)
    const settings = bot.settings
    const timeout = options.pollTimeoutSeconds ?? 30
    const offset = yield* Ref.make<number | undefined>(undefined)
    // After a failed poll the next one does not wait for updates (timeout 0): Telegram's answer says at once that
    // the channel is back ("running", so the Gateway's /readyz recovers) instead of after a long poll.
    const recovering = yield* Ref.make(false)

    if (settings.allowFrom.length === 0) {
      yield* Effect.logWarning(
        "telegram: channels.telegram.allowFrom is empty, so nobody may talk to the bot: add your Telegram user id (see docs/channels.md)"
      )
    }

    const startup = Effect.gen(function* () {
      const stored = yield* sessions
        .cursor(TELEGRAM_CHANNEL, settings.botId)
        .pipe(
          Effect.mapError((e) => new TelegramInboundError({ message: `cannot read the stored Telegram offset: ${e.message}`, cause: e }))
        )
      const value = Option.flatMap(stored, (v) => (/^\d+$/.test(v) ? Option.some(Number(v)) : Option.none()))
      yield* Ref.set(offset, Option.getOrUndefined(value))
      // getUpdates is refused (409) while a webhook is set: polling mode removes it, keeping pending updates.
      yield* bot.call("deleteWebhook", (signal) => bot.api.deleteWebhook({ drop_pending_updates: false }, signal as never))
      // The Bot API answered with this token: the channel is up before its first long poll returns.
      yield* bot.setState("running")
      yield* Effect.logInfo(`telegram: polling from ${Option.isSome(value) ? `offset ${value.value}` : "the oldest pending update"}`)
    })

    const pollOnce = Effect.gen(function* () {
      const from = yield* Ref.get(offset)
      const wait = (yield* Ref.getAndSet(recovering, false)) ? 0 : timeout
      const updates = yield* bot.call("getUpdates", (signal) =>
        bot.api.getUpdates(
          { ...(from !== undefined ? { offset: from } : {}), timeout: wait, allowed_updates: ["message"] },
          signal as never
        )
      )
      yield* bot.setState("running")
      for (const update of updates) {
        if (from !== undefined && update.update_id < from) continue
        yield* inbound(update)
        yield* Ref.set(offset, update.update_id + 1)
      }
    }).pipe(Effect.tapError(() => Ref.set(recovering, true)))

    yield* bot.setState("starting")
    yield* supervised(bot, options, startup)
    return yield* Effect.forever(supervised(bot, options, pollOnce))
  })

/**
 * The inbound worker for a Gateway: polls while Telegram is enabled (or, with
 * `channels.telegram.webhookUrl`, serves the webhook on the Gateway's port),
 * and does nothing when Telegram is not configured or switched off. Needs the
 * TelegramBot shared with the Channels adapter (so both report one status),
 * the AgentRunner, Sessions and HttpRoutes (for the webhook).
 */
export const TelegramPoller = (options: TelegramPollerOptions = {}) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const bot = yield* TelegramBot
      if (!bot.settings.enabled) return
      if (bot.settings.mode === "webhook") return yield* serveTelegramWebhook(options)
      yield* Effect.forkScoped(pollTelegram(options))
    })
  )
