/**
 * `clawgate gateway agent`: sends one message to the agent and, unless told
 * not to wait, prints the reply as it streams (chat deltas on stderr when the
 * output is a terminal) and then the final text.
 */
import { randomUUID } from "node:crypto"
import { Effect, Fiber, Option, Schema, Stream } from "effect"
import { Agents } from "../protocol/methods.js"
import { GatewayClient } from "../services/GatewayClient.js"

export interface AgentCommandOptions {
  readonly message: string
  readonly sessionKey?: string | undefined
  readonly deliver?: boolean | undefined
  readonly channel?: string | undefined
  readonly to?: string | undefined
  /** Wait for the run's end (default); false: return once the Gateway accepted the message. */
  readonly wait: boolean
  readonly timeoutMs?: number | undefined
  /** The reply's text so far, as it streams in. */
  readonly onDelta?: ((text: string) => void) | undefined
}

export type AgentReply = Agents.AgentReply

/** A `chat` event's payload, as far as the streaming reply needs it. */
const ChatDelta = Schema.Struct({
  runId: Schema.String,
  state: Schema.String,
  message: Schema.optional(
    Schema.Struct({ content: Schema.optional(Schema.Array(Schema.Struct({ text: Schema.optional(Schema.String) }))) })
  )
})
const decodeChatDelta = Schema.decodeUnknownOption(ChatDelta)

export const agent = (options: AgentCommandOptions) =>
  Effect.gen(function* () {
    const client = yield* GatewayClient
    yield* client.connect
    const runId = randomUUID()
    const params = {
      message: options.message,
      idempotencyKey: runId,
      ...(options.sessionKey !== undefined ? { sessionKey: options.sessionKey } : {}),
      ...(options.deliver ? { deliver: true } : {}),
      ...(options.channel !== undefined ? { channel: options.channel } : {}),
      ...(options.to !== undefined ? { to: options.to } : {}),
      ...(options.timeoutMs !== undefined ? { timeout: Math.ceil(options.timeoutMs / 1000) } : {})
    }
    if (!options.wait) return yield* client.call(Agents.Agent, params)
    const onDelta = options.onDelta
    const watcher = onDelta
      ? yield* Effect.fork(
          Stream.runForEach(client.events, (ev) =>
            Effect.sync(() => {
              if (ev.event !== "chat") return
              const p = decodeChatDelta(ev.payload)
              if (Option.isSome(p) && p.value.runId === runId && p.value.state === "delta")
                onDelta(p.value.message?.content?.[0]?.text ?? "")
            })
          )
        )
      : undefined
    const reply = yield* client.call(Agents.Agent, params, {
      expectFinal: true,
      timeoutMs: (options.timeoutMs ?? 10 * 60_000) + 5_000
    })
    if (watcher) yield* Fiber.interrupt(watcher)
    return reply
  })

/**
 * The reply's text: clawgate's `result.text`, else (an OpenClaw Gateway) the
 * `payloads`' texts and attachments as `openclaw agent` prints them, else the summary.
 */
const replyText = (r: AgentReply): string => {
  if (r.result?.text !== undefined) return r.result.text
  const payloads = r.result?.payloads ?? []
  if (payloads.length === 0) return r.summary ?? ""
  const lines: Array<string> = []
  for (const p of payloads) {
    const text = p.text?.trimEnd() ?? ""
    if (text !== "") lines.push(text)
    for (const url of new Set([...(p.mediaUrl !== undefined ? [p.mediaUrl] : []), ...(p.mediaUrls ?? [])])) lines.push(`Attachment: ${url}`)
  }
  return lines.join("\n")
}

/** `alreadyShown`: how much of the text was printed while it streamed. */
export const renderAgentReply = (r: AgentReply, alreadyShown = 0): string => {
  if (r.status === "accepted") return `accepted: run ${r.runId}`
  const text = replyText(r).slice(alreadyShown)
  const tools = r.result?.toolCalls ? `\n(${r.result.toolCalls} tool call${r.result.toolCalls === 1 ? "" : "s"})` : ""
  return `${text}${tools}`
}
