/** The agent on the wire: `agent` (answered twice: accepted, then the run's end), `agent.wait`, `chat.send`, `chat.abort`. */
import { Schema } from "effect"
import { method, requiresScope } from "../method.js"
import { opt, Strings } from "./common.js"

const Key = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))
const Message = Schema.String.pipe(Schema.minLength(1, { message: () => "must not be empty" }), Schema.maxLength(200_000))
const Millis = Schema.Number.pipe(Schema.int(), Schema.between(1, 24 * 3600_000))

/** One part of a reply as OpenClaw's clients read it: `openclaw agent` prints each `text` (and `Attachment: <url>` lines). */
export const ReplyPayload = Schema.Struct({
  text: opt(Schema.String),
  mediaUrl: opt(Schema.String),
  mediaUrls: opt(Strings)
})
export type ReplyPayload = typeof ReplyPayload.Type

/**
 * A finished run's result. clawgate sends all four fields: its own `text` and
 * `toolCalls`, and OpenClaw's `payloads` (the reply as one text payload, none
 * when the reply is empty) and `meta.durationMs`. An OpenClaw Gateway sends
 * only `payloads` and `meta`, so a client reads every field as optional.
 */
export const AgentResult = Schema.Struct({
  text: opt(Schema.String),
  toolCalls: opt(Schema.Number),
  payloads: opt(Schema.Array(ReplyPayload)),
  meta: opt(Schema.Struct({ durationMs: opt(Schema.Number) }))
})
export type AgentResult = typeof AgentResult.Type

/** `agent`'s answer: the interim `accepted` one, or the run's end (an error frame when the run failed). */
export const AgentReply = Schema.Struct({
  runId: Schema.String,
  status: Schema.String,
  /** On `accepted`: the session the run belongs to (OpenClaw's CLI aborts it by this key on Ctrl-C). */
  sessionKey: opt(Schema.String),
  summary: opt(Schema.String),
  acceptedAt: opt(Schema.Number),
  startedAt: opt(Schema.Number),
  endedAt: opt(Schema.Number),
  result: opt(AgentResult)
})
export type AgentReply = typeof AgentReply.Type

export const Agent = method("agent", {
  requires: requiresScope("operator.write"),
  params: Schema.Struct({
    message: Message,
    idempotencyKey: Key,
    agentId: opt(Key),
    sessionKey: opt(Key),
    sessionId: opt(Schema.String),
    thinking: opt(Schema.String),
    deliver: opt(Schema.Boolean),
    channel: opt(Key),
    to: opt(Schema.Union(Key, Schema.Number)),
    /** Seconds, as in OpenClaw. */
    timeout: opt(Schema.Number.pipe(Schema.positive())),
    extraSystemPrompt: opt(Schema.String),
    label: opt(Schema.String)
  }),
  result: AgentReply
})

export const AgentWait = method("agent.wait", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({ runId: Key, timeoutMs: opt(Millis) }),
  result: Schema.Struct({
    runId: Schema.String,
    status: Schema.Literal("ok", "error", "timeout"),
    runStatus: opt(Schema.String),
    summary: opt(Schema.String),
    startedAt: opt(Schema.Number),
    endedAt: opt(Schema.Number)
  })
})

export const ChatSend = method("chat.send", {
  requires: requiresScope("operator.write"),
  params: Schema.Struct({
    sessionKey: Key,
    message: Message,
    idempotencyKey: Key,
    thinking: opt(Schema.String),
    deliver: opt(Schema.Boolean),
    timeoutMs: opt(Millis),
    attachments: opt(Schema.Array(Schema.Unknown))
  }),
  result: Schema.Struct({ runId: Schema.String, status: Schema.String })
})

export const ChatAbort = method("chat.abort", {
  requires: requiresScope("operator.write"),
  params: Schema.Struct({ sessionKey: Key, runId: opt(Key) }),
  result: Schema.Struct({ ok: Schema.Boolean, aborted: Schema.Boolean, runIds: Strings })
})

/**
 * The `chat` event (not a method: what a run publishes to operators with
 * operator.read). A `delta` carries the reply so far in `message` (the whole
 * text, not a piece) and what is new since the run's previous delta in
 * `deltaText` (OpenClaw's field); `final` the whole reply; `aborted` and
 * `error` the reason in `errorMessage`. `seq` counts the run's events from 1.
 */
export const ChatEvent = Schema.Struct({
  runId: Schema.String,
  sessionKey: Schema.String,
  seq: Schema.Number,
  state: Schema.Literal("delta", "final", "aborted", "error"),
  message: opt(
    Schema.Struct({
      role: Schema.String,
      content: Schema.Array(Schema.Struct({ type: Schema.Literal("text"), text: Schema.String })),
      timestamp: opt(Schema.Number)
    })
  ),
  deltaText: opt(Schema.String),
  errorMessage: opt(Schema.String)
})
export type ChatEvent = typeof ChatEvent.Type
