/**
 * Sessions and transcript entries as the wire shows them (`sessions.list`,
 * `chat.history` and the session events): clawgate's fields, then the ones
 * OpenClaw's clients read.
 */
import { Effect } from "effect"
import { printable } from "../../protocol/codec.js"
import { GatewayError } from "../../protocol/errors.js"
import { SESSION_DEFAULTS, type SessionInfo, type TranscriptEntry } from "../../services/Sessions.js"

/** How much of the last message `lastMessagePreview` shows (`lastText` is all of it). */
export const PREVIEW_CHARS = 160

const preview = (text: string) => (text.length <= PREVIEW_CHARS ? text : `${text.slice(0, PREVIEW_CHARS - 1)}…`)

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
  ...(s.lastText !== undefined ? { lastText: s.lastText, lastMessagePreview: preview(s.lastText) } : {})
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
  // A run takes chat.send's idempotencyKey as its id: on the user's entry, that key.
  const sent = e.role === "user" ? e.runId : undefined
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
    ...(sent !== undefined ? { idempotencyKey: sent } : {}),
    // OpenClaw's UI matches its pending user message to the entry by these, then sends the next message.
    __openclaw: {
      id,
      seq: e.seq,
      ...(e.runId !== undefined ? { runId: e.runId } : {}),
      ...(sent !== undefined ? { idempotencyKey: sent } : {})
    }
  }
}

/** The one agent clawgate runs (OpenClaw's default agent id). */
export const AGENT_ID = SESSION_DEFAULTS.defaultAgentId

/** An `agentId` param: absent, or the one agent; any other is refused by name. */
export const knownAgent = (agentId: string | undefined): Effect.Effect<string, GatewayError> =>
  agentId === undefined || agentId === AGENT_ID
    ? Effect.succeed(AGENT_ID)
    : Effect.fail(
        GatewayError.invalidRequest(`unknown agent id: ${printable(agentId, 64)} (this Gateway has one agent, "${AGENT_ID}")`, {
          code: "UNKNOWN_AGENT",
          agentId: printable(agentId, 64)
        })
      )
