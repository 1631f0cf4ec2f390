/**
 * What the WebChat (and OpenClaw's UI) reads of sessions, against a real Gateway through the real client:
 * the subscriptions (events while subscribed, none after unsubscribe or close: each shown by a later event that
 * does arrive, or by the Gateway saying it released them), their bounds and scope, stable message ids across
 * a reconnect, `chat.startup`, `sessions.describe`, `sessions.list`'s fields, and `chat` deltas a page can
 * render alone.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import type * as Response from "@effect/ai/Response"
import { ModelsFixed } from "../../src/layers/ModelsLive.js"
import { Agents, Core, SessionMethods } from "../../src/protocol/methods.js"
import type { EventFrame } from "../../src/protocol/frames.js"
import { connectOperator, type TestOperator } from "../support/client.js"
import { startGateway } from "../support/gateway.js"
import { lastUserText, scriptedModel, textReply } from "../support/model.js"

const A = "agent:main:webchat:alpha"
const B = "agent:main:webchat:beta"

/** A model that answers "You said: <text>", slowly (a part every 150 ms) when told "slow". */
const model = () =>
  scriptedModel((prompt) => {
    const said = lastUserText(prompt)
    if (said !== "slow") return textReply(`You said: ${said}`)
    const parts: Array<Response.StreamPartEncoded> = [
      { type: "text-start", id: "t" },
      ...["One ", "two ", "three ", "four."].map((delta): Response.StreamPartEncoded => ({ type: "text-delta", id: "t", delta })),
      { type: "text-end", id: "t" },
      { type: "finish", reason: "stop", usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } }
    ]
    return Stream.fromIterable(parts).pipe(Stream.tap(() => Effect.sleep("150 millis")))
  })

const gateway = () => startGateway(undefined, { models: ModelsFixed(model().model) })

/** Sends `message` to `sessionKey` and waits for the run's end. */
const say = (op: TestOperator, sessionKey: string, message: string) =>
  Effect.gen(function* () {
    const { runId } = yield* op.call(Agents.ChatSend, { sessionKey, message, idempotencyKey: `${sessionKey}:${message}` })
    yield* op.call(Agents.AgentWait, { runId, timeoutMs: 10_000 })
    return runId
  })

const isMessage =
  (key: string, pred: (m: any) => boolean = () => true) =>
  (e: EventFrame) =>
    e.event === "session.message" && (e.payload as any).sessionKey === key && pred((e.payload as any).message)

describe("session subscriptions", () => {
  it.scopedLive("sessions.changed and session.message while subscribed, with the ids chat.history has", () =>
    Effect.gen(function* () {
      const gw = yield* gateway()
      const page = yield* connectOperator(gw, { scopes: ["operator.read"] })
      const writer = yield* connectOperator(gw, { scopes: ["operator.write"] })
      expect(yield* page.call(SessionMethods.SessionsSubscribe)).toEqual({ subscribed: true })
      expect(yield* page.call(SessionMethods.SessionsMessagesSubscribe, { key: A })).toEqual({ subscribed: true, key: A })

      const runId = yield* say(writer, A, "hello")
      const created = yield* page.waitEvent((e) => e.event === "sessions.changed" && (e.payload as any).reason === "create")
      expect(created.payload).toMatchObject({ sessionKey: A, agentId: "main", session: { key: A, channel: "webchat" } })
      const user = yield* page.waitEvent(isMessage(A, (m) => m.role === "user"))
      const reply = yield* page.waitEvent(isMessage(A, (m) => m.role === "assistant"))
      expect(user.payload).toMatchObject({ messageSeq: 1, runId, message: { text: "hello", content: [{ type: "text", text: "hello" }] } })
      expect((reply.payload as any).message.text).toBe("You said: hello")

      // The events carry the transcript's own ids: a page merges history and events by them.
      const history = yield* page.call(SessionMethods.ChatHistory, { sessionKey: A })
      expect(history.messages.map((m) => m.id)).toEqual([(user.payload as any).messageId, (reply.payload as any).messageId])
      expect(history.messages.map((m) => m.__openclaw)).toEqual([
        { id: history.messages[0]!.id, seq: 1, runId, idempotencyKey: runId },
        { id: history.messages[1]!.id, seq: 2, runId }
      ])
      const appended = yield* page.waitEvent(
        (e) => e.event === "sessions.changed" && (e.payload as any).phase === "message" && (e.payload as any).messageSeq === 2
      )
      expect(appended.payload).toMatchObject({
        sessionKey: A,
        messageId: history.messages[1]!.id,
        session: { messageCount: 2, lastText: "You said: hello", lastMessagePreview: "You said: hello" }
      })

      // Reset and delete are told too.
      const admin = yield* connectOperator(gw)
      yield* admin.call(SessionMethods.SessionsReset, { key: A })
      yield* page.waitEvent((e) => e.event === "sessions.changed" && (e.payload as any).reason === "reset")
      yield* admin.call(SessionMethods.SessionsDelete, { key: A })
      const deleted = yield* page.waitEvent((e) => e.event === "sessions.changed" && (e.payload as any).reason === "delete")
      expect(deleted.payload).toEqual({ sessionKey: A, reason: "delete", ts: expect.any(Number) })
    })
  )

  it.scopedLive("nothing more after unsubscribe: a later session's event arrives, the unsubscribed one's do not", () =>
    Effect.gen(function* () {
      const gw = yield* gateway()
      const page = yield* connectOperator(gw, { scopes: ["operator.read"] })
      const writer = yield* connectOperator(gw, { scopes: ["operator.write"] })
      yield* page.call(SessionMethods.SessionsMessagesSubscribe, { key: A })
      yield* page.call(SessionMethods.SessionsMessagesSubscribe, { key: B })
      yield* page.call(SessionMethods.SessionsSubscribe)
      yield* say(writer, A, "first")
      yield* page.waitEvent(isMessage(A, (m) => m.text === "You said: first"))

      expect(yield* page.call(SessionMethods.SessionsMessagesUnsubscribe, { key: A })).toEqual({ subscribed: false, key: A })
      expect(yield* page.call(SessionMethods.SessionsUnsubscribe)).toEqual({ subscribed: false })
      const from = page.events.length
      // Changes are sent in the order they were committed: once B's second run is seen, A's run was long past.
      yield* say(writer, A, "second")
      yield* say(writer, B, "third")
      yield* say(writer, B, "fourth")
      yield* page.waitEvent(
        isMessage(B, (m) => m.text === "You said: fourth"),
        { from }
      )
      const since = page.events.slice(from)
      expect(since.filter(isMessage(A))).toEqual([])
      expect(since.filter((e) => e.event === "sessions.changed")).toEqual([])
    })
  )

  it.scopedLive("a closed connection's subscriptions are released", () =>
    Effect.gen(function* () {
      const gw = yield* gateway()
      const page = yield* connectOperator(gw, { scopes: ["operator.read"] })
      yield* page.call(SessionMethods.SessionsSubscribe)
      yield* page.call(SessionMethods.SessionsMessagesSubscribe, { key: A })
      const connId = page.connection.server.connId
      yield* page.close
      const admin = yield* connectOperator(gw, { scopes: ["operator.read"] })
      const released = `session subscriptions of ${connId} released`
      for (let i = 0; ; i++) {
        const logs = yield* admin.call(Core.LogsTail, { limit: 500 })
        if (logs.lines.some((l) => l.includes(released))) break
        if (i > 200) throw new Error(`not released: ${logs.lines.slice(-20).join("\n")}`)
        yield* Effect.sleep("20 millis")
      }
    })
  )

  it.scopedLive("bounded: 64 sessions per connection, keys of 512 characters; operator.read needed", () =>
    Effect.gen(function* () {
      const gw = yield* gateway()
      const page = yield* connectOperator(gw, { scopes: ["operator.read"] })
      for (let i = 0; i < SessionMethods.MAX_MESSAGE_SUBSCRIPTIONS; i++) {
        yield* page.call(SessionMethods.SessionsMessagesSubscribe, { key: `agent:main:k${i}` })
      }
      const over = yield* page.call(SessionMethods.SessionsMessagesSubscribe, { key: "agent:main:one-more" }).pipe(Effect.flip)
      expect(over).toMatchObject({ code: "INVALID_REQUEST", details: { code: "SUBSCRIPTION_LIMIT", limit: 64 } })
      // One already held counts once; one given up makes room.
      expect((yield* page.call(SessionMethods.SessionsMessagesSubscribe, { key: "agent:main:k0" })).subscribed).toBe(true)
      yield* page.call(SessionMethods.SessionsMessagesUnsubscribe, { key: "agent:main:k0" })
      expect((yield* page.call(SessionMethods.SessionsMessagesSubscribe, { key: "agent:main:one-more" })).subscribed).toBe(true)

      const long = yield* page.connection.request("sessions.messages.subscribe", { key: "k".repeat(513) }).pipe(Effect.flip)
      expect(long).toMatchObject({ code: "INVALID_REQUEST", message: expect.stringContaining("at most 512 characters") })
      const nobody = yield* connectOperator(gw, { scopes: [] })
      const refused = yield* nobody.call(SessionMethods.SessionsSubscribe).pipe(Effect.flip)
      expect(refused).toMatchObject({ code: "FORBIDDEN", details: { missingScope: "operator.read" } })
    })
  )
})

describe("sessions for a chat page", () => {
  it.scopedLive("chat.history ids are the same after a reconnect; chat.startup, sessions.describe and sessions.list", () =>
    Effect.gen(function* () {
      const gw = yield* gateway()
      const first = yield* connectOperator(gw)
      yield* say(first, A, "one")
      yield* say(first, A, "two")
      const before = yield* first.call(SessionMethods.ChatHistory, { sessionKey: A })
      yield* first.close

      const again = yield* connectOperator(gw, { scopes: ["operator.read"] })
      const after = yield* again.call(SessionMethods.ChatHistory, { sessionKey: A })
      expect(after.messages.map((m) => [m.id, m.seq, m.text])).toEqual(before.messages.map((m) => [m.id, m.seq, m.text]))
      expect(new Set(after.messages.map((m) => m.id)).size).toBe(4)
      expect(after.messages.every((m) => m.id === `${after.sessionId}:${m.seq}`)).toBe(true)

      const startup = yield* again.call(SessionMethods.ChatStartup, { sessionKey: A, limit: 2 })
      expect(startup.messages.map((m) => m.id)).toEqual(after.messages.slice(-2).map((m) => m.id))
      expect(startup).toMatchObject({ sessionId: after.sessionId, sessionInfo: { key: A, channel: "webchat", messageCount: 4 } })
      expect(startup.defaults).toEqual({ defaultAgentId: "main", mainKey: "main", mainSessionKey: "agent:main:main" })
      // A chat not started yet opens empty.
      expect(yield* again.call(SessionMethods.ChatStartup, { sessionKey: B })).toEqual({
        sessionKey: B,
        messages: [],
        defaults: startup.defaults
      })

      expect((yield* again.call(SessionMethods.SessionsDescribe, { key: A })).session).toMatchObject({ key: A, agentId: "main" })
      expect(yield* again.call(SessionMethods.SessionsDescribe, { key: B })).toEqual({ session: null })
      const other = yield* again.call(SessionMethods.SessionsDescribe, { key: A, agentId: "ops" }).pipe(Effect.flip)
      expect(other).toMatchObject({ details: { code: "UNKNOWN_AGENT" } })

      const list = yield* again.call(SessionMethods.SessionsList, { search: "alpha" })
      expect(list.sessions).toEqual([
        expect.objectContaining({ key: A, channel: "webchat", updatedAt: expect.any(Number), lastMessagePreview: "You said: two" })
      ])
      // OpenClaw's form: sessions.subscribe with sessions.list's params answers the list as well.
      const subscribed = yield* again.call(SessionMethods.SessionsSubscribe, { limit: 10 })
      expect(subscribed).toMatchObject({ subscribed: true, list: { count: 1, sessions: [{ key: A }] } })
    })
  )

  it.scopedLive("a chat delta carries the reply so far and what is new, so a page renders it without agent events", () =>
    Effect.gen(function* () {
      const gw = yield* gateway()
      const page = yield* connectOperator(gw, { scopes: ["operator.read", "operator.write"] })
      const { runId } = yield* page.call(Agents.ChatSend, { sessionKey: A, message: "slow", idempotencyKey: "slow-1" })
      const final = yield* page.waitEvent(
        (e) => e.event === "chat" && (e.payload as any).runId === runId && (e.payload as any).state === "final"
      )
      const deltas = page.events
        .filter((e) => e.event === "chat" && (e.payload as any).runId === runId && (e.payload as any).state === "delta")
        .map((e) => e.payload as Agents.ChatEvent)
      expect(deltas.length).toBeGreaterThanOrEqual(2)
      let rendered = ""
      for (const d of deltas) {
        rendered += d.deltaText
        expect(d.message?.content[0]?.text).toBe(rendered)
      }
      expect((final.payload as Agents.ChatEvent).message?.content[0]?.text).toBe("One two three four.")
      expect("One two three four.".startsWith(rendered)).toBe(true)
    })
  )
})
