/**
 * The session methods: `sessions.list`, `chat.history` (operator.read),
 * `sessions.reset`, `sessions.delete` (operator.admin), over the Sessions store.
 */
import { Effect, Schema } from "effect"
import { GatewayError } from "../protocol/errors.js"
import type { MethodHandler } from "../services/Dispatcher.js"
import { Config } from "../services/Config.js"
import { MAIN_SESSION_KEY, Sessions, type SessionInfo, type SessionsError, type TranscriptEntry } from "../services/Sessions.js"
import { databasePath } from "./Database.js"
// DispatcherLive imports this module too: its exports are used only once the handlers are built.
import { decodeParams, SESSION_DEFAULTS } from "./DispatcherLive.js"

const Int = Schema.Number.pipe(Schema.int())
// Keys are logged and echoed in errors: bounded (session keys are a few dozen characters).
const Key = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(512, { message: () => "must be at most 512 characters" }))
const ListParams = Schema.Struct({
  limit: Schema.optional(Int.pipe(Schema.between(1, 10_000))),
  search: Schema.optional(Schema.String.pipe(Schema.maxLength(512, { message: () => "must be at most 512 characters" })))
})
const HistoryParams = Schema.Struct({
  sessionKey: Key,
  limit: Schema.optional(Int.pipe(Schema.between(1, 1000)))
})
const KeyParams = Schema.Struct({ key: Key })

/** How many transcript entries `chat.history` returns without a `limit` (the newest ones). */
export const HISTORY_DEFAULT_LIMIT = 200

/** A session as `sessions.list` shows it. */
export const sessionRow = (s: SessionInfo) => ({
  key: s.key,
  sessionId: s.sessionId,
  agentId: s.agentId,
  ...(s.channel !== undefined ? { channel: s.channel } : {}),
  ...(s.peer !== undefined ? { peer: s.peer } : {}),
  ...(s.label !== undefined ? { label: s.label } : {}),
  updatedAt: s.updatedAt,
  createdAt: s.createdAt,
  messageCount: s.messageCount,
  ...(s.lastText !== undefined ? { lastText: s.lastText } : {})
})

/** A transcript entry as `chat.history` shows it. */
export const historyMessage = (e: TranscriptEntry) => ({
  seq: e.seq,
  role: e.role,
  text: e.text,
  ts: e.ts,
  runId: e.runId ?? null,
  ...(e.toolName !== undefined ? { toolName: e.toolName } : {}),
  ...(e.toolCallId !== undefined ? { toolCallId: e.toolCallId } : {}),
  ...(e.data !== undefined ? { data: e.data } : {}),
  ...(e.channel !== undefined ? { channel: e.channel } : {}),
  ...(e.sender !== undefined ? { sender: e.sender } : {})
})

const unknownKey = (key: string) => GatewayError.invalidRequest(`unknown session key: ${key}`, { code: "UNKNOWN_SESSION", key })

/** NotFound → INVALID_REQUEST naming the key; a storage failure → UNAVAILABLE (retryable). */
const toGatewayError = (key: string) => (e: SessionsError) =>
  e.reason === "NotFound" ? unknownKey(key) : GatewayError.unavailable(e.message)

export const sessionHandlers = Effect.gen(function* () {
  const sessions = yield* Sessions
  const config = yield* Config
  const dbPath = databasePath(config.paths.stateDir)
  const decodeList = decodeParams("sessions.list", ListParams)
  const decodeHistory = decodeParams("chat.history", HistoryParams)
  const decodeReset = decodeParams("sessions.reset", KeyParams)
  const decodeDelete = decodeParams("sessions.delete", KeyParams)

  const handlers: Record<string, MethodHandler> = {
    "sessions.list": (params) =>
      Effect.gen(function* () {
        const p = yield* decodeList(params)
        const list = yield* sessions.list({ limit: p.limit, search: p.search }).pipe(Effect.mapError((e) => GatewayError.unavailable(e.message)))
        return { ts: Date.now(), path: dbPath, count: list.length, defaults: SESSION_DEFAULTS, sessions: list.map(sessionRow) }
      }),

    "chat.history": (params) =>
      Effect.gen(function* () {
        const { sessionKey, limit } = yield* decodeHistory(params)
        const info = yield* sessions.get(sessionKey).pipe(Effect.mapError(toGatewayError(sessionKey)))
        if (info._tag === "None") {
          // The operator's main chat exists before its first message (clients open it at start).
          if (sessionKey === MAIN_SESSION_KEY) return { sessionKey, messages: [] }
          return yield* unknownKey(sessionKey)
        }
        const entries = yield* sessions
          .history(sessionKey, { limit: limit ?? HISTORY_DEFAULT_LIMIT })
          .pipe(Effect.mapError(toGatewayError(sessionKey)))
        return { sessionKey, sessionId: info.value.sessionId, messages: entries.map(historyMessage) }
      }),

    "sessions.reset": (params) =>
      Effect.gen(function* () {
        const { key } = yield* decodeReset(params)
        const info = yield* sessions.reset(key).pipe(Effect.mapError(toGatewayError(key)))
        yield* Effect.logInfo(`session ${key} reset: new session id ${info.sessionId}`)
        return { ok: true, key, sessionId: info.sessionId }
      }),

    "sessions.delete": (params) =>
      Effect.gen(function* () {
        const { key } = yield* decodeDelete(params)
        const existed = yield* sessions.get(key).pipe(Effect.mapError(toGatewayError(key)))
        yield* sessions.remove(key).pipe(Effect.mapError(toGatewayError(key)))
        if (existed._tag === "Some") yield* Effect.logInfo(`session ${key} deleted`)
        return { ok: true, key, deleted: existed._tag === "Some" }
      })
  }
  return handlers
})
