/**
 * Sessions and transcripts: `sessions.list`, `sessions.describe`,
 * `chat.history`, `chat.startup` and the subscriptions (`sessions.subscribe`,
 * `sessions.messages.subscribe` and their `unsubscribe`s), all operator.read;
 * `sessions.reset`, `sessions.delete` (operator.admin). Names, params and the
 * fields OpenClaw's UI reads are OpenClaw's; clawgate's own fields sit beside.
 */
import { Schema } from "effect"
import { method, requiresScope } from "../method.js"
import { Int, Name, opt } from "./common.js"

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
  lastText: opt(Schema.String),
  /** OpenClaw's name for `lastText`. */
  lastMessagePreview: opt(Schema.String)
})
export type SessionRow = typeof SessionRow.Type

export const SessionDefaults = Schema.Struct({ defaultAgentId: Schema.String, mainKey: Schema.String, mainSessionKey: Schema.String })

export const SessionsListParams = Schema.Struct({
  limit: opt(Int.pipe(Schema.between(1, 10_000))),
  search: opt(Schema.String.pipe(Schema.maxLength(512, bounded512)))
})

export const SessionsListResult = Schema.Struct({
  ts: Schema.Number,
  path: Schema.String,
  count: Schema.Number,
  defaults: opt(SessionDefaults),
  sessions: Schema.Array(SessionRow)
})

export const SessionsList = method("sessions.list", {
  requires: requiresScope("operator.read"),
  params: SessionsListParams,
  result: SessionsListResult
})

/** A content block as OpenClaw's clients render a message: text, or a tool call with its arguments. */
export const ContentBlock = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
  Schema.Struct({ type: Schema.Literal("toolCall"), id: Schema.String, name: Schema.String, arguments: opt(Schema.Unknown) })
)

/**
 * One transcript entry. `id` (`<sessionId>:<seq>`) is its identity for good:
 * a page that reconnects merges `chat.history` with what it has by `id` (or by
 * `seq` within one `sessionId`), without duplicates. `content` and `timestamp`
 * are the same message as OpenClaw's clients read it, `__openclaw {id, seq, runId?, idempotencyKey?}`
 * OpenClaw's identity fields.
 */
export const HistoryMessage = Schema.Struct({
  id: Schema.String,
  seq: Schema.Number,
  role: Schema.String,
  text: Schema.String,
  ts: Schema.Number,
  runId: opt(Schema.NullOr(Schema.String)),
  toolName: opt(Schema.String),
  toolCallId: opt(Schema.String),
  data: opt(Schema.Unknown),
  channel: opt(Schema.String),
  sender: opt(Schema.String),
  content: opt(Schema.Array(ContentBlock)),
  timestamp: opt(Schema.Number),
  /** On a user entry: its run's id, which chat.send took from its idempotencyKey (OpenClaw's field). */
  idempotencyKey: opt(Schema.String),
  /**
   * OpenClaw's identity fields. With `runId` and (on a user entry) `idempotencyKey`, OpenClaw's UI knows
   * the entry is the message it showed as pending while sending, and sends the next one.
   */
  __openclaw: opt(Schema.Struct({ id: Schema.String, seq: Schema.Number, runId: opt(Schema.String), idempotencyKey: opt(Schema.String) }))
})
export type HistoryMessage = typeof HistoryMessage.Type

export const ChatHistoryParams = Schema.Struct({
  sessionKey: SessionKey,
  limit: opt(Int.pipe(Schema.between(1, 1000))),
  /** OpenClaw's: clawgate has one agent, `main`; another id is refused. */
  agentId: opt(Name)
})

export const ChatHistoryResult = Schema.Struct({
  sessionKey: Schema.String,
  sessionId: opt(Schema.String),
  messages: Schema.Array(HistoryMessage)
})

export const ChatHistory = method("chat.history", {
  requires: requiresScope("operator.read"),
  params: ChatHistoryParams,
  result: ChatHistoryResult
})

/**
 * `chat.startup`: what a chat page needs to open a session in one call, the
 * history as `chat.history` gives it plus the session's row (`sessionInfo`,
 * absent before its first message) and the session defaults. OpenClaw's other
 * form (`{shortId, agentId}`, a short chat link) does not exist here.
 */
export const ChatStartup = method("chat.startup", {
  requires: requiresScope("operator.read"),
  params: ChatHistoryParams,
  result: Schema.extend(ChatHistoryResult, Schema.Struct({ sessionInfo: opt(SessionRow), defaults: opt(SessionDefaults) }))
})

/** `sessions.describe {key}`: one session's row, or `session: null` when there is none (OpenClaw's shape). */
export const SessionsDescribe = method("sessions.describe", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({
    key: SessionKey,
    agentId: opt(Name),
    includeDerivedTitles: opt(Schema.Boolean),
    includeLastMessage: opt(Schema.Boolean)
  }),
  result: Schema.Struct({ session: Schema.NullOr(SessionRow) })
})

/** How many sessions one connection may follow with `sessions.messages.subscribe` at a time. */
export const MAX_MESSAGE_SUBSCRIPTIONS = 64

/**
 * `sessions.subscribe`: this connection receives `sessions.changed` events
 * until `sessions.unsubscribe` or its close. With `sessions.list`'s params it
 * also answers that list (`list`), as OpenClaw does; with none, only
 * `subscribed`. `subscribed` is false for a caller without a connection (the
 * in-process client).
 */
export const SessionsSubscribe = method("sessions.subscribe", {
  requires: requiresScope("operator.read"),
  params: SessionsListParams,
  result: Schema.Struct({ subscribed: Schema.Boolean, list: opt(SessionsListResult) })
})

export const SessionsUnsubscribe = method("sessions.unsubscribe", {
  requires: requiresScope("operator.read"),
  result: Schema.Struct({ subscribed: Schema.Boolean })
})

const MessagesKeyParams = Schema.Struct({ key: SessionKey, agentId: opt(Name) })
const MessagesSubscription = Schema.Struct({ subscribed: Schema.Boolean, key: Schema.String })

/**
 * `sessions.messages.subscribe {key}`: this connection receives a
 * `session.message` event for every entry appended to that session's
 * transcript, until `sessions.messages.unsubscribe {key}` or its close. At most
 * MAX_MESSAGE_SUBSCRIPTIONS keys per connection (INVALID_REQUEST
 * `SUBSCRIPTION_LIMIT` past that). A key with no session yet may be followed.
 */
export const SessionsMessagesSubscribe = method("sessions.messages.subscribe", {
  requires: requiresScope("operator.read"),
  params: MessagesKeyParams,
  result: MessagesSubscription
})

export const SessionsMessagesUnsubscribe = method("sessions.messages.unsubscribe", {
  requires: requiresScope("operator.read"),
  params: MessagesKeyParams,
  result: MessagesSubscription
})

/**
 * The `sessions.changed` event (to `sessions.subscribe`d connections): a
 * session was created (`reason: "create"`), reset (`"reset"`), deleted
 * (`"delete"`), or had entries appended (`phase: "message"`, with the last
 * entry's `messageId` and `messageSeq`). `session` is its row after the change
 * (absent once deleted).
 */
export const SessionsChangedEvent = Schema.Struct({
  sessionKey: Schema.String,
  agentId: opt(Schema.String),
  reason: opt(Schema.Literal("create", "reset", "delete")),
  phase: opt(Schema.Literal("message")),
  ts: Schema.Number,
  session: opt(SessionRow),
  messageId: opt(Schema.String),
  messageSeq: opt(Schema.Number)
})
export type SessionsChangedEvent = typeof SessionsChangedEvent.Type

/** The `session.message` event (to `sessions.messages.subscribe`d connections): one entry appended to the session's transcript. */
export const SessionMessageEvent = Schema.Struct({
  sessionKey: Schema.String,
  agentId: opt(Schema.String),
  sessionId: Schema.String,
  message: HistoryMessage,
  messageId: Schema.String,
  messageSeq: Schema.Number,
  runId: opt(Schema.String)
})
export type SessionMessageEvent = typeof SessionMessageEvent.Type

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
