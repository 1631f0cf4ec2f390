/**
 * The session methods over the Sessions store: `sessions.list`,
 * `sessions.describe`, `chat.history`, `chat.startup` and the subscriptions
 * (operator.read; the subscriptions themselves are in sessionFeed.ts),
 * `sessions.reset`, `sessions.delete` (operator.admin).
 */
import { Effect } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { SessionMethods } from "../../protocol/methods.js"
import { ConfigStore } from "../../services/Config.js"
import { serve } from "../../services/Dispatcher.js"
import { MAIN_SESSION_KEY, SESSION_DEFAULTS, Sessions, type SessionsError } from "../../services/Sessions.js"
import { databasePath } from "../Database.js"
import { makeSessionFeed } from "./sessionFeed.js"
import { historyMessage, knownAgent, sessionRow } from "./sessionRows.js"

/** How many transcript entries `chat.history` returns without a `limit` (the newest ones). */
export const HISTORY_DEFAULT_LIMIT = 200

const unknownKey = (key: string) => GatewayError.invalidRequest(`unknown session key: ${key}`, { code: "UNKNOWN_SESSION", key })

/** NotFound → INVALID_REQUEST naming the key; a storage failure → UNAVAILABLE (retryable). */
const toGatewayError = (key: string) => (e: SessionsError) =>
  e.reason === "NotFound" ? unknownKey(key) : GatewayError.unavailable(e.message)

export const sessionMethods = Effect.gen(function* () {
  const sessions = yield* Sessions
  const config = yield* ConfigStore
  const dbPath = databasePath(config.paths.stateDir)
  const feed = yield* makeSessionFeed

  const list = (p: { readonly limit?: number | undefined; readonly search?: string | undefined }) =>
    Effect.gen(function* () {
      const rows = yield* sessions
        .list({ limit: p.limit, search: p.search })
        .pipe(Effect.mapError((e) => GatewayError.unavailable(e.message)))
      return { ts: Date.now(), path: dbPath, count: rows.length, defaults: SESSION_DEFAULTS, sessions: rows.map(sessionRow) }
    })

  /** A session's info and newest entries; `undefined` info for a key with no session. */
  const transcript = (sessionKey: string, limit: number | undefined) =>
    Effect.gen(function* () {
      const info = yield* sessions.get(sessionKey).pipe(Effect.mapError(toGatewayError(sessionKey)))
      if (info._tag === "None") return { info: undefined, messages: [] }
      const entries = yield* sessions
        .history(sessionKey, { limit: limit ?? HISTORY_DEFAULT_LIMIT })
        .pipe(Effect.mapError(toGatewayError(sessionKey)))
      return { info: info.value, messages: entries.map(historyMessage) }
    })

  return [
    serve(SessionMethods.SessionsList, list),

    serve(SessionMethods.ChatHistory, ({ sessionKey, limit, agentId }) =>
      Effect.gen(function* () {
        yield* knownAgent(agentId)
        const { info, messages } = yield* transcript(sessionKey, limit)
        if (info === undefined) {
          // The operator's main chat exists before its first message (clients open it at start).
          if (sessionKey === MAIN_SESSION_KEY) return { sessionKey, messages: [] }
          return yield* unknownKey(sessionKey)
        }
        return { sessionKey, sessionId: info.sessionId, messages }
      })
    ),

    // A chat page opening a session: a key with no session yet (a new chat) answers an empty history.
    serve(SessionMethods.ChatStartup, ({ sessionKey, limit, agentId }) =>
      Effect.gen(function* () {
        yield* knownAgent(agentId)
        const { info, messages } = yield* transcript(sessionKey, limit)
        return {
          sessionKey,
          ...(info !== undefined ? { sessionId: info.sessionId, sessionInfo: sessionRow(info) } : {}),
          messages,
          defaults: SESSION_DEFAULTS
        }
      })
    ),

    serve(SessionMethods.SessionsDescribe, ({ key, agentId }) =>
      Effect.gen(function* () {
        yield* knownAgent(agentId)
        const info = yield* sessions.get(key).pipe(Effect.mapError(toGatewayError(key)))
        return { session: info._tag === "Some" ? sessionRow(info.value) : null }
      })
    ),

    serve(SessionMethods.SessionsSubscribe, (p, ctx) =>
      Effect.gen(function* () {
        const subscribed = yield* feed.subscribeAll(ctx)
        // As OpenClaw: with sessions.list's params it answers that list too.
        if (!subscribed || (p.limit === undefined && p.search === undefined)) return { subscribed }
        return { subscribed, list: yield* list(p) }
      })
    ),

    serve(SessionMethods.SessionsUnsubscribe, (_, ctx) => Effect.as(feed.unsubscribeAll(ctx), { subscribed: false })),

    serve(SessionMethods.SessionsMessagesSubscribe, ({ key, agentId }, ctx) =>
      Effect.gen(function* () {
        yield* knownAgent(agentId)
        return { subscribed: yield* feed.subscribeKey(ctx, key), key }
      })
    ),

    serve(SessionMethods.SessionsMessagesUnsubscribe, ({ key, agentId }, ctx) =>
      Effect.gen(function* () {
        yield* knownAgent(agentId)
        yield* feed.unsubscribeKey(ctx, key)
        return { subscribed: false, key }
      })
    ),

    serve(SessionMethods.SessionsReset, ({ key }) =>
      Effect.gen(function* () {
        const info = yield* sessions.reset(key).pipe(Effect.mapError(toGatewayError(key)))
        yield* Effect.logInfo(`session ${key} reset: new session id ${info.sessionId}`)
        return { ok: true, key, sessionId: info.sessionId }
      })
    ),

    serve(SessionMethods.SessionsDelete, ({ key }) =>
      Effect.gen(function* () {
        const existed = yield* sessions.get(key).pipe(Effect.mapError(toGatewayError(key)))
        yield* sessions.remove(key).pipe(Effect.mapError(toGatewayError(key)))
        if (existed._tag === "Some") yield* Effect.logInfo(`session ${key} deleted`)
        return { ok: true, key, deleted: existed._tag === "Some" }
      })
    )
  ]
})
