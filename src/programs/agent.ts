/**
 * `clawgate gateway agent`: sends one message to the agent and, unless told
 * not to wait, prints the reply as it streams (chat deltas on stderr when the
 * output is a terminal) and then the final text.
 */
import { randomUUID } from "node:crypto"
import { Effect, Fiber, Stream } from "effect"
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

export interface AgentReply {
  readonly runId: string
  readonly status: string
  readonly summary?: string | undefined
  readonly acceptedAt?: number | undefined
  readonly startedAt?: number | undefined
  readonly endedAt?: number | undefined
  readonly result?: { readonly text: string; readonly toolCalls: number } | undefined
}

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
    if (!options.wait) return (yield* client.request("agent", params)) as AgentReply
    const onDelta = options.onDelta
    const watcher = onDelta
      ? yield* Effect.fork(
          Stream.runForEach(client.events, (ev) =>
            Effect.sync(() => {
              const p = ev.payload as { runId?: string; state?: string; message?: { content?: Array<{ text?: string }> } } | undefined
              if (ev.event === "chat" && p?.runId === runId && p.state === "delta") onDelta(p.message?.content?.[0]?.text ?? "")
            })
          )
        )
      : undefined
    const reply = (yield* client.request("agent", params, {
      expectFinal: true,
      timeoutMs: (options.timeoutMs ?? 10 * 60_000) + 5_000
    })) as AgentReply
    if (watcher) yield* Fiber.interrupt(watcher)
    return reply
  })

/** `alreadyShown`: how much of the text was printed while it streamed. */
export const renderAgentReply = (r: AgentReply, alreadyShown = 0): string => {
  if (r.status === "accepted") return `accepted: run ${r.runId}`
  const text = (r.result?.text ?? r.summary ?? "").slice(alreadyShown)
  const tools = r.result?.toolCalls ? `\n(${r.result.toolCalls} tool call${r.result.toolCalls === 1 ? "" : "s"})` : ""
  return `${text}${tools}`
}
