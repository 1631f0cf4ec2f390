/** Sessions and transcripts: `sessions.list`, `chat.history` (operator.read), `sessions.reset`, `sessions.delete` (operator.admin). */
import { Schema } from "effect"
import { method, requiresScope } from "../method.js"
import { Int, opt } from "./common.js"

const bounded512 = { message: () => "must be at most 512 characters" }
// Keys are logged and echoed in errors: bounded (session keys are a few dozen characters).
export const SessionKey = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(512, bounded512))

export const SessionRow = Schema.Struct({
  key: Schema.String,
  sessionId: Schema.String,
  agentId: Schema.String,
  channel: opt(Schema.String),
  peer: opt(Schema.String),
  label: opt(Schema.String),
  updatedAt: Schema.Number,
  createdAt: Schema.Number,
  messageCount: Schema.Number,
  lastText: opt(Schema.String)
})
export type SessionRow = typeof SessionRow.Type

export const SessionDefaults = Schema.Struct({ defaultAgentId: Schema.String, mainKey: Schema.String, mainSessionKey: Schema.String })

export const SessionsList = method("sessions.list", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({
    limit: opt(Int.pipe(Schema.between(1, 10_000))),
    search: opt(Schema.String.pipe(Schema.maxLength(512, bounded512)))
  }),
  result: Schema.Struct({
    ts: Schema.Number,
    path: Schema.String,
    count: Schema.Number,
    defaults: opt(SessionDefaults),
    sessions: Schema.Array(SessionRow)
  })
})

export const HistoryMessage = Schema.Struct({
  seq: Schema.Number,
  role: Schema.String,
  text: Schema.String,
  ts: Schema.Number,
  runId: opt(Schema.NullOr(Schema.String)),
  toolName: opt(Schema.String),
  toolCallId: opt(Schema.String),
  data: opt(Schema.Unknown),
  channel: opt(Schema.String),
  sender: opt(Schema.String)
})
export type HistoryMessage = typeof HistoryMessage.Type

export const ChatHistory = method("chat.history", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({ sessionKey: SessionKey, limit: opt(Int.pipe(Schema.between(1, 1000))) }),
  result: Schema.Struct({ sessionKey: Schema.String, sessionId: opt(Schema.String), messages: Schema.Array(HistoryMessage) })
})

const KeyParams = Schema.Struct({ key: SessionKey })
export const SessionsReset = method("sessions.reset", {
  requires: requiresScope("operator.admin"),
  params: KeyParams,
  result: Schema.Struct({ ok: Schema.Boolean, key: Schema.String, sessionId: Schema.String })
})
export const SessionsDelete = method("sessions.delete", {
  requires: requiresScope("operator.admin"),
  params: KeyParams,
  result: Schema.Struct({ ok: Schema.Boolean, key: Schema.String, deleted: Schema.Boolean })
})
