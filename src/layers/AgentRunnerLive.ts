/**
 * The AgentRunner: one worker fiber per session takes that session's runs in
 * the order they were accepted. A run streams the model's answer, lets the
 * model call node commands as tools (turn after turn, up to
 * `agents.defaults.maxTurns`), stores each turn in the transcript, publishes
 * `agent` and `chat` events, and ends in the runs table. A run still running
 * when the Gateway dies is marked failed at the next start; a reply that was
 * to be delivered and was not is delivered then.
 *
 * A run's model turns are agent/turns.ts, the Job and the events it
 * publishes agent/job.ts; this module is the queues, the workers and the
 * runs' lifecycle (start, finish, delivery, wait, abort).
 */
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Layer, Option } from "effect"
import type { ClawgateConfig } from "../config/schema.js"
import { GatewayError } from "../protocol/errors.js"
import { AgentRunner, type Accepted, type AgentRequest, type RunOutcome } from "../services/AgentRunner.js"
import { Channels } from "../services/Channels.js"
import { ConfigStore } from "../services/Config.js"
import { EventBus } from "../services/EventBus.js"
import { Models } from "../services/Models.js"
import { NodeRegistry } from "../services/NodeRegistry.js"
import { MAIN_SESSION_KEY, Sessions, type RunRecord } from "../services/Sessions.js"
import { makeRunEvents, storage, type Job } from "./agent/job.js"
import { makeExecute } from "./agent/turns.js"

export { DEFAULT_MAX_TURNS } from "./agent/turns.js"
export const DEFAULT_RUN_TIMEOUT_MS = 10 * 60_000

export const makeAgentRunner = Effect.gen(function* () {
  const sessions = yield* Sessions
  const models = yield* Models
  const bus = yield* EventBus
  const config = yield* ConfigStore
  const registry = yield* NodeRegistry
  const channels = yield* Effect.serviceOption(Channels)
  const scope = yield* Effect.scope
  const events = makeRunEvents(bus)
  const { agentEvent, chatEvent, forget } = events
  const execute = yield* makeExecute({ sessions, models, registry, events })

  const jobs = new Map<string, Job>()
  // Starts in progress, by runId: a concurrent retry with the same key waits for the first one's answer.
  const starting = new Map<string, Deferred.Deferred<Accepted, GatewayError>>()
  // The waiting jobs of each session that has a worker running. A session's worker ends when its queue is
  // empty (and its entry goes with it), so sessions that were used once cost nothing afterwards.
  const queues = new Map<string, Array<Job>>()

  const outcomeOf = (r: RunRecord): RunOutcome => ({
    runId: r.runId,
    sessionKey: r.sessionKey,
    status: r.status === "ok" || r.status === "aborted" || r.status === "timeout" ? r.status : "error",
    summary: r.summary ?? "",
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    ...(r.status === "ok" ? { result: { text: r.summary ?? "", toolCalls: 0 } } : {})
  })

  /** Delivers a finished run's reply through its channel, once, and records that it went. */
  const deliver = (record: RunRecord) =>
    Effect.gen(function* () {
      if (!record.deliverTo || record.deliveredAt !== undefined || !record.summary) return record
      if (Option.isNone(channels)) {
        yield* Effect.logWarning(`run ${record.runId}: no channels configured, reply not delivered to ${record.deliverTo.channel}`)
        return record
      }
      const text = record.status === "ok" ? record.summary : `Sorry, that failed: ${record.summary}`
      const sent = yield* Effect.either(channels.value.send({ channel: record.deliverTo.channel, to: record.deliverTo.to, message: text }))
      if (sent._tag === "Left") {
        yield* Effect.logWarning(
          `run ${record.runId}: delivery to ${record.deliverTo.channel}:${record.deliverTo.to} failed: ${sent.left.message}`
        )
        return record
      }
      const delivered = { ...record, deliveredAt: Date.now() }
      yield* sessions
        .putRun(delivered)
        .pipe(Effect.catchAll((e) => Effect.logError(`run ${record.runId}: delivered, but not recorded: ${e.message}`)))
      return delivered
    })

  const finish = (job: Job, patch: Pick<RunRecord, "status" | "summary">, toolCalls = 0) =>
    Effect.gen(function* () {
      if (job.finished) return
      job.finished = true
      const record: RunRecord = { ...job.record, ...patch, endedAt: Date.now() }
      job.record = record
      yield* sessions.putRun(record).pipe(Effect.catchAll((e) => Effect.logError(`run ${job.runId}: end not stored: ${e.message}`)))
      const outcome: RunOutcome = {
        ...outcomeOf(record),
        ...(record.status === "ok" ? { result: { text: record.summary ?? "", toolCalls } } : {})
      }
      yield* agentEvent(job.runId, "lifecycle", {
        phase: record.status === "ok" ? "end" : "error",
        status: record.status,
        startedAt: record.startedAt,
        endedAt: record.endedAt,
        ...(record.status === "ok" ? {} : { error: record.summary })
      })
      if (record.status === "ok") {
        yield* chatEvent(job, "final", {
          message: { role: "assistant", content: [{ type: "text", text: record.summary ?? "" }], timestamp: record.endedAt }
        })
      } else {
        yield* chatEvent(job, record.status === "aborted" ? "aborted" : "error", { errorMessage: record.summary })
      }
      yield* Deferred.succeed(job.done, outcome)
      jobs.delete(job.runId)
      forget(job.runId)
      job.record = yield* deliver(record)
    })

  /** The next job of a session, or none (and the session's worker ends), in one step: no job is left behind. */
  const nextJob = (sessionKey: string) =>
    Effect.sync(() => {
      const queue = queues.get(sessionKey)
      const job = queue?.shift()
      if (job === undefined) queues.delete(sessionKey)
      return job
    })

  /** Runs the session's jobs one after another, in the order they were accepted. */
  const worker = (sessionKey: string): Effect.Effect<void> =>
    Effect.gen(function* () {
      for (let job = yield* nextJob(sessionKey); job !== undefined; job = yield* nextJob(sessionKey)) yield* runJob(job)
    })

  const runJob = (job: Job) =>
    Effect.suspend(() =>
      Effect.gen(function* () {
        if (job.finished) return
        if (job.aborted) return yield* finish(job, { status: "aborted", summary: "aborted before it started" })
        // The config is read once per run: its timeout here, its prompt and turn limit in execute.
        const cfg = yield* config.current.pipe(Effect.orElseSucceed((): ClawgateConfig => ({})))
        const defaults = cfg.agents?.defaults
        const seconds = defaults?.timeoutSeconds
        const timeoutMs = job.request.timeoutMs ?? (seconds ? seconds * 1000 : DEFAULT_RUN_TIMEOUT_MS)
        if (job.finished) return // aborted while the config was read
        const fiber = yield* Effect.fork(
          execute(job, defaults).pipe(
            Effect.timeoutFail({
              duration: Duration.millis(timeoutMs),
              onTimeout: () => GatewayError.of("AGENT_TIMEOUT", `run timed out after ${timeoutMs} ms`)
            })
          )
        )
        job.fiber = fiber
        const exit = yield* Fiber.await(fiber)
        if (Exit.isSuccess(exit)) return yield* finish(job, { status: "ok", summary: exit.value.text }, exit.value.toolCalls)
        if (job.aborted) return yield* finish(job, { status: "aborted", summary: "aborted" })
        const failure = Cause.failureOption(exit.cause)
        if (Option.isSome(failure)) {
          const e = failure.value
          return yield* finish(job, { status: e.code === "AGENT_TIMEOUT" ? "timeout" : "error", summary: e.message })
        }
        yield* Effect.logError(`run ${job.runId} crashed`, exit.cause)
        return yield* finish(job, { status: "error", summary: "internal error in the agent run" })
      })
    )

  /** Queues a job behind its session's others, starting the session's worker when none runs. */
  const enqueue = (job: Job) =>
    Effect.suspend(() => {
      const queue = queues.get(job.sessionKey)
      if (queue) return Effect.sync(() => void queue.push(job))
      queues.set(job.sessionKey, [job])
      return Effect.asVoid(Effect.forkIn(worker(job.sessionKey), scope))
    })

  const start = (request: AgentRequest): Effect.Effect<Accepted, GatewayError> =>
    Effect.gen(function* () {
      const runId = request.idempotencyKey
      const sessionKey = request.sessionKey ?? MAIN_SESSION_KEY
      const seen = jobs.get(runId)
      if (seen)
        return { runId, sessionKey: seen.sessionKey, status: "accepted", acceptedAt: seen.record.acceptedAt, deduped: true } as const
      const inProgress = starting.get(runId)
      if (inProgress) return { ...(yield* Deferred.await(inProgress)), deduped: true }
      const stored = yield* sessions.getRun(runId).pipe(Effect.mapError(storage))
      if (Option.isSome(stored)) {
        return {
          runId,
          sessionKey: stored.value.sessionKey,
          status: "accepted",
          acceptedAt: stored.value.acceptedAt,
          deduped: true
        } as const
      }
      const first = yield* Deferred.make<Accepted, GatewayError>()
      starting.set(runId, first)
      return yield* Effect.gen(function* () {
        const session = yield* sessions
          .ensure(sessionKey, {
            agentId: request.agentId ?? "main",
            channel: request.source?.channel,
            peer: request.source?.peer
          })
          .pipe(Effect.mapError(storage))
        const acceptedAt = Date.now()
        const deliverChannel = request.channel ?? (request.deliver ? session.channel : undefined)
        const deliverTo = request.to ?? (request.deliver ? session.peer : undefined)
        if (request.deliver && (!deliverChannel || !deliverTo)) {
          return yield* Effect.fail(
            GatewayError.invalidRequest(
              "deliver needs a channel and a recipient: pass channel and to (this session has no channel of its own)"
            )
          )
        }
        const record: RunRecord = {
          runId,
          sessionKey,
          sessionId: session.sessionId,
          status: "queued",
          acceptedAt,
          ...(request.deliver && deliverChannel && deliverTo ? { deliverTo: { channel: deliverChannel, to: deliverTo } } : {})
        }
        // The message and the run are durable before anyone is told "accepted".
        const [entry] = yield* sessions
          .append(
            sessionKey,
            [{ role: "user", text: request.message, runId, channel: request.source?.channel, sender: request.source?.sender }],
            { cursor: request.cursor, run: record }
          )
          .pipe(Effect.mapError(storage))
        if (entry === undefined) {
          return yield* Effect.fail(GatewayError.unavailable("session store: the message was appended but no entry came back"))
        }
        const job: Job = {
          runId,
          sessionKey,
          request,
          userSeq: entry.seq,
          record,
          done: yield* Deferred.make<RunOutcome>(),
          aborted: false,
          finished: false
        }
        jobs.set(runId, job)
        yield* enqueue(job)
        return { runId, sessionKey, status: "accepted", acceptedAt, deduped: false } as const
      }).pipe(
        Effect.exit,
        Effect.tap((exit) => Deferred.done(first, exit)),
        Effect.ensuring(Effect.sync(() => starting.delete(runId))),
        Effect.flatten
      )
    })

  const wait = (runId: string, timeoutMs?: number) =>
    Effect.gen(function* () {
      const job = jobs.get(runId)
      if (job) {
        if (timeoutMs === undefined) return yield* Deferred.await(job.done)
        const r = yield* Deferred.await(job.done).pipe(Effect.timeoutOption(Duration.millis(timeoutMs)))
        return Option.getOrElse(r, () => ({ runId, status: "timeout" as const }))
      }
      const stored = yield* sessions.getRun(runId).pipe(Effect.mapError(storage))
      if (Option.isNone(stored)) return yield* Effect.fail(GatewayError.invalidRequest(`unknown runId: ${runId}`, { runId }))
      return outcomeOf(stored.value)
    })

  const abort = (options: { readonly sessionKey: string; readonly runId?: string | undefined }) =>
    Effect.gen(function* () {
      const targets = [...jobs.values()].filter(
        (job) => job.sessionKey === options.sessionKey && (options.runId === undefined || job.runId === options.runId)
      )
      for (const job of targets) {
        job.aborted = true
        // A running run is interrupted (its worker ends it); a queued one ends now, without waiting its turn.
        if (job.fiber) yield* Fiber.interrupt(job.fiber)
        else yield* finish(job, { status: "aborted", summary: "aborted before it started" })
      }
      return { aborted: targets.map((job) => job.runId) }
    })

  const activity = Effect.sync(() => ({ runs: jobs.size, sessions: queues.size }))

  const get = (runId: string) =>
    Effect.gen(function* () {
      const job = jobs.get(runId)
      if (job) return job.record
      const stored = yield* sessions.getRun(runId).pipe(Effect.mapError(storage))
      return Option.getOrUndefined(stored)
    })

  // Runs the last Gateway left unfinished failed; replies it did not deliver go now.
  const interrupted = yield* sessions.failInterrupted("interrupted: the gateway stopped during this run").pipe(Effect.orDie)
  if (interrupted.length > 0) yield* Effect.logWarning(`${interrupted.length} run(s) interrupted by the last stop are marked failed`)
  const pending = yield* sessions.undelivered.pipe(Effect.orElseSucceed(() => []))
  if (pending.length > 0) yield* Effect.forkIn(Effect.forEach(pending, deliver, { discard: true }), scope)

  // Spans name the run and its session (keys are bounded by the method table's schemas).
  return AgentRunner.of({
    start: (request) =>
      Effect.withSpan(start(request), "AgentRunner.start", {
        attributes: { runId: request.idempotencyKey, sessionKey: request.sessionKey ?? MAIN_SESSION_KEY }
      }),
    wait: (runId, timeoutMs) => Effect.withSpan(wait(runId, timeoutMs), "AgentRunner.wait", { attributes: { runId } }),
    abort: (options) => Effect.withSpan(abort(options), "AgentRunner.abort", { attributes: { sessionKey: options.sessionKey } }),
    get,
    activity
  })
})

export const AgentRunnerLive = Layer.scoped(AgentRunner, makeAgentRunner)
