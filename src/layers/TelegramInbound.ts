/**
 * One Telegram message in: the allowlist, the sender's session, the agent
 * run, and the offset committed in the same transaction as the message.
 * Shared by long polling (TelegramPoller) and the webhook (TelegramWebhook).
 */
import { Data, type Duration, Effect } from "effect"
import type { Message, Update } from "grammy/types"
import type { GatewayError } from "../protocol/errors.js"
import { AgentRunner } from "../services/AgentRunner.js"
import { Sessions, sessionKeyFor, type SessionsError } from "../services/Sessions.js"
import { TELEGRAM_CHANNEL, TelegramBot } from "./TelegramBot.js"
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

const normalise = (entry: string) =>
  entry
    .trim()
    .toLowerCase()
    .replace(/^(telegram|tg):/, "")

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

export const refusalText = (id: number | string) => `This bot is private; ask its owner to add your id ${id} to channels.telegram.allowFrom`

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
      sessions
        .setCursor({ channel: TELEGRAM_CHANNEL, account, value: String(update.update_id + 1) })
        .pipe(
          Effect.mapError(
            (e: SessionsError) => new TelegramInboundError({ message: `cannot store the Telegram offset: ${e.message}`, cause: e })
          )
        )

    const refuse = (update: Update, message: Message) =>
      Effect.gen(function* () {
        const chatKey = String(message.chat.id)
        if (refused.has(chatKey)) {
          yield* Effect.logInfo(
            `telegram: ignored a message from ${describeSender(message)}: not in channels.telegram.allowFrom (already told)`
          )
        } else {
          refused.add(chatKey)
          yield* Effect.logWarning(
            `telegram: refused a message from ${describeSender(message)}: not in channels.telegram.allowFrom` +
              (settings.allowFrom.length === 0 ? " (the allowlist is empty: nobody is allowed)" : "")
          )
          yield* bot.adapter
            .send(chatKey, refusalText(message.from?.id ?? message.chat.id))
            .pipe(Effect.catchAll((e) => Effect.logWarning(`telegram: could not send the refusal to chat ${chatKey}: ${e.message}`)))
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
                Effect.logError(
                  `telegram: update ${update.update_id} from ${describeSender(message)} was not accepted: ${e.message}; skipped`
                ).pipe(Effect.zipRight(storeCursor(update)), Effect.as(undefined))
            ),
            Effect.mapError((e) =>
              e instanceof TelegramInboundError
                ? e
                : new TelegramInboundError({
                    message: `the agent runner did not accept update ${update.update_id}: ${e.message}`,
                    cause: e
                  })
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
