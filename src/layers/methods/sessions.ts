/**
 * The session methods: `sessions.list`, `chat.history` (operator.read),
 * `sessions.reset`, `sessions.delete` (operator.admin), over the Sessions store.
 */
import { Effect } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { SessionMethods } from "../../protocol/methods.js"
import { ConfigStore } from "../../services/Config.js"
import { serve } from "../../services/Dispatcher.js"
import {
  MAIN_SESSION_KEY,
  SESSION_DEFAULTS,
  Sessions,
  type SessionInfo,
  type SessionsError,
  type TranscriptEntry
} from "../../services/Sessions.js"
import { databasePath } from "../Database.js"

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

/** A transcript entry's identity for good: its session id and its place in that transcript. */
export const messageId = (e: Pick<TranscriptEntry, "sessionId" | "seq">) => `${e.sessionId}:${e.seq}`

/** The entry as OpenClaw's clients render it: text, or a tool call with its arguments. */
const contentOf = (e: TranscriptEntry) =>
  e.role === "tool_call"
    ? [{ type: "toolCall" as const, id: e.toolCallId ?? "", name: e.toolName ?? e.text, arguments: e.data }]
    : [{ type: "text" as const, text: e.text }]

/** A transcript entry as `chat.history` (and `session.message`) shows it: clawgate's fields, then OpenClaw's. */
export const historyMessage = (e: TranscriptEntry) => {
  const id = messageId(e)
  return {
    id,
    seq: e.seq,
    role: e.role,
    text: e.text,
    ts: e.ts,
    runId: e.runId ?? null,
    ...(e.toolName !== undefined ? { toolName: e.toolName } : {}),
    ...(e.toolCallId !== undefined ? { toolCallId: e.toolCallId } : {}),
    ...(e.data !== undefined ? { data: e.data } : {}),
    ...(e.channel !== undefined ? { channel: e.channel } : {}),
    ...(e.sender !== undefined ? { sender: e.sender } : {}),
    content: contentOf(e),
    timestamp: e.ts,
    __openclaw: { id, seq: e.seq }
  }
}

const unknownKey = (key: string) => GatewayError.invalidRequest(`unknown session key: ${key}`, { code: "UNKNOWN_SESSION", key })

/** NotFound → INVALID_REQUEST naming the key; a storage failure → UNAVAILABLE (retryable). */
const toGatewayError = (key: string) => (e: SessionsError) =>
  e.reason === "NotFound" ? unknownKey(key) : GatewayError.unavailable(e.message)

export const sessionMethods = Effect.gen(function* () {
  const sessions = yield* Sessions
  const config = yield* ConfigStore
  const dbPath = databasePath(config.paths.stateDir)

  return [
    serve(SessionMethods.SessionsList, (p) =>
      Effect.gen(function* () {
        const list = yield* sessions
          .list({ limit: p.limit, search: p.search })
          .pipe(Effect.mapError((e) => GatewayError.unavailable(e.message)))
        return { ts: Date.now(), path: dbPath, count: list.length, defaults: SESSION_DEFAULTS, sessions: list.map(sessionRow) }
      })
    ),

    serve(SessionMethods.ChatHistory, ({ sessionKey, limit }) =>
      Effect.gen(function* () {
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
