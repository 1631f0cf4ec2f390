/**
 * `agent`, `agent.wait`, `chat.send` and `chat.abort`: the AgentRunner on the
 * wire, as PROTOCOL.md describes. `agent` answers twice on one request id:
 * `accepted` as soon as the message is stored, then the run's end.
 */
import { Effect } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { Agents } from "../../protocol/methods.js"
import { AgentRunner, type AgentRequest, type RunOutcome } from "../../services/AgentRunner.js"
import { serve } from "../../services/Dispatcher.js"
import { MAIN_SESSION_KEY } from "../../services/Sessions.js"

/**
 * A finished run's result on the wire: clawgate's `text`/`toolCalls` and, for
 * OpenClaw's clients, the same reply as `payloads` (what `openclaw agent`
 * prints in text mode) with `meta.durationMs`.
 */
const wireResult = (o: RunOutcome): Agents.AgentResult | undefined => {
  if (o.result === undefined) return undefined
  const durationMs = o.startedAt !== undefined && o.endedAt !== undefined ? Math.max(0, o.endedAt - o.startedAt) : 0
  return {
    text: o.result.text,
    toolCalls: o.result.toolCalls,
    payloads: o.result.text === "" ? [] : [{ text: o.result.text }],
    meta: { durationMs }
  }
}

/** The second reply of `agent`: ok, or an error frame that still names the run. */
const final = (o: RunOutcome) =>
  o.status === "ok"
    ? Effect.succeed({
        runId: o.runId,
        status: "ok",
        summary: o.summary,
        result: wireResult(o),
        startedAt: o.startedAt,
        endedAt: o.endedAt
      })
    : Effect.fail(
        GatewayError.of(o.status === "timeout" ? "AGENT_TIMEOUT" : "UNAVAILABLE", `run ${o.status}: ${o.summary}`, {
          details: { runId: o.runId, status: "error", runStatus: o.status, summary: o.summary }
        })
      )

export const agentMethods = Effect.gen(function* () {
  const runner = yield* AgentRunner
  return [
    serve(Agents.Agent, (p, ctx) =>
      Effect.gen(function* () {
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
        yield* ctx.interim({
          runId: accepted.runId,
          status: "accepted",
          sessionKey: accepted.sessionKey,
          acceptedAt: accepted.acceptedAt
        })
        const outcome = yield* runner.wait(accepted.runId)
        if (outcome.status === "timeout" && !("summary" in outcome))
          return yield* Effect.fail(GatewayError.of("AGENT_TIMEOUT", "run still going"))
        return yield* final(outcome as RunOutcome)
      })
    ),

    serve(Agents.AgentWait, (p) =>
      Effect.gen(function* () {
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
      })
    ),

    serve(Agents.ChatSend, (p, ctx) =>
      Effect.gen(function* () {
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
      })
    ),

    serve(Agents.ChatAbort, (p) =>
      Effect.gen(function* () {
        const { aborted } = yield* runner.abort({ sessionKey: p.sessionKey, runId: p.runId })
        return { ok: true, aborted: aborted.length > 0, runIds: aborted }
      })
    )
  ]
})
