/**
 * `agent`, `agent.wait`, `chat.send` and `chat.abort`: the AgentRunner on the
 * wire, as PROTOCOL.md describes. `agent` answers twice on one request id:
 * `accepted` as soon as the message is stored, then the run's end.
 */
import { Effect, Schema } from "effect"
import { GatewayError } from "../protocol/errors.js"
import { AgentRunner, type AgentRequest, type RunOutcome } from "../services/AgentRunner.js"
import type { MethodHandler } from "../services/Dispatcher.js"
import { MAIN_SESSION_KEY } from "../services/Sessions.js"
import { decodeParams } from "./params.js"

const Key = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))
const Message = Schema.String.pipe(Schema.minLength(1, { message: () => "must not be empty" }), Schema.maxLength(200_000))
const Millis = Schema.Number.pipe(Schema.int(), Schema.between(1, 24 * 3600_000))

const AgentParams = Schema.Struct({
  message: Message,
  idempotencyKey: Key,
  agentId: Schema.optional(Key),
  sessionKey: Schema.optional(Key),
  sessionId: Schema.optional(Schema.String),
  thinking: Schema.optional(Schema.String),
  deliver: Schema.optional(Schema.Boolean),
  channel: Schema.optional(Key),
  to: Schema.optional(Schema.Union(Key, Schema.Number)),
  /** Seconds, as in OpenClaw. */
  timeout: Schema.optional(Schema.Number.pipe(Schema.positive())),
  extraSystemPrompt: Schema.optional(Schema.String),
  label: Schema.optional(Schema.String)
})
const WaitParams = Schema.Struct({ runId: Key, timeoutMs: Schema.optional(Millis) })
const ChatSendParams = Schema.Struct({
  sessionKey: Key,
  message: Message,
  idempotencyKey: Key,
  thinking: Schema.optional(Schema.String),
  deliver: Schema.optional(Schema.Boolean),
  timeoutMs: Schema.optional(Millis),
  attachments: Schema.optional(Schema.Array(Schema.Unknown))
})
const ChatAbortParams = Schema.Struct({ sessionKey: Key, runId: Schema.optional(Key) })

const decodeAgent = decodeParams("agent", AgentParams)
const decodeWait = decodeParams("agent.wait", WaitParams)
const decodeChatSend = decodeParams("chat.send", ChatSendParams)
const decodeChatAbort = decodeParams("chat.abort", ChatAbortParams)

/** The second reply of `agent`: ok, or an error frame that still names the run. */
const final = (o: RunOutcome) =>
  o.status === "ok"
    ? Effect.succeed({ runId: o.runId, status: "ok", summary: o.summary, result: o.result, startedAt: o.startedAt, endedAt: o.endedAt })
    : Effect.fail(
        GatewayError.of(o.status === "timeout" ? "AGENT_TIMEOUT" : "UNAVAILABLE", `run ${o.status}: ${o.summary}`, {
          details: { runId: o.runId, status: "error", runStatus: o.status, summary: o.summary }
        })
      )

export const agentHandlers = Effect.gen(function* () {
  const runner = yield* AgentRunner
  const handlers: Record<string, MethodHandler> = {
    agent: (params, ctx) =>
      Effect.gen(function* () {
        const p = yield* decodeAgent(params)
        const request: AgentRequest = {
          message: p.message,
          idempotencyKey: p.idempotencyKey,
          agentId: p.agentId,
          sessionKey: p.sessionKey ?? MAIN_SESSION_KEY,
          thinking: p.thinking,
          deliver: p.deliver,
          channel: p.channel,
          to: p.to === undefined ? undefined : String(p.to),
          timeoutMs: p.timeout === undefined ? undefined : Math.round(p.timeout * 1000),
          source: { channel: "operator", sender: ctx.client?.displayName ?? ctx.client?.id }
        }
        const accepted = yield* runner.start(request)
        yield* ctx.interim({ runId: accepted.runId, status: "accepted", acceptedAt: accepted.acceptedAt })
        const outcome = yield* runner.wait(accepted.runId)
        if (outcome.status === "timeout" && !("summary" in outcome)) return yield* Effect.fail(GatewayError.of("AGENT_TIMEOUT", "run still going"))
        return yield* final(outcome as RunOutcome)
      }),

    "agent.wait": (params) =>
      Effect.gen(function* () {
        const p = yield* decodeWait(params)
        const outcome = yield* runner.wait(p.runId, p.timeoutMs ?? 30_000)
        if (!("summary" in outcome)) return { runId: p.runId, status: "timeout" }
        return {
          runId: outcome.runId,
          status: outcome.status === "ok" ? "ok" : outcome.status === "timeout" ? "timeout" : "error",
          runStatus: outcome.status,
          summary: outcome.summary,
          startedAt: outcome.startedAt,
          endedAt: outcome.endedAt
        }
      }),

    "chat.send": (params, ctx) =>
      Effect.gen(function* () {
        const p = yield* decodeChatSend(params)
        const accepted = yield* runner.start({
          message: p.message,
          idempotencyKey: p.idempotencyKey,
          sessionKey: p.sessionKey,
          thinking: p.thinking,
          deliver: p.deliver,
          timeoutMs: p.timeoutMs,
          source: { channel: "webchat", sender: ctx.client?.displayName ?? ctx.client?.id }
        })
        if (!accepted.deduped) return { runId: accepted.runId, status: "started" }
        const record = yield* runner.get(accepted.runId)
        const status = record?.status ?? "queued"
        return { runId: accepted.runId, status: status === "queued" || status === "running" ? "in_flight" : status }
      }),

    "chat.abort": (params) =>
      Effect.gen(function* () {
        const p = yield* decodeChatAbort(params)
        const { aborted } = yield* runner.abort({ sessionKey: p.sessionKey, runId: p.runId })
        return { ok: true, aborted: aborted.length > 0, runIds: aborted }
      })
  }
  return handlers
})
