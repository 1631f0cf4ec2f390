/**
 * AgentRunner: runs the agent on a session. A run is accepted once its user
 * message is stored (that is what "acknowledged" means), then waits its turn
 * (one run at a time per session, others queue), calls the model, lets the
 * model call the connected nodes' commands as tools, stores every step in the
 * transcript, streams `agent` and `chat` events, and ends ok, error, aborted
 * or timeout. `runId` is the caller's idempotency key: a repeated key is
 * answered from what is already stored, never run again.
 */
import { Context, type Effect } from "effect"
import type { GatewayError } from "../protocol/errors.js"
import type { ChannelCursor, RunRecord } from "./Sessions.js"

export interface AgentRequest {
  readonly message: string
  /** Becomes the runId. */
  readonly idempotencyKey: string
  readonly agentId?: string | undefined
  /** Default: the main session (`agent:main:main`). */
  readonly sessionKey?: string | undefined
  readonly thinking?: string | undefined
  /** Deliver the final reply through a channel (`channel`/`to`, or the session's own channel and peer). */
  readonly deliver?: boolean | undefined
  readonly channel?: string | undefined
  readonly to?: string | undefined
  readonly timeoutMs?: number | undefined
  /** Who sent the message, on which channel (stored in the transcript). */
  readonly source?: { readonly channel: string; readonly sender?: string | undefined; readonly peer?: string | undefined } | undefined
  /** Stored in the same transaction as the user message (Telegram's update offset). */
  readonly cursor?: ChannelCursor | undefined
}

export interface Accepted {
  readonly runId: string
  readonly sessionKey: string
  readonly status: "accepted"
  readonly acceptedAt: number
  /** The key was seen before: nothing new was stored or started. */
  readonly deduped: boolean
}

export interface RunOutcome {
  readonly runId: string
  readonly sessionKey: string
  readonly status: "ok" | "error" | "aborted" | "timeout"
  readonly summary: string
  readonly startedAt?: number | undefined
  readonly endedAt?: number | undefined
  /** The final assistant text and what the run did, for `agent`'s second reply. */
  readonly result?: { readonly text: string; readonly toolCalls: number } | undefined
}

export interface AgentRunnerService {
  /** Stores the user message and queues the run; answers as soon as the message is durable. */
  readonly start: (request: AgentRequest) => Effect.Effect<Accepted, GatewayError>
  /** The run's end; with `timeoutMs`, `status: "timeout"` if it has not ended by then (the run goes on). */
  readonly wait: (
    runId: string,
    timeoutMs?: number
  ) => Effect.Effect<RunOutcome | { readonly runId: string; readonly status: "timeout" }, GatewayError>
  /** Aborts the session's current run (or the given run); queued runs of the session are aborted too. */
  readonly abort: (options: {
    readonly sessionKey: string
    readonly runId?: string | undefined
  }) => Effect.Effect<{ readonly aborted: ReadonlyArray<string> }, GatewayError>
  readonly get: (runId: string) => Effect.Effect<RunRecord | undefined, GatewayError>
  /** What is going on now: runs queued or running, and sessions with a worker (an idle session has none). */
  readonly activity: Effect.Effect<{ readonly runs: number; readonly sessions: number }>
}

export class AgentRunner extends Context.Tag("clawgate/AgentRunner")<AgentRunner, AgentRunnerService>() {}
