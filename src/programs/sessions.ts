/**
 * `clawgate sessions list|show|reset`: written against GatewayClient, so they
 * work against a local or a remote Gateway alike.
 */
import { Effect } from "effect"
import { SessionMethods, type ResultOf } from "../protocol/methods.js"
import { GatewayClient } from "../services/GatewayClient.js"
import { MAIN_SESSION_KEY } from "../services/Sessions.js"
import { UsageError } from "./errors.js"
import { formatDuration } from "./render.js"

export type SessionRow = SessionMethods.SessionRow
export type SessionsListed = ResultOf<typeof SessionMethods.SessionsList>
export type HistoryMessage = SessionMethods.HistoryMessage
export type History = ResultOf<typeof SessionMethods.ChatHistory>
export type ResetResult = ResultOf<typeof SessionMethods.SessionsReset>

const checkLimit = (limit: number | undefined) =>
  limit !== undefined && limit < 1
    ? Effect.fail(new UsageError({ message: `--limit must be a positive number (got ${limit})` }))
    : Effect.void

export const sessionsList = (options: { readonly search?: string | undefined; readonly limit?: number | undefined } = {}) =>
  Effect.zipRight(
    checkLimit(options.limit),
    Effect.flatMap(GatewayClient, (c) =>
      c.call(SessionMethods.SessionsList, {
        ...(options.search !== undefined ? { search: options.search } : {}),
        ...(options.limit !== undefined ? { limit: options.limit } : {})
      })
    )
  )

/**
 * A session named on the command line: its full key, `main` for the main
 * session, or the unique ending of a key (`telegram:42`, `42`). Anything else
 * goes to the Gateway as it is (which names it if it is unknown).
 */
export const resolveSessionKey = (ref: string) =>
  Effect.gen(function* () {
    if (ref.startsWith("agent:")) return ref
    if (ref === "main") return MAIN_SESSION_KEY
    const { sessions } = yield* sessionsList()
    const matches = sessions.filter((s) => s.key === ref || s.key.endsWith(`:${ref}`))
    const [only] = matches
    if (only !== undefined && matches.length === 1) return only.key
    if (matches.length > 1) {
      return yield* new UsageError({
        message: `"${ref}" matches ${matches.length} sessions (${matches.map((s) => s.key).join(", ")}); use the full key`
      })
    }
    return ref
  })

export const sessionsShow = (ref: string, limit?: number) =>
  Effect.gen(function* () {
    yield* checkLimit(limit)
    const sessionKey = yield* resolveSessionKey(ref)
    return yield* (yield* GatewayClient).call(SessionMethods.ChatHistory, { sessionKey, ...(limit !== undefined ? { limit } : {}) })
  })

export const sessionsReset = (ref: string) =>
  Effect.gen(function* () {
    const key = yield* resolveSessionKey(ref)
    return yield* (yield* GatewayClient).call(SessionMethods.SessionsReset, { key })
  })

// --- rendering ---------------------------------------------------------------

const oneLine = (text: string, max: number) => {
  const flat = text.replace(/\s+/g, " ").trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

const pad2 = (n: number) => String(n).padStart(2, "0")

/** Local time, `YYYY-MM-DD HH:MM:SS`. */
export const formatTime = (ts: number) => {
  const d = new Date(ts)
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
}

export const renderSessions = (l: SessionsListed): string => {
  if (l.sessions.length === 0) return `No sessions yet (store: ${l.path}).`
  const now = Date.now()
  const width = Math.max(...l.sessions.map((s) => s.key.length), 3)
  const lines = [`${"KEY".padEnd(width)}  ${"UPDATED".padEnd(10)}  ${"MSGS".padStart(4)}  LAST`]
  for (const s of l.sessions) {
    const where = [s.label, s.channel && s.peer ? `${s.channel} ${s.peer}` : s.channel].filter(Boolean).join(", ")
    const last = s.lastText === undefined ? "-" : `"${oneLine(s.lastText, 60)}"`
    lines.push(
      `${s.key.padEnd(width)}  ${`${formatDuration(now - s.updatedAt)} ago`.padEnd(10)}  ${String(s.messageCount).padStart(4)}  ${last}${where ? `  (${where})` : ""}`
    )
  }
  lines.push(`${l.count} session${l.count === 1 ? "" : "s"} · store ${l.path}`)
  return lines.join("\n")
}

const compactJson = (v: unknown, max: number) => {
  const text = JSON.stringify(v) ?? String(v)
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/** One transcript line: time, role (and where a user message came from), text; tool calls with name and params. */
const renderMessage = (m: HistoryMessage): string => {
  const head = `${formatTime(m.ts)}  `
  const indent = " ".repeat(head.length)
  const body = (text: string) => text.split("\n").join(`\n${indent}`)
  switch (m.role) {
    case "tool_call":
      return `${head}tool call   ${m.toolName ?? "?"}(${m.data === undefined ? "" : compactJson(m.data, 500)})${m.text ? ` ${body(m.text)}` : ""}`
    case "tool_result": {
      const result = m.text || (m.data === undefined ? "" : compactJson(m.data, 500))
      return `${head}tool result ${m.toolName ?? "?"} → ${body(result)}`
    }
    case "user": {
      const from = [m.channel, m.sender].filter(Boolean).join(" ")
      return `${head}user${from ? ` (${from})` : ""}: ${body(m.text)}`
    }
    default:
      return `${head}${m.role}: ${body(m.text)}`
  }
}

export const renderHistory = (h: History): string => {
  const title = `Session ${h.sessionKey}${h.sessionId ? ` (id ${h.sessionId})` : ""}`
  if (h.messages.length === 0) return `${title}: no messages yet.`
  return [title, ...h.messages.map(renderMessage)].join("\n")
}

export const renderReset = (r: ResetResult): string =>
  `reset ${r.key}: new session id ${r.sessionId} (the old transcript stays in the store, no longer shown)`
