/**
 * One agent run's model turns: the prompt from the session's transcript, the
 * model's answer streamed as `agent` and `chat` events, the node commands it
 * calls run as tools (turn after turn, up to `agents.defaults.maxTurns`), and
 * each turn stored in the transcript before the next one starts.
 */
import type * as Response from "@effect/ai/Response"
import { Effect, Stream } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import type { ModelsService } from "../../services/Models.js"
import { NodeRegistry, type NodeRegistryService } from "../../services/NodeRegistry.js"
import type { NewEntry, SessionsService } from "../../services/Sessions.js"
import { storage, type AgentDefaults, type Job, type RunEvents } from "./job.js"

export const DEFAULT_MAX_TURNS = 8
/** Chat deltas are sent at most this often per run; each carries the whole text so far (the final event too). */
const CHAT_DELTA_INTERVAL_MS = 100

export interface TurnsDeps {
  readonly sessions: SessionsService
  readonly models: ModelsService
  readonly registry: NodeRegistryService
  readonly events: RunEvents
}

/** Builds `execute(job, defaults)`, the model turns of one run, over the runner's services. */
export const makeExecute = ({ sessions, models, registry, events }: TurnsDeps) =>
  Effect.gen(function* () {
    const { agentEvent, chatEvent } = events
    // @effect/ai's modules are loaded by the first run, not at Gateway start.
    const aiModules = yield* Effect.cached(
      Effect.promise(() => Promise.all([import("../ModelPrompt.js"), import("../NodeTools.js")])).pipe(
        Effect.map(([prompt, tools]) => ({ promptFromTranscript: prompt.promptFromTranscript, nodeToolkit: tools.nodeToolkit }))
      )
    )

    /** One run: model turns until the model stops calling tools. */
    const execute = (job: Job, defaults: AgentDefaults | undefined) =>
      Effect.gen(function* () {
        const startedAt = Date.now()
        job.record = { ...job.record, status: "running", startedAt }
        yield* sessions.putRun(job.record).pipe(Effect.mapError(storage))
        yield* agentEvent(job.runId, "lifecycle", { phase: "start", startedAt })
        const { promptFromTranscript, nodeToolkit } = yield* aiModules
        const model = yield* models.resolve()
        const history = yield* sessions.history(job.sessionKey).pipe(Effect.mapError(storage))
        // The transcript in conversation order: a queued run's user message was stored when it was
        // accepted, before the runs ahead of it answered; each run's entries go after its own message.
        const runStart = new Map<string, number>()
        for (const e of history) if (e.runId !== undefined && e.role === "user" && !runStart.has(e.runId)) runStart.set(e.runId, e.seq)
        const order = (e: (typeof history)[number]) => (e.runId !== undefined ? (runStart.get(e.runId) ?? e.seq) : e.seq)
        const earlier = history.filter((e) => order(e) <= job.userSeq).sort((a, b) => order(a) - order(b) || a.seq - b.seq)
        const tools = yield* nodeToolkit({ runId: job.runId }).pipe(Effect.provideService(NodeRegistry, registry))
        const maxTurns = defaults?.maxTurns ?? DEFAULT_MAX_TURNS
        const runEntries: Array<NewEntry> = []
        let finalText = ""
        let toolCalls = 0
        let lastDeltaAt = 0
        // How much of the reply the chat deltas have carried: each also says what is new since the last (deltaText).
        let sentChars = 0
        for (let turn = 0; turn < maxTurns; turn++) {
          const prompt = promptFromTranscript([...earlier, ...runEntries], { systemPrompt: defaults?.systemPrompt })
          let text = ""
          const calls: Array<Response.ToolCallPart<string, unknown>> = []
          // The run resolves tool calls itself: each is node.invoke with the key `<runId>:<toolCallId>`.
          const stream = model.languageModel.streamText({
            prompt,
            toolkit: tools.toolkit,
            disableToolCallResolution: true
          }) as unknown as Stream.Stream<Response.StreamPart<Record<string, never>>, unknown>
          yield* Stream.runForEach(stream, (part) =>
            Effect.gen(function* () {
              switch (part.type) {
                case "text-delta": {
                  text += part.delta
                  yield* agentEvent(job.runId, "assistant", { text: finalText + text, delta: part.delta })
                  const now = Date.now()
                  if (now - lastDeltaAt >= CHAT_DELTA_INTERVAL_MS) {
                    lastDeltaAt = now
                    const soFar = finalText + text
                    yield* chatEvent(job, "delta", {
                      message: { role: "assistant", content: [{ type: "text", text: soFar }], timestamp: now },
                      deltaText: soFar.slice(sentChars)
                    })
                    sentChars = soFar.length
                  }
                  break
                }
                case "tool-call":
                  calls.push(part as unknown as Response.ToolCallPart<string, unknown>)
                  break
                case "error":
                  return yield* Effect.fail(GatewayError.unavailable(`model error: ${String((part as { error?: unknown }).error)}`))
                default:
                  break
              }
            })
          ).pipe(
            Effect.mapError((e) =>
              e instanceof GatewayError
                ? e
                : GatewayError.unavailable(`model ${model.ref}: ${(e as { message?: string })?.message ?? String(e)}`)
            )
          )
          const entries: Array<NewEntry> = []
          if (text !== "") entries.push({ role: "assistant", text, runId: job.runId })
          for (const call of calls) {
            toolCalls++
            const target = tools.describe(call.name)
            const about = target ? { nodeId: target.nodeId, command: target.command } : {}
            entries.push({
              role: "tool_call",
              text: call.name,
              toolName: call.name,
              toolCallId: call.id,
              data: call.params,
              runId: job.runId
            })
            yield* agentEvent(job.runId, "tool", { phase: "start", name: call.name, toolCallId: call.id, args: call.params, ...about })
            const r = yield* tools.call({ id: call.id, name: call.name, params: call.params })
            entries.push({
              role: "tool_result",
              text: JSON.stringify(r.result),
              toolName: call.name,
              toolCallId: call.id,
              data: r.result,
              runId: job.runId
            })
            yield* agentEvent(job.runId, "tool", {
              phase: "result",
              name: call.name,
              toolCallId: call.id,
              isError: r.isFailure,
              result: r.result,
              ...about
            })
          }
          // Each turn is stored before the next one starts.
          if (entries.length > 0) yield* sessions.append(job.sessionKey, entries).pipe(Effect.mapError(storage))
          runEntries.push(...entries)
          finalText += text
          if (calls.length === 0) break
          if (turn === maxTurns - 1 && finalText === "") finalText = `(stopped after ${maxTurns} model turns)`
        }
        return { text: finalText, toolCalls }
      })
    return execute
  })
