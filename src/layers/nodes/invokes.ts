/**
 * The NodeRegistry's invokes: a `node.invoke` refused before it reaches the
 * node (undeclared command, approval fields, the command policy) or sent on
 * the node's connection, idempotent retries sharing one answer, the node's
 * `node.invoke.result` completing it, and one timer sweeping every pending
 * invoke against its deadline. Plain callbacks, no fiber and no effect per
 * invoke: this is the benchmarked hot path. The table of live nodes is the
 * registry's (NodeRegistryLive.ts); this module only reads it.
 */
import { randomUUID } from "node:crypto"
import { Duration, Effect, Exit, Predicate, Runtime } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { decodeText, printable } from "../../protocol/codec.js"
import { sweepWhileBusy } from "../../util/idleSweep.js"
import { ConfigStore } from "../../services/Config.js"
import { ConnectionHub } from "../../services/ConnectionHub.js"
import {
  DEFAULT_INVOKE_TIMEOUT_MS,
  IDEMPOTENCY_TTL_MS,
  approvalFields,
  type InvokeExit,
  type InvokeRequest,
  type InvokeResult,
  type NodeResultParams,
  type NodeSession
} from "../../services/NodeRegistry.js"

type Outcome =
  | { readonly _tag: "ok"; readonly payload: unknown; readonly payloadJSON: string | null }
  | { readonly _tag: "error"; readonly error: GatewayError }

/**
 * One invoke's answer: set once, then handed to everyone waiting (retries with
 * the same idempotency key wait on the same one). Plain callbacks: this is the
 * hot path of every invoke, and the operator's answer is written from inside
 * the node's `node.invoke.result`, before that is acknowledged.
 */
class Completion {
  outcome: Outcome | undefined = undefined
  private waiters: Array<(o: Outcome) => void> = []

  complete(o: Outcome): void {
    if (this.outcome !== undefined) return
    this.outcome = o
    for (const w of this.waiters.splice(0)) w(o)
  }

  /** Calls `waiter` once with the outcome; returns a function that stops waiting. */
  onComplete(waiter: (o: Outcome) => void): () => void {
    if (this.outcome !== undefined) {
      waiter(this.outcome)
      return () => {}
    }
    this.waiters.push(waiter)
    return () => {
      this.waiters = this.waiters.filter((w) => w !== waiter)
    }
  }
}

interface PendingInvoke {
  readonly outcome: Completion
  /** Clock time after which the invoke fails with TIMEOUT. */
  readonly deadline: number
  readonly timeoutMs: number
}

/** A connected node: its session and the invokes waiting for its answer, by invoke id. */
export interface LiveNode {
  readonly session: NodeSession
  readonly pending: Map<string, PendingInvoke>
}

const MAX_IDEMPOTENCY_ENTRIES = 5_000
/** How often pending invokes are checked against their deadlines. */
const TIMEOUT_SWEEP = Duration.millis(50)

export const nodeFailure = (code: string, message: string, dispatched: boolean, extra: Record<string, unknown> = {}) =>
  GatewayError.of("UNAVAILABLE", message.startsWith(`${code}:`) ? message : `${code}: ${message}`, {
    details: { ...extra, nodeError: { code, message }, nodeCommandDispatched: dispatched }
  })

const notConnected = (nodeId: string) =>
  GatewayError.of("UNAVAILABLE", "node not connected", {
    details: {
      code: "NOT_CONNECTED",
      nodeId,
      nodeError: { code: "NOT_CONNECTED", message: "node not connected" },
      nodeCommandDispatched: false
    },
    retryable: true
  })

/** `allow`/`deny` entries are exact names, or a prefix ending in `.*` (`system.*`). Deny wins. */
export const commandAllowed = (
  command: string,
  policy: { allow?: ReadonlyArray<string> | undefined; deny?: ReadonlyArray<string> | undefined }
) => {
  const match = (pattern: string) => (pattern.endsWith(".*") ? command.startsWith(pattern.slice(0, -1)) : pattern === command)
  if (policy.deny?.some(match)) return { ok: false as const, reason: "blocked by gateway.nodes.commands.deny" }
  if (policy.allow && !policy.allow.some(match)) return { ok: false as const, reason: "not in gateway.nodes.commands.allow" }
  return { ok: true as const }
}

/** Fails every invoke waiting on a node (its connection closed or was replaced). */
export const failPending = (entry: LiveNode, error: GatewayError) =>
  Effect.sync(() => {
    const pending = [...entry.pending.values()]
    entry.pending.clear()
    for (const p of pending) p.outcome.complete({ _tag: "error", error })
  })

/**
 * The invoke half of the registry over its table of live nodes (`live`, read
 * only here). Forks the timeout sweeper in the layer's scope.
 */
export const makeInvokes = (live: ReadonlyMap<string, LiveNode>) =>
  Effect.gen(function* () {
    const hub = yield* ConnectionHub
    const config = yield* ConfigStore
    const idempotent = new Map<string, { readonly at: number; readonly result: Completion }>()
    // The clock of the layer's runtime: the TestClock in tests.
    const clock = yield* Effect.clock
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())

    // The command policy, from the config snapshot, looked at again at most every 250 ms:
    // the invoke hot path does not run an effect for it.
    let policy = (yield* config.snapshot).gateway?.nodes?.commands ?? {}
    let policyAt = Date.now()
    const currentPolicy = () => {
      const now = Date.now()
      if (now - policyAt >= 250) {
        policyAt = now
        // The snapshot answers at once (it re-reads the file in the background).
        runFork(Effect.map(config.snapshot, (c) => void (policy = c.gateway?.nodes?.commands ?? {})))
      }
      return policy
    }

    // One sweeper for every pending invoke, instead of a timer per invoke; it sleeps while none is pending.
    const invokeSent = yield* Effect.makeLatch(false)
    const sweep = Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      let waiting = 0
      for (const entry of live.values()) {
        for (const [id, p] of entry.pending) {
          if (p.deadline > now) continue
          entry.pending.delete(id)
          const conn = hub.unsafeGet(entry.session.connId)
          conn?.sendEvent("node.invoke.cancel", { invokeId: id, nodeId: entry.session.nodeId })
          p.outcome.complete({
            _tag: "error",
            error: nodeFailure("TIMEOUT", "node invoke timed out", true, { timeoutMs: p.timeoutMs })
          })
        }
        waiting += entry.pending.size
      }
      return waiting > 0
    })
    yield* Effect.forkScoped(sweepWhileBusy(invokeSent, TIMEOUT_SWEEP, sweep))

    /** Sends the request to the node; `outcome` (shared with retries of the same key) completes with its answer. */
    const dispatch = (req: InvokeRequest, timeoutMs: number, outcome: Completion): void => {
      const entry = live.get(req.nodeId)
      const conn = entry && hub.unsafeGet(entry.session.connId)
      if (!entry || !conn) return outcome.complete({ _tag: "error", error: notConnected(req.nodeId) })
      const id = randomUUID()
      entry.pending.set(id, { outcome, deadline: clock.unsafeCurrentTimeMillis() + timeoutMs, timeoutMs })
      invokeSent.unsafeOpen()
      conn.sendEvent("node.invoke.request", {
        id,
        nodeId: req.nodeId,
        command: req.command,
        paramsJSON: req.params === undefined ? null : JSON.stringify(req.params),
        timeoutMs,
        idempotencyKey: req.idempotencyKey
      })
    }

    const refuse = (req: InvokeRequest): GatewayError | undefined => {
      const entry = live.get(req.nodeId)
      if (!entry) return notConnected(req.nodeId)
      // Refused before anything reaches the node.
      if (entry.session.held?.includes(req.command)) {
        const rid = entry.session.heldRequestId
        return GatewayError.invalidRequest(
          rid !== undefined
            ? `node command not approved: "${printable(req.command, 80)}" waits for approval; run \`clawgate nodes approve ${rid}\` (see clawgate nodes pending)`
            : `node command not approved: "${printable(req.command, 80)}" was rejected; the node asks again when it reconnects (then clawgate nodes approve <requestId>)`,
          { code: "NODE_COMMAND_NOT_APPROVED", command: req.command, nodeId: req.nodeId, ...(rid !== undefined ? { requestId: rid } : {}) }
        )
      }
      if (!entry.session.commands.includes(req.command)) {
        return GatewayError.invalidRequest(
          `node command not allowed: the node does not declare "${printable(req.command, 80)}" (it serves: ${printable(entry.session.commands.join(", "), 400) || "nothing"})`,
          { reason: "command not declared by node", command: req.command }
        )
      }
      if (!req.mayApprove) {
        const fields = approvalFields(req.params)
        if (fields.length > 0) {
          const shown = fields.slice(0, 4).map((f) => printable(f, 40))
          return GatewayError.of(
            "FORBIDDEN",
            `missing scope: operator.approvals (node.invoke params carry approval fields: ${shown.join(", ")}; only a caller with operator.approvals may send them)`,
            {
              details: { code: "MISSING_SCOPE", missingScope: "operator.approvals", requiredScopes: ["operator.approvals"], fields: shown }
            }
          )
        }
      }
      const allowed = commandAllowed(req.command, currentPolicy())
      if (!allowed.ok) {
        return GatewayError.invalidRequest(`node command not allowed: "${printable(req.command, 80)}" is ${allowed.reason}`, {
          reason: allowed.reason,
          command: req.command
        })
      }
      return undefined
    }

    /**
     * `invoke` with a plain callback: no fiber per call (this is what the
     * transport runs for `node.invoke`). `done` is called exactly once, unless
     * the returned function is called first to stop waiting.
     */
    const unsafeInvoke = (req: InvokeRequest, done: (exit: InvokeExit) => void): (() => void) => {
      const refused = refuse(req)
      if (refused) {
        done(Exit.fail(refused))
        return () => {}
      }
      const timeoutMs = req.timeoutMs ?? DEFAULT_INVOKE_TIMEOUT_MS
      // Idempotency: the same key for the same node and command shares one run.
      const key = `${req.nodeId}\u0000${req.command}\u0000${req.idempotencyKey}`
      const now = clock.unsafeCurrentTimeMillis()
      // Entries are in insertion (= time) order: expire from the oldest, stop at the first live one.
      for (const [k, v] of idempotent) {
        if (now - v.at <= IDEMPOTENCY_TTL_MS) break
        idempotent.delete(k)
      }
      const answer = (o: Outcome) =>
        done(
          o._tag === "error"
            ? Exit.fail(o.error)
            : Exit.succeed({ ok: true, nodeId: req.nodeId, command: req.command, payload: o.payload, payloadJSON: o.payloadJSON })
        )
      const cached = idempotent.get(key)
      if (cached) return cached.result.onComplete(answer)
      const result = new Completion()
      if (idempotent.size >= MAX_IDEMPOTENCY_ENTRIES) {
        const oldest = idempotent.keys().next()
        if (!oldest.done) idempotent.delete(oldest.value)
      }
      idempotent.set(key, { at: now, result })
      // A run that never reached the node may be retried: forget it before anyone is told.
      const forgetUndispatched = (o: Outcome) => {
        const details = o._tag === "error" ? o.error.details : undefined
        if (Predicate.hasProperty(details, "nodeCommandDispatched") && details.nodeCommandDispatched === false) {
          if (idempotent.get(key)?.result === result) idempotent.delete(key)
        }
      }
      result.onComplete(forgetUndispatched)
      const stop = result.onComplete(answer)
      dispatch(req, timeoutMs, result)
      return stop
    }

    const invoke = (req: InvokeRequest): Effect.Effect<InvokeResult, GatewayError> =>
      Effect.async<InvokeResult, GatewayError>((resume) => {
        const stop = unsafeInvoke(req, resume)
        return Effect.sync(stop)
      })

    /** A node's answer. `fromNodeId` is the device id of the connection it came on. */
    const unsafeResult = (
      fromNodeId: string,
      connId: string,
      params: NodeResultParams
    ): Exit.Exit<{ ok: true; ignored?: true }, GatewayError> => {
      if (params.nodeId !== fromNodeId) return Exit.fail(GatewayError.invalidRequest("nodeId mismatch"))
      const entry = live.get(fromNodeId)
      const waiting = entry?.session.connId === connId ? entry.pending.get(params.id)?.outcome : undefined
      if (!entry || !waiting) return Exit.succeed({ ok: true, ignored: true })
      entry.pending.delete(params.id)
      if (params.ok) {
        let payload = params.payload
        let payloadJSON = params.payloadJSON ?? null
        if (payloadJSON !== null && payload === undefined) {
          // The JSON inside the frame's string is bounded like the frame itself before it is parsed.
          const decoded = decodeText(payloadJSON)
          if (!decoded.ok && decoded.reason === "depth") {
            const error = GatewayError.invalidRequest(`payloadJSON: ${decoded.message.replace(/^invalid frame: /, "")}`, {
              code: "FRAME_TOO_DEEP"
            })
            waiting.complete({
              _tag: "error",
              error: nodeFailure(
                "INVALID_RESULT",
                `the node answered with a payload ${decoded.message.replace(/^invalid frame: /, "")}`,
                true
              )
            })
            return Exit.fail(error)
          }
          payload = decoded.ok ? decoded.value : payloadJSON
        } else if (payloadJSON === null && payload !== undefined) payloadJSON = JSON.stringify(payload)
        waiting.complete({ _tag: "ok", payload: payload ?? null, payloadJSON })
      } else {
        const code = params.error?.code ?? "NODE_ERROR"
        waiting.complete({ _tag: "error", error: nodeFailure(code, params.error?.message ?? "the node reported an error", true) })
      }
      // The operator's answer has been written (synchronously, by its waiter) before this acknowledgement.
      return Exit.succeed({ ok: true })
    }

    const result = (fromNodeId: string, connId: string, params: NodeResultParams) =>
      Effect.suspend(() => unsafeResult(fromNodeId, connId, params))

    return { invoke, unsafeInvoke, result, unsafeResult }
  })
