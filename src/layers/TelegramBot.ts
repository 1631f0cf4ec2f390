/**
 * The Telegram adapter's outbound half: a grammy `Api` pointed at
 * `channels.telegram.apiRoot` (default Telegram's), implementing the
 * `ChannelAdapter` port. `send` splits a long text to Telegram's 4096-unit
 * limit and waits out flood control (429 `retry_after`); `status` is the
 * channel's state as the adapter and the poller (TelegramPoller) record it.
 *
 * The settings are read once, when the Gateway starts: changing
 * `channels.telegram.*` takes a restart.
 *
 * It stays one file (a little over 350 lines): its settings, its splitting and
 * its API errors are small and belong to this adapter alone.
 */
import { Context, Data, Duration, Effect, Layer, Redacted, Ref, Schedule } from "effect"
// grammy is loaded only when a bot token is set (a dynamic import: the Gateway starts without it otherwise).
import type { Api } from "grammy"
import type { ClawgateConfig } from "../config/schema.js"
import { ChannelAdapters, ChannelError, type ChannelAdapter, type ChannelStatus, type Delivery } from "../services/Channels.js"
import { ConfigStore, type ConfigEnv } from "../services/Config.js"
import { GatewayLog } from "../services/GatewayLog.js"

/** Telegram's limit on a message's text, in UTF-16 code units (what Telegram counts). */
export const TELEGRAM_TEXT_LIMIT = 4096
export const TELEGRAM_CHANNEL = "telegram"

// ---------------------------------------------------------------------------
// Settings

export interface TelegramSettings {
  /** A bot token is set (config or env). */
  readonly configured: boolean
  /** Configured and not switched off with `channels.telegram.enabled: false`. */
  readonly enabled: boolean
  /** Redacted until the Bot API client is made: a settings object logged or put in an error shows nothing. */
  readonly token?: Redacted.Redacted<string> | undefined
  /** Where the token came from, for messages: `channels.telegram.botToken` or `TELEGRAM_BOT_TOKEN`. */
  readonly tokenSource?: string | undefined
  /** The numeric bot id (the token's prefix), or "default": names the stored update cursor. */
  readonly botId: string
  /** As configured, normalised to strings. Empty: nobody is answered. */
  readonly allowFrom: ReadonlyArray<string>
  readonly mode: "polling" | "webhook"
  readonly webhookUrl?: string | undefined
  readonly webhookSecret?: Redacted.Redacted<string> | undefined
  readonly apiRoot?: string | undefined
}

/** `channels.telegram` with the env fallback for the token (the config wins). */
export const resolveTelegram = (cfg: ClawgateConfig, env: ConfigEnv): TelegramSettings => {
  const tg = cfg.channels?.telegram
  const fromConfig = tg?.botToken
  const token = fromConfig ?? env.telegramBotToken?.value
  const tokenSource = fromConfig !== undefined ? "channels.telegram.botToken" : env.telegramBotToken?.name
  const prefix = token?.split(":")[0]
  const configured = token !== undefined && token !== ""
  return {
    configured,
    enabled: configured && tg?.enabled !== false,
    token: configured ? Redacted.make(token) : undefined,
    tokenSource,
    botId: prefix !== undefined && /^\d+$/.test(prefix) ? prefix : "default",
    allowFrom: (tg?.allowFrom ?? []).map((e) => String(e).trim()).filter((e) => e !== ""),
    mode: tg?.webhookUrl ? "webhook" : "polling",
    webhookUrl: tg?.webhookUrl,
    webhookSecret: tg?.webhookSecret !== undefined ? Redacted.make(tg.webhookSecret) : undefined,
    apiRoot: tg?.apiRoot
  }
}

// ---------------------------------------------------------------------------
// Splitting

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff

/**
 * Splits `text` into parts of at most `limit` UTF-16 code units, preferring to
 * cut at a paragraph, then a line, then a space, in the second half of a part;
 * a hard cut never splits a surrogate pair. The whitespace at a cut is dropped.
 */
export const splitMessage = (text: string, limit = TELEGRAM_TEXT_LIMIT): Array<string> => {
  const parts: Array<string> = []
  let rest = text.trim()
  while (rest.length > limit) {
    const window = rest.slice(0, limit + 1)
    const floor = Math.floor(limit / 2)
    let cut = -1
    for (const sep of ["\n\n", "\n", " "]) {
      const at = window.lastIndexOf(sep, limit - (sep === " " ? 0 : sep.length - 1))
      if (at >= floor) {
        cut = at
        break
      }
    }
    if (cut === -1) {
      cut = limit
      if (isHighSurrogate(rest.charCodeAt(cut - 1))) cut -= 1
    }
    const part = rest.slice(0, cut).trimEnd()
    if (part !== "") parts.push(part)
    rest = rest.slice(cut).trimStart()
  }
  if (rest !== "") parts.push(rest)
  return parts
}

// ---------------------------------------------------------------------------
// Calls to the Bot API

/** A failed Bot API call: Telegram's answer (`code`, `description`) or no answer at all (`transport`). */
export class TelegramApiError extends Data.TaggedError("TelegramApiError")<{
  readonly method: string
  readonly message: string
  readonly transport: boolean
  readonly code?: number | undefined
  readonly retryAfter?: number | undefined
}> {}

const mask = (text: string, token: string | undefined) => (token ? text.split(token).join("***") : text)

interface GrammyErrorShape {
  readonly name: "GrammyError"
  readonly error_code: number
  readonly description: string
  readonly parameters?: { readonly retry_after?: number }
}
const isGrammyError = (e: unknown): e is GrammyErrorShape =>
  e instanceof Error && e.name === "GrammyError" && typeof (e as { error_code?: unknown }).error_code === "number"

export const toApiError = (method: string, e: unknown, token: string | undefined): TelegramApiError => {
  if (isGrammyError(e)) {
    return new TelegramApiError({
      method,
      transport: e.error_code >= 500,
      code: e.error_code,
      retryAfter: e.parameters?.retry_after,
      message: mask(`Telegram answered ${method} with ${e.error_code}: ${e.description}`, token)
    })
  }
  // node-fetch puts the request URL (with the token in it) in its message: masked.
  const inner = e instanceof Error && e.name === "HttpError" ? (e as { error?: unknown }).error : e
  // The platform's fetch says "fetch failed" and puts the reason (ECONNREFUSED, ...) in `cause`.
  const cause = inner instanceof Error && inner.cause instanceof Error ? `: ${inner.cause.message}` : ""
  const why = inner instanceof Error ? `${inner.message}${cause}` : String(inner)
  return new TelegramApiError({
    method,
    transport: true,
    message: mask(`cannot reach the Telegram Bot API (${method}): ${why}`, token)
  })
}

// ---------------------------------------------------------------------------
// The service

export interface TelegramBotOptions {
  /** 429 answers waited out per message part before giving up (default 5). */
  readonly maxFloodRetries?: number
  /** A `retry_after` longer than this (seconds) is not waited out: the send fails (default 300). */
  readonly maxRetryAfterSeconds?: number
  /** Backoff of the background `getMe` (default 1 s doubling to 60 s). */
  readonly identifyBackoff?: { readonly initial: Duration.DurationInput; readonly max: Duration.DurationInput }
}

export interface TelegramBotService {
  readonly settings: TelegramSettings
  /** grammy's client for the Bot API (only there when `settings.configured`). */
  readonly api: Api
  /** Runs one Bot API call, interruptible (the HTTP request is aborted), with errors as TelegramApiError. */
  readonly call: <A>(method: string, f: (signal: AbortSignal) => Promise<A>) => Effect.Effect<A, TelegramApiError>
  readonly adapter: ChannelAdapter
  readonly setState: (state: "stopped" | "starting" | "running" | "error") => Effect.Effect<void>
  readonly recordError: (message: string) => Effect.Effect<void>
  readonly markInbound: Effect.Effect<void>
}

export class TelegramBot extends Context.Tag("clawgate/TelegramBot")<TelegramBot, TelegramBotService>() {}

/**
 * grammy on Node uses node-fetch, which recognises an abort signal by its class
 * name, and the minified bundle renames that class: calls would fail with
 * "Expected signal to be an instanceof AbortSignal". The platform's fetch with
 * the platform's signal (following grammy's) works bundled or not, and keeps
 * connections alive.
 */
const platformFetch = (url: unknown, init?: Record<string, unknown>): Promise<unknown> => {
  const outer = init?.signal as { aborted: boolean; addEventListener: (t: "abort", f: () => void) => void } | undefined | null
  const controller = new AbortController()
  if (outer) {
    if (outer.aborted) controller.abort()
    else outer.addEventListener("abort", () => controller.abort())
  }
  return globalThis.fetch(url as string, { ...(init as RequestInit), signal: controller.signal })
}

const numericChat = (to: string): number | string => (/^-?\d{1,15}$/.test(to) ? Number(to) : to)

export const makeTelegramBot = (settings: TelegramSettings, options: TelegramBotOptions = {}) =>
  Effect.gen(function* () {
    const log = yield* GatewayLog
    const token = settings.token && Redacted.value(settings.token)
    if (token) yield* log.addSecret(token)
    if (settings.webhookSecret) yield* log.addSecret(Redacted.value(settings.webhookSecret))
    // grammy is CommonJS: bundled, its exports may sit under `default`.
    const ApiClass = settings.configured
      ? yield* Effect.promise(() => import("grammy").then((m) => m.Api ?? (m as unknown as { default: typeof m }).default.Api))
      : undefined
    // Without a token nothing calls the Bot API (send and the workers check `enabled` first).
    const api =
      ApiClass && token
        ? new ApiClass(token, {
            ...(settings.apiRoot ? { apiRoot: settings.apiRoot.replace(/\/+$/, "") } : {}),
            fetch: platformFetch as never
          })
        : (undefined as unknown as Api)
    const maxFloodRetries = options.maxFloodRetries ?? 5
    const maxRetryAfter = options.maxRetryAfterSeconds ?? 300

    const status = yield* Ref.make<ChannelStatus>({
      id: TELEGRAM_CHANNEL,
      label: "Telegram",
      configured: settings.configured,
      enabled: settings.enabled,
      state: settings.enabled ? "starting" : "stopped",
      mode: settings.mode
    })
    const watchers = new Set<Effect.Effect<void>>()
    const update = (f: (s: ChannelStatus) => ChannelStatus) =>
      Effect.zipRight(
        Ref.update(status, f),
        Effect.forEach(watchers, (notify) => notify, { discard: true })
      )
    const setState: TelegramBotService["setState"] = (state) => update((s) => ({ ...s, state }))
    const recordError: TelegramBotService["recordError"] = (message) =>
      update((s) => ({ ...s, state: "error", lastError: { message: mask(message, token), at: Date.now() } }))

    const call: TelegramBotService["call"] = (method, f) =>
      Effect.tryPromise({
        // grammy types its signal as abort-controller's; the platform's is the same shape.
        try: (signal) => f(signal),
        catch: (e) => toApiError(method, e, token)
      })

    /** Retries `effect` after each 429, waiting Telegram's `retry_after` on the Effect clock. */
    const floodControlled = <A>(effect: Effect.Effect<A, TelegramApiError>, attempt = 0): Effect.Effect<A, TelegramApiError> =>
      Effect.catchIf(
        effect,
        (e) => e.code === 429 && attempt < maxFloodRetries && (e.retryAfter ?? 1) <= maxRetryAfter,
        (e) =>
          Effect.logWarning(`telegram: flood control on ${e.method}, waiting ${e.retryAfter ?? 1}s as Telegram asks`).pipe(
            Effect.zipRight(Effect.sleep(Duration.seconds(e.retryAfter ?? 1))),
            Effect.zipRight(floodControlled(effect, attempt + 1))
          )
      )

    const notEnabled = () =>
      new ChannelError({
        channel: TELEGRAM_CHANNEL,
        reason: "NotConfigured",
        message: settings.configured
          ? "telegram is switched off (channels.telegram.enabled is false)"
          : "telegram is not configured: set channels.telegram.botToken (or TELEGRAM_BOT_TOKEN) and channels.telegram.allowFrom"
      })

    const send = (to: string, text: string): Effect.Effect<Delivery, ChannelError> =>
      Effect.gen(function* () {
        if (!settings.enabled) return yield* notEnabled()
        const parts = splitMessage(text)
        if (parts.length === 0) {
          return yield* new ChannelError({
            channel: TELEGRAM_CHANNEL,
            reason: "Refused",
            message: "the message is empty: Telegram sends no empty text"
          })
        }
        const chatId = numericChat(to)
        const messageIds: Array<string> = []
        for (const [i, part] of parts.entries()) {
          const sent = yield* floodControlled(
            call("sendMessage", (signal) => api.sendMessage(chatId, part, undefined, signal as never))
          ).pipe(
            Effect.mapError((e) => {
              const done = parts.length > 1 ? ` (part ${i + 1} of ${parts.length}; ${i} sent)` : ""
              return new ChannelError({
                channel: TELEGRAM_CHANNEL,
                reason: e.transport ? "Transport" : "Refused",
                message: `${e.message}${done}`,
                cause: e
              })
            }),
            Effect.tapError((e) => recordError(e.message))
          )
          messageIds.push(String(sent.message_id))
          yield* update((s) => ({ ...s, lastOutboundAt: Date.now() }))
        }
        return { channel: TELEGRAM_CHANNEL, to, messageIds }
      })

    /** getMe now, within `timeoutMs`: the probe of `health {probe: true}`. */
    const probe = (timeoutMs: number) =>
      Effect.gen(function* () {
        if (!settings.enabled) return yield* Ref.get(status)
        const started = Date.now()
        const answer = yield* call("getMe", (signal) => api.getMe(signal as never)).pipe(
          Effect.timeoutFail({
            duration: Duration.millis(timeoutMs),
            onTimeout: () => `no answer from the Bot API within ${timeoutMs} ms`
          }),
          Effect.either
        )
        const error = answer._tag === "Left" ? (typeof answer.left === "string" ? answer.left : answer.left.message) : undefined
        return {
          ...(yield* Ref.get(status)),
          probe: { ok: error === undefined, ms: Date.now() - started, at: Date.now(), ...(error ? { error } : {}) }
        }
      })

    const adapter: ChannelAdapter = {
      id: TELEGRAM_CHANNEL,
      status: Ref.get(status),
      watch: (notify) =>
        Effect.acquireRelease(
          Effect.sync(() => void watchers.add(notify)),
          () => Effect.sync(() => void watchers.delete(notify))
        ),
      probe,
      send
    }

    // Who the bot is (@username), in the background: a Gateway starts even when Telegram is unreachable.
    if (settings.enabled) {
      const backoff = options.identifyBackoff ?? { initial: "1 second", max: "60 seconds" }
      const identify = call("getMe", (signal) => api.getMe(signal as never)).pipe(
        Effect.tapError((e) => recordError(e.message)),
        // A refused token (401) does not get better by asking again.
        Effect.retry({
          schedule: Schedule.exponential(backoff.initial).pipe(Schedule.union(Schedule.spaced(backoff.max))),
          while: (e) => e.transport || e.code === 429
        }),
        Effect.tap((me) => update((s) => ({ ...s, account: `@${me.username}`, state: s.state === "starting" ? "running" : s.state }))),
        Effect.tap((me) => Effect.logInfo(`telegram: bot @${me.username} (id ${me.id}), ${settings.mode}`)),
        Effect.catchAll((e) =>
          Effect.logError(
            e.code === 401 || e.code === 404
              ? `telegram: the bot token was refused (${e.message}); check ${settings.tokenSource ?? "channels.telegram.botToken"}`
              : `telegram: ${e.message}`
          )
        )
      )
      yield* Effect.forkScoped(identify)
    }

    return {
      settings,
      api,
      call,
      adapter,
      setState,
      recordError,
      markInbound: update((s) => ({ ...s, lastInboundAt: Date.now() }))
    } satisfies TelegramBotService
  })

export const TelegramBotLive = (settings: TelegramSettings, options: TelegramBotOptions = {}) =>
  Layer.scoped(TelegramBot, makeTelegramBot(settings, options))

/** The bot from `channels.telegram` (and TELEGRAM_BOT_TOKEN), read when the Gateway starts. */
export const TelegramBotFromConfig = (options: TelegramBotOptions = {}) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const config = yield* ConfigStore
      const cfg = yield* config.current.pipe(Effect.orElseSucceed((): ClawgateConfig => ({})))
      return TelegramBotLive(resolveTelegram(cfg, config.env), options)
    })
  )

/** The adapter list for Channels: Telegram once a token is set (switched off, it reports "stopped"). */
export const TelegramAdapters = Layer.effect(
  ChannelAdapters,
  Effect.map(TelegramBot, (bot) => ({ adapters: bot.settings.configured ? [bot.adapter] : [] }))
)
