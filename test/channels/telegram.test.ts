import { describe, expect, it } from "@effect/vitest"
import { HttpRoutesLive } from "../../src/layers/state/HttpRoutesLive.js"
import { Context, Effect, Either, Layer, Redacted } from "effect"
import { ChannelAdapters, Channels } from "../../src/services/Channels.js"
import { makeDispatcher } from "../../src/layers/DispatcherLive.js"
import { channelMethods } from "../../src/layers/methods/channels.js"
import { ChannelsLive } from "../../src/layers/ChannelsLive.js"
import {
  TELEGRAM_TEXT_LIMIT,
  TelegramAdapters,
  TelegramBot,
  TelegramBotLive,
  resolveTelegram,
  splitMessage,
  type TelegramBotOptions
} from "../../src/layers/TelegramBot.js"
import { TelegramPoller, isAllowed, refusalText } from "../../src/layers/TelegramPoller.js"
import type { CallContext } from "../../src/services/Dispatcher.js"
import { GatewayError } from "../../src/protocol/errors.js"
import { TEST_BOT_ID, TEST_BOT_USERNAME, startBotApiDouble, type BotApiDouble } from "../support/telegram.js"
import { captureLogs, fakeGatewayLog, fakeRunner, fakeSessions, makeRunner, makeStore, type FakeRunner, type FakeStore } from "./fakes.js"

const OWNER = 4242
const ctx = { role: "operator", scopes: ["operator.admin"], connId: "test" } as unknown as CallContext

interface Rig {
  readonly double: BotApiDouble
  readonly store: FakeStore
  readonly runner: FakeRunner
  readonly logs: Array<string>
}

const telegramConfig = (double: BotApiDouble, extra: Record<string, unknown> = {}) => ({
  channels: { telegram: { botToken: double.token, apiRoot: double.apiRoot, allowFrom: [OWNER, "@Friend"], ...extra } }
})

const fastBot: TelegramBotOptions = { identifyBackoff: { initial: "20 millis", max: "100 millis" } }

/** Bot + Channels + the poller over the fakes; built in the current scope (closing it stops polling). */
const startTelegram = (rig: Rig, extra: Record<string, unknown> = {}, botOptions: TelegramBotOptions = fastBot) =>
  Effect.gen(function* () {
    const settings = resolveTelegram(telegramConfig(rig.double, extra), {})
    const bot = TelegramBotLive(settings, botOptions)
    const channels = ChannelsLive.pipe(Layer.provideMerge(TelegramAdapters))
    const poller = TelegramPoller({ pollTimeoutSeconds: 1, backoff: { initial: "50 millis", max: "200 millis" } })
    const layer = Layer.mergeAll(poller, channels).pipe(
      Layer.provideMerge(bot),
      Layer.provideMerge(Layer.mergeAll(fakeSessions(rig.store), fakeRunner(rig.runner, rig.store), fakeGatewayLog(), HttpRoutesLive)),
      Layer.provide(captureLogs(rig.logs))
    )
    return yield* Layer.build(layer)
  })

/** Re-reads `effect` every 10 ms until `done` holds; its last value. */
const eventually = <A, E>(effect: Effect.Effect<A, E>, done: (a: A) => boolean) =>
  Effect.repeat(Effect.delay(effect, "10 millis"), { until: done })

const makeRig = Effect.map(startBotApiDouble(), (double): Rig => ({ double, store: makeStore(), runner: makeRunner(), logs: [] }))

describe("splitMessage", () => {
  it("keeps a short text whole and drops surrounding whitespace", () => {
    expect(splitMessage("  hello\n")).toEqual(["hello"])
    expect(splitMessage("   ")).toEqual([])
  })

  it("splits 9000 characters into 3 parts of at most 4096, in order, losing nothing but the cut whitespace", () => {
    const words = Array.from({ length: 1800 }, (_, i) => `w${String(i).padStart(3, "0")}`).join(" ") // 1800 × 5 - 1 = 8999
    const parts = splitMessage(words)
    expect(parts).toHaveLength(3)
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(TELEGRAM_TEXT_LIMIT)
    expect(parts.join(" ")).toBe(words)
  })

  it("prefers a paragraph, then a line, then a space, and never splits a surrogate pair", () => {
    const para = "a".repeat(3000) + "\n\n" + "b".repeat(1000) + "\n" + "c".repeat(1000)
    expect(splitMessage(para).map((p) => p[0])).toEqual(["a", "b"])
    const line = "a".repeat(3000) + "\n" + "b".repeat(1000) + " " + "c".repeat(1000)
    expect(splitMessage(line)[0]).toBe("a".repeat(3000))
    // No boundary at all: a hard cut, moved back so the emoji (2 code units) stays whole.
    const emoji = "x".repeat(4095) + "😀" + "y".repeat(10)
    const parts = splitMessage(emoji)
    expect(parts[0]).toBe("x".repeat(4095))
    expect(parts[1]!.startsWith("😀")).toBe(true)
    expect(parts.join("")).toBe(emoji)
  })
})

describe("the allowlist", () => {
  const msg = (fromId: number, chatId: number, username?: string) => ({
    from: { id: fromId, is_bot: false, first_name: "x", ...(username ? { username } : {}) },
    chat: { id: chatId, type: "private" as const, first_name: "x" }
  })
  it("matches a user id, a chat id, an @username (case-insensitive), or *; an empty list lets nobody in", () => {
    expect(isAllowed(["4242"], msg(4242, 4242))).toBe(true)
    expect(isAllowed([" -1001 "], { ...msg(7, -1001), chat: { id: -1001, type: "group" as const, title: "g" } })).toBe(true)
    expect(isAllowed(["@Friend"], msg(9, 9, "friend"))).toBe(true)
    expect(isAllowed(["FRIEND"], msg(9, 9, "Friend"))).toBe(true)
    expect(isAllowed(["telegram:9"], msg(9, 9))).toBe(true)
    expect(isAllowed(["*"], msg(1, 1))).toBe(true)
    expect(isAllowed([], msg(4242, 4242))).toBe(false)
    expect(isAllowed(["4242", "@friend"], msg(5, 5, "stranger"))).toBe(false)
  })
})

describe("Telegram over a Bot API double", () => {
  it.scopedLive(
    "an allowed user's message reaches AgentRunner.start with the chat's session key, the next offset and the update's key",
    () =>
      Effect.gen(function* () {
        const rig = yield* makeRig
        yield* startTelegram(rig)
        const id = rig.double.pushMessage({ chatId: OWNER, text: "hello agent" })
        yield* rig.double.waitFor(() => rig.runner.starts.length === 1, 10_000, "the run")
        const req = rig.runner.starts[0]!
        expect(req).toMatchObject({
          message: "hello agent",
          idempotencyKey: `telegram:${TEST_BOT_ID}:${id}`,
          sessionKey: `agent:main:telegram:${OWNER}`,
          deliver: true,
          channel: "telegram",
          to: String(OWNER),
          source: { channel: "telegram", sender: String(OWNER), peer: String(OWNER) },
          cursor: { channel: "telegram", account: String(TEST_BOT_ID), value: String(id + 1) }
        })
        // The poller stored nothing itself: the offset went with the message (the runner's transaction).
        expect(rig.store.setCursorCalls).toEqual([])
        // The next poll confirms the update to Telegram.
        yield* rig.double.waitFor(() => rig.double.calls.some((c) => c.method === "getUpdates" && c.params.offset === id + 1))
        expect(rig.double.calls.find((c) => c.method === "getUpdates")!.params).toMatchObject({ allowed_updates: ["message"], timeout: 1 })
        // A friend by @username, in order after the owner.
        const second = rig.double.pushMessage({ chatId: 77, username: "friend", text: "hi" })
        const third = rig.double.pushMessage({ chatId: 77, username: "friend", text: "again" })
        yield* rig.double.waitFor(() => rig.runner.starts.length === 3)
        expect(rig.runner.starts.map((r) => r.idempotencyKey)).toEqual([
          req.idempotencyKey,
          `telegram:${TEST_BOT_ID}:${second}`,
          `telegram:${TEST_BOT_ID}:${third}`
        ])
        expect(rig.runner.starts[1]!.source?.sender).toBe("@friend")
      })
  )

  it.scopedLive("a stranger is refused politely once per chat, logged and never run; the offset moves past them", () =>
    Effect.gen(function* () {
      const rig = yield* makeRig
      yield* startTelegram(rig)
      rig.double.pushMessage({ chatId: 999, username: "stranger", text: "let me in" })
      const last = rig.double.pushMessage({ chatId: 999, username: "stranger", text: "please" })
      yield* rig.double.waitFor(
        () => rig.store.cursors.get(`telegram:${TEST_BOT_ID}`) === String(last + 1),
        10_000,
        "the offset past the stranger"
      )
      expect(rig.runner.starts).toEqual([])
      expect(rig.double.sent.map((m) => [m.chat_id, m.text])).toEqual([[999, refusalText(999)]])
      expect(refusalText(999)).toBe("This bot is private; ask its owner to add your id 999 to channels.telegram.allowFrom")
      expect(rig.logs.filter((l) => l.includes("refused a message from user 999 (@stranger)"))).toHaveLength(1)
      // The owner is still served.
      rig.double.pushMessage({ chatId: OWNER, text: "me" })
      yield* rig.double.waitFor(() => rig.runner.starts.length === 1)
    })
  )

  it.scopedLive("an empty allowlist lets nobody in and says so in the log", () =>
    Effect.gen(function* () {
      const rig = yield* makeRig
      yield* startTelegram(rig, { allowFrom: [] })
      const id = rig.double.pushMessage({ chatId: OWNER, text: "hello" })
      yield* rig.double.waitFor(() => rig.store.cursors.get(`telegram:${TEST_BOT_ID}`) === String(id + 1))
      expect(rig.runner.starts).toEqual([])
      expect(rig.logs.some((l) => l.includes("allowFrom is empty"))).toBe(true)
    })
  )

  it.scopedLive("a message that is not text is skipped, and its offset stored", () =>
    Effect.gen(function* () {
      const rig = yield* makeRig
      yield* startTelegram(rig)
      const photo = rig.double.pushMessage({ chatId: OWNER })
      yield* rig.double.waitFor(() => rig.store.cursors.get(`telegram:${TEST_BOT_ID}`) === String(photo + 1))
      expect(rig.runner.starts).toEqual([])
      expect(rig.double.sent).toEqual([])
    })
  )

  it.scopedLive("a run that cannot be stored yet is retried: the update is asked for again, run once", () =>
    Effect.gen(function* () {
      const rig = yield* makeRig
      rig.runner.failNext = 2
      yield* startTelegram(rig)
      const id = rig.double.pushMessage({ chatId: OWNER, text: "hello" })
      yield* rig.double.waitFor(() => rig.runner.starts.length === 1)
      expect(rig.runner.starts[0]!.idempotencyKey).toBe(`telegram:${TEST_BOT_ID}:${id}`)
      expect(rig.logs.some((l) => l.includes("did not accept update") && l.includes("the store is busy"))).toBe(true)
    })
  )

  it.scopedLive("after a restart polling resumes from the stored offset: no update is handled twice", () =>
    Effect.gen(function* () {
      const rig = yield* makeRig
      const first = rig.double.pushMessage({ chatId: OWNER, text: "one" })
      rig.double.pushMessage({ chatId: OWNER, text: "two" })
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* startTelegram(rig)
          yield* rig.double.waitFor(() => rig.runner.starts.length === 2)
        })
      )
      // The Gateway died before its next getUpdates could confirm "two" to Telegram (the double still holds it).
      const polls = rig.double.calls.filter((c) => c.method === "getUpdates").length
      // A new process: the runner's dedupe memory is gone too, only the store survives.
      const fresh: FakeRunner = makeRunner()
      const three = rig.double.pushMessage({ chatId: OWNER, text: "three" })
      yield* startTelegram({ ...rig, runner: fresh })
      yield* rig.double.waitFor(() => fresh.starts.length === 1)
      const firstPoll = rig.double.calls.filter((c) => c.method === "getUpdates")[polls]!
      expect(firstPoll.params.offset).toBe(first + 2)
      expect(fresh.starts.map((r) => r.message)).toEqual(["three"])
      expect(fresh.starts[0]!.idempotencyKey).toBe(`telegram:${TEST_BOT_ID}:${three}`)
      // The poll after "three" confirms it to Telegram: by then everything that poll round returned was handled.
      yield* rig.double.waitFor(() => rig.double.calls.some((c) => c.method === "getUpdates" && c.params.offset === three + 1))
      expect(fresh.starts).toHaveLength(1)
    })
  )

  it.scopedLive("a long reply is split to Telegram's limit and sent in order", () =>
    Effect.gen(function* () {
      const rig = yield* makeRig
      const ctxt = yield* startTelegram(rig)
      const channels = Context.get(ctxt, Channels)
      const text = Array.from({ length: 9000 / 10 }, (_, i) => `line ${String(i).padStart(4, "0")}\n`).join("")
      const delivery = yield* channels.send({ channel: "telegram", to: String(OWNER), message: text })
      expect(rig.double.sent).toHaveLength(3)
      expect(delivery.messageIds).toEqual(rig.double.sent.map((m) => String(m.message_id)))
      for (const m of rig.double.sent) {
        expect(m.chat_id).toBe(OWNER)
        expect(m.text.length).toBeLessThanOrEqual(4096)
      }
      expect(rig.double.sent.map((m) => m.text).join("\n")).toBe(text.trim())
    })
  )

  it.scopedLive("a 429 is waited out for retry_after seconds, then the message goes", () =>
    Effect.gen(function* () {
      const rig = yield* makeRig
      const ctxt = yield* startTelegram(rig)
      const channels = Context.get(ctxt, Channels)
      rig.double.failNext("sendMessage", 1, { error_code: 429, description: "Too Many Requests: retry after 1", retry_after: 1 })
      const started = Date.now()
      const delivery = yield* channels.send({ channel: "telegram", to: String(OWNER), message: "patience" })
      const waited = Date.now() - started
      expect(waited).toBeGreaterThanOrEqual(950)
      expect(delivery.messageIds).toHaveLength(1)
      expect(rig.double.sent.map((m) => m.text)).toEqual(["patience"])
      const attempts = rig.double.calls.filter((c) => c.method === "sendMessage")
      expect(attempts).toHaveLength(2)
      expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(950)
      expect(rig.logs.some((l) => l.includes("flood control") && l.includes("1s"))).toBe(true)
    })
  )

  it.scopedLive("flood control gives up after its retries; a refused send is a Refused ChannelError with Telegram's description", () =>
    Effect.gen(function* () {
      const rig = yield* makeRig
      const ctxt = yield* startTelegram(rig, {}, { ...fastBot, maxFloodRetries: 1 })
      const channels = Context.get(ctxt, Channels)
      rig.double.failNext("sendMessage", 2, { error_code: 429, description: "Too Many Requests: retry after 0", retry_after: 0 })
      const flooded = yield* Effect.either(channels.send({ channel: "telegram", to: "1", message: "x" }))
      expect(Either.isLeft(flooded) && flooded.left.reason).toBe("Refused")
      rig.double.failNext("sendMessage", 1, { error_code: 400, description: "Bad Request: chat not found" })
      const refused = yield* Effect.either(channels.send({ channel: "telegram", to: "1", message: "x" }))
      expect(Either.isLeft(refused) && refused.left).toMatchObject({ reason: "Refused", channel: "telegram" })
      expect(Either.isLeft(refused) && refused.left.message).toContain("Bad Request: chat not found")
    })
  )

  it.scopedLive(
    "channels.status shows running with the bot's @username, then the last error while the Bot API fails, then running again",
    () =>
      Effect.gen(function* () {
        const rig = yield* makeRig
        const ctxt = yield* startTelegram(rig)
        const dispatcher = makeDispatcher(yield* channelMethods.pipe(Effect.provide(ctxt)))
        const status = () =>
          Effect.map(
            dispatcher.dispatch(ctx, "channels.status", {}),
            (r) => r as { channels: Array<Record<string, any>>; channelOrder: Array<string> }
          )
        yield* rig.double.waitFor(() => rig.double.calls.some((c) => c.method === "getUpdates"))
        const bot = Context.get(ctxt, TelegramBot)
        yield* eventually(bot.adapter.status, (s) => s.account !== undefined && s.state === "running")
        const ok = yield* status()
        expect(ok.channelOrder).toEqual(["telegram", "webchat"])
        expect(ok.channels[0]).toMatchObject({
          id: "telegram",
          configured: true,
          enabled: true,
          state: "running",
          mode: "polling",
          account: `@${TEST_BOT_USERNAME}`
        })
        expect(ok.channels[0]!.lastError).toBeUndefined()
        expect(ok.channels[1]).toMatchObject({ id: "webchat", state: "running" })

        rig.double.failAlways("getUpdates", { error_code: 502, description: "Bad Gateway" })
        yield* rig.double.waitFor(() => rig.double.calls.filter((c) => c.method === "getUpdates").length >= 3)
        yield* eventually(status(), (s) => s.channels[0]!.state === "error")
        const failing = (yield* status()).channels[0]!
        expect(failing.lastError.message).toContain("502")
        expect(failing.lastError.message).toContain("Bad Gateway")
        expect(failing.lastError.message).not.toContain(rig.double.token)

        rig.double.recover("getUpdates")
        rig.double.pushMessage({ chatId: OWNER, text: "back" })
        yield* rig.double.waitFor(() => rig.runner.starts.length === 1)
        const again = (yield* status()).channels[0]!
        expect(again.state).toBe("running")
        expect(again.lastError.message).toContain("Bad Gateway")
        expect(again.lastInboundAt).toBeGreaterThan(0)
      })
  )

  it.scopedLive("a wrong token: status is error with Telegram's refusal, and the token is in no error text", () =>
    Effect.gen(function* () {
      const rig = yield* makeRig
      const settings = resolveTelegram(
        { channels: { telegram: { botToken: "111:wrong-token-abcdef", apiRoot: rig.double.apiRoot, allowFrom: [1] } } },
        {}
      )
      const ctxt = yield* Layer.build(
        TelegramBotLive(settings, fastBot).pipe(Layer.provide(fakeGatewayLog()), Layer.provide(captureLogs(rig.logs)))
      )
      const bot = Context.get(ctxt, TelegramBot)
      const s = yield* eventually(bot.adapter.status, (st) => st.state === "error")
      expect(s.lastError?.message).toContain("401")
      expect(s.lastError?.message).not.toContain("wrong-token")
      yield* rig.double.waitFor(() => rig.logs.some((l) => l.includes("token was refused")))
      expect(rig.logs.join("\n")).not.toContain("wrong-token")
    })
  )
})

describe("Channels and the send method", () => {
  it.scopedLive("routes by channel id; unknown channels name the configured ones; webchat is explained; send dedupes by key", () =>
    Effect.gen(function* () {
      const rig = yield* makeRig
      const ctxt = yield* startTelegram(rig)
      const channels = Context.get(ctxt, Channels)
      const dispatcher = makeDispatcher(yield* channelMethods.pipe(Effect.provide(ctxt)))

      const unknown = yield* Effect.flip(channels.send({ channel: "signal", to: "1", message: "x" }))
      expect(unknown).toMatchObject({ reason: "UnknownChannel", message: 'unknown channel "signal" (configured: telegram)' })
      const web = yield* Effect.flip(channels.send({ channel: "webchat", to: "1", message: "x" }))
      expect(web.message).toContain("webchat is not a send target")

      // No channel named: the only configured one.
      const params = { to: String(OWNER), message: "from the CLI", idempotencyKey: "k-1" }
      const first = yield* dispatcher.dispatch(ctx, "send", params)
      expect(first).toMatchObject({
        runId: "k-1",
        channel: "telegram",
        to: String(OWNER),
        messageId: String(rig.double.sent[0]!.message_id)
      })
      const again = yield* dispatcher.dispatch(ctx, "send", params)
      expect(again).toEqual(first)
      expect(rig.double.sent).toHaveLength(1)

      const bad = yield* Effect.flip(dispatcher.dispatch(ctx, "send", { ...params, idempotencyKey: "k-2", channel: "signal" }))
      expect(bad).toBeInstanceOf(GatewayError)
      expect(bad).toMatchObject({ code: "INVALID_REQUEST", details: { code: "CHANNEL_UNKNOWN_CHANNEL", channel: "signal" } })
      const invalid = yield* Effect.flip(dispatcher.dispatch(ctx, "send", { to: "1" }))
      expect(invalid.message).toContain("invalid send params")

      // A failed send is not remembered: the same key may be retried.
      rig.double.failNext("sendMessage", 1, { error_code: 500, description: "Internal Server Error" })
      const failed = yield* Effect.flip(dispatcher.dispatch(ctx, "send", { ...params, idempotencyKey: "k-3" }))
      expect(failed).toMatchObject({ code: "UNAVAILABLE", retryable: true })
      yield* dispatcher.dispatch(ctx, "send", { ...params, idempotencyKey: "k-3" })
      expect(rig.double.sent).toHaveLength(2)
    })
  )

  it.effect("without Telegram: no adapter, status is the web chat alone, and send says what to configure", () =>
    Effect.gen(function* () {
      const settings = resolveTelegram({}, {})
      expect(settings).toMatchObject({ configured: false, enabled: false, botId: "default" })
      const layer = ChannelsLive.pipe(
        Layer.provideMerge(TelegramAdapters),
        Layer.provideMerge(TelegramBotLive(settings)),
        Layer.provide(fakeGatewayLog())
      )
      const { adapters } = yield* ChannelAdapters.pipe(Effect.provide(layer))
      expect(adapters).toEqual([])
      const dispatcher = makeDispatcher(yield* channelMethods.pipe(Effect.provide(layer)))
      const status = (yield* dispatcher.dispatch(ctx, "channels.status", {})) as { channelOrder: Array<string> }
      expect(status.channelOrder).toEqual(["webchat"])
      const err = yield* Effect.flip(dispatcher.dispatch(ctx, "send", { to: "1", message: "x", idempotencyKey: "k" }))
      expect(err.message).toContain("no messaging channel is configured")
      const named = yield* Effect.flip(
        dispatcher.dispatch(ctx, "send", { to: "1", message: "x", idempotencyKey: "k", channel: "telegram" })
      )
      expect(named.message).toContain("telegram is not configured")
    }).pipe(Effect.scoped)
  )

  it("the env token is used when the config has none; the config wins", () => {
    const env = { telegramBotToken: { value: "555:env", name: "TELEGRAM_BOT_TOKEN" } }
    const fromEnv = resolveTelegram({}, env)
    expect(fromEnv).toMatchObject({ configured: true, enabled: true, tokenSource: "TELEGRAM_BOT_TOKEN", botId: "555" })
    expect(fromEnv.token && Redacted.value(fromEnv.token)).toBe("555:env")
    // Redacted until the Bot API client is made: the settings printed show no token.
    expect(JSON.stringify(fromEnv)).not.toContain("555:env")
    const fromConfig = resolveTelegram({ channels: { telegram: { botToken: "666:cfg" } } }, env)
    expect(fromConfig).toMatchObject({ tokenSource: "channels.telegram.botToken", botId: "666" })
    expect(fromConfig.token && Redacted.value(fromConfig.token)).toBe("666:cfg")
    expect(resolveTelegram({ channels: { telegram: { botToken: "666:cfg", enabled: false } } }, {})).toMatchObject({
      configured: true,
      enabled: false
    })
    expect(
      resolveTelegram({ channels: { telegram: { botToken: "6:x", webhookUrl: "https://example.org/telegram/webhook" } } }, {}).mode
    ).toBe("webhook")
  })
})
