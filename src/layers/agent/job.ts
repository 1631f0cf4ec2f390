/**
 * An agent run as the AgentRunner holds it (the Job), and what a run
 * publishes: `agent` and `chat` events, numbered per run.
 */
import type { Deferred, Fiber } from "effect"
import type { ClawgateConfig } from "../../config/schema.js"
import { GatewayError } from "../../protocol/errors.js"
import type { AgentRequest, RunOutcome } from "../../services/AgentRunner.js"
import type { EventBusService } from "../../services/EventBus.js"
import type { RunRecord, SessionsError } from "../../services/Sessions.js"

export type AgentDefaults = NonNullable<NonNullable<ClawgateConfig["agents"]>["defaults"]>

export interface Job {
  readonly runId: string
  readonly sessionKey: string
  readonly request: AgentRequest
  /** The transcript position of this run's user message: the prompt stops there. */
  readonly userSeq: number
  record: RunRecord
  readonly done: Deferred.Deferred<RunOutcome>
  aborted: boolean
  /** Ended (a queued run can be aborted before the worker reaches it). */
  finished: boolean
  fiber?: Fiber.RuntimeFiber<unknown, unknown> | undefined
}

export const storage = (e: SessionsError) => GatewayError.unavailable(`session store: ${e.message}`)

/** The `agent` and `chat` events of runs, each run's numbered from 1 until `forget`. */
export const makeRunEvents = (bus: EventBusService) => {
  const seqs = new Map<string, number>()
  const nextSeq = (runId: string) => {
    const n = (seqs.get(runId) ?? 0) + 1
    seqs.set(runId, n)
    return n
  }
  const agentEvent = (runId: string, stream: "lifecycle" | "assistant" | "tool", data: unknown) =>
    bus.publish({ event: "agent", scope: "operator.read", payload: { runId, seq: nextSeq(runId), stream, ts: Date.now(), data } })
  const chatEvent = (job: Job, state: "delta" | "final" | "aborted" | "error", extra: Record<string, unknown>) =>
    bus.publish({
      event: "chat",
      scope: "operator.read",
      payload: { runId: job.runId, sessionKey: job.sessionKey, seq: nextSeq(job.runId), state, ...extra }
    })
  /** A finished run's numbering is dropped. */
  const forget = (runId: string) => void seqs.delete(runId)
  return { agentEvent, chatEvent, forget }
}

export type RunEvents = ReturnType<typeof makeRunEvents>
