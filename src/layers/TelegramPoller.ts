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
import { Data, Duration, Effect, Layer, Option, Ref, Schedule } from "effect"
import type { Message, Update } from "grammy/types"
import type { GatewayError } from "../protocol/errors.js"
import { AgentRunner } from "../services/AgentRunner.js"
import { Sessions, sessionKeyFor, type SessionsError } from "../services/Sessions.js"
import { TELEGRAM_CHANNEL, TelegramBot, type TelegramApiError, type TelegramBotService } from "./TelegramBot.js"
import { serveTelegramWebhook } from "./TelegramWebhook.js"

export interface TelegramPollerOptions {
  /** The long poll's `timeout` in seconds (default 30). */
  readonly pollTimeoutSeconds?: number
  /** Backoff after a failed poll (default 1 s doubling to 30 s). */
  readonly backoff?: { readonly initial: Duration.DurationInput; readonly max: Duration.DurationInput }
  /** The agent whose sessions Telegram chats are (default "main"). */
  readonly agentId?: string
}

/** A failure that is worth retrying after a pause (storage, the runner, the Bot API). */
export class TelegramInboundError extends Data.TaggedError("TelegramInboundError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

const normalise = (entry: string) => entry.trim().toLowerCase().replace(/^(telegram|tg):/, "")

/** Whether `allowFrom` lets this message's sender (user id, chat id or @username) in. */
export const isAllowed = (allowFrom: ReadonlyArray<string>, message: Pick<Message, "from" | "chat">): boolean => {
  const ids = new Set([String(message.chat.id), ...(message.from ? [String(message.from.id)] : [])])
  const names = new Set(
    [message.from?.username, "username" in message.chat ? message.chat.username : undefined]
      .filter((n): n is string => typeof n === "string")
      .map((n) => n.toLowerCase())
  )
  return allowFrom.some((raw) => {
    const entry = normalise(raw)
    if (entry === "*") return true
    if (/^-?\d+$/.test(entry)) return ids.has(entry)
    return names.has(entry.replace(/^@/, ""))
  })
}

export const refusalText = (id: number | string) =>
  `This bot is private; ask its owner to add your id ${id} to channels.telegram.allowFrom`

const describeSender = (message: Message) => {
  const from = message.from
  const who = from ? `user ${from.id}${from.username ? ` (@${from.username})` : ""}` : "an unknown sender"
  return `${who} in chat ${message.chat.id}`
}

/**
 * Handles one update: runs an allowed text message, refuses a stranger once,
 * skips anything else. Fails only with what is worth retrying (the update is
 * then asked for again).
 */
export const makeInbound = (options: TelegramPollerOptions = {}) =>
  Effect.gen(function* () {
    const bot = yield* TelegramBot
    const runner = yield* AgentRunner
    const sessions = yield* Sessions
    const settings = bot.settings
    const account = settings.botId
    const agentId = options.agentId ?? "main"
    const refused = new Set<string>()

    const storeCursor = (update: Update) =>
      sessions.setCursor({ channel: TELEGRAM_CHANNEL, account, value: String(update.update_id + 1) }).pipe(
        Effect.mapError((e: SessionsError) => new TelegramInboundError({ message: `cannot store the Telegram offset: ${e.message}`, cause: e }))
      )

    const refuse = (update: Update, message: Message) =>
      Effect.gen(function* () {
        const chatKey = String(message.chat.id)
        if (refused.has(chatKey)) {
          yield* Effect.logInfo(`telegram: ignored a message from ${describeSender(message)}: not in channels.telegram.allowFrom (already told)`)
        } else {
          refused.add(chatKey)
          yield* Effect.logWarning(
            `telegram: refused a message from ${describeSender(message)}: not in channels.telegram.allowFrom` +
              (settings.allowFrom.length === 0 ? " (the allowlist is empty: nobody is allowed)" : "")
          )
          yield* bot.adapter.send(chatKey, refusalText(message.from?.id ?? message.chat.id)).pipe(
            Effect.catchAll((e) => Effect.logWarning(`telegram: could not send the refusal to chat ${chatKey}: ${e.message}`))
          )
        }
        yield* storeCursor(update)
      })

    const run = (update: Update, message: Message & { text: string }) =>
      Effect.gen(function* () {
        const chatId = String(message.chat.id)
        const from = message.from
        const accepted = yield* runner
          .start({
            message: message.text,
            idempotencyKey: `telegram:${account}:${update.update_id}`,
            agentId,
            sessionKey: sessionKeyFor(agentId, TELEGRAM_CHANNEL, chatId),
            deliver: true,
            channel: TELEGRAM_CHANNEL,
            to: chatId,
            source: {
              channel: TELEGRAM_CHANNEL,
              sender: from ? (from.username ? `@${from.username}` : String(from.id)) : undefined,
              peer: chatId
            },
            cursor: { channel: TELEGRAM_CHANNEL, account, value: String(update.update_id + 1) }
          })
          .pipe(
            Effect.catchIf(
              (e: GatewayError) => e.code !== "UNAVAILABLE" && e.retryable !== true,
              // The runner will never take this one (say it is invalid): skip it rather than stall the chat.
              (e) =>
                Effect.logError(`telegram: update ${update.update_id} from ${describeSender(message)} was not accepted: ${e.message}; skipped`).pipe(
                  Effect.zipRight(storeCursor(update)),
                  Effect.as(undefined)
                )
            ),
            Effect.mapError((e) =>
              e instanceof TelegramInboundError ? e : new TelegramInboundError({ message: `the agent runner did not accept update ${update.update_id}: ${e.message}`, cause: e })
            )
          )
        if (accepted) {
          yield* Effect.logInfo(
            `telegram: update ${update.update_id} from ${describeSender(message)} → run ${accepted.runId}${accepted.deduped ? " (already stored)" : ""}`
          )
        }
      })

    return (update: Update): Effect.Effect<void, TelegramInboundError> =>
      Effect.gen(function* () {
        const message = update.message
        if (message === undefined || typeof message.text !== "string") {
          // Not a text message (or not a message at all): nothing to run; move past it.
          yield* Effect.logDebug(`telegram: skipped update ${update.update_id} (not a text message)`)
          return yield* storeCursor(update)
        }
        yield* bot.markInbound
        if (!isAllowed(settings.allowFrom, message)) return yield* refuse(update, message)
        yield* run(update, message as Message & { text: string })
      })
  })

const backoffSchedule = (options: TelegramPollerOptions) => {
  const b = options.backoff ?? { initial: "1 second", max: "30 seconds" }
  return Schedule.exponential(b.initial).pipe(Schedule.union(Schedule.spaced(b.max)))
}

type PollError = TelegramApiError | TelegramInboundError

/** Retries `effect` with backoff, recording each failure in the channel's status and the log. */
const supervised = <A>(bot: TelegramBotService, options: TelegramPollerOptions, effect: Effect.Effect<A, PollError>) =>
  effect.pipe(
    Effect.tapError((e) =>
      Effect.zipRight(bot.recordError(e.message), Effect.logWarning(`telegram: ${e.message} (retrying)`))
    ),
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

    if (settings.allowFrom.length === 0) {
      yield* Effect.logWarning(
        "telegram: channels.telegram.allowFrom is empty, so nobody may talk to the bot: add your Telegram user id (see docs/channels.md)"
      )
    }

    const startup = Effect.gen(function* () {
      const stored = yield* sessions.cursor(TELEGRAM_CHANNEL, settings.botId).pipe(
        Effect.mapError((e) => new TelegramInboundError({ message: `cannot read the stored Telegram offset: ${e.message}`, cause: e }))
      )
      const value = Option.flatMap(stored, (v) => (/^\d+$/.test(v) ? Option.some(Number(v)) : Option.none()))
      yield* Ref.set(offset, Option.getOrUndefined(value))
      // getUpdates is refused (409) while a webhook is set: polling mode removes it, keeping pending updates.
      yield* bot.call("deleteWebhook", (signal) => bot.api.deleteWebhook({ drop_pending_updates: false }, signal as never))
      yield* Effect.logInfo(
        `telegram: polling from ${Option.isSome(value) ? `offset ${value.value}` : "the oldest pending update"}`
      )
    })

    const pollOnce = Effect.gen(function* () {
      const from = yield* Ref.get(offset)
      const updates = yield* bot.call("getUpdates", (signal) =>
        bot.api.getUpdates(
          { ...(from !== undefined ? { offset: from } : {}), timeout, allowed_updates: ["message"] },
          signal as never
        )
      )
      yield* bot.setState("running")
      for (const update of updates) {
        if (from !== undefined && update.update_id < from) continue
        yield* inbound(update)
        yield* Ref.set(offset, update.update_id + 1)
      }
    })

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
