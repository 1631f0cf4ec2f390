/**
 * The NodeRegistry: live node sessions, pending invokes swept by one timer,
 * idempotent retries, and node events (see services/NodeRegistry.ts).
 */
import { randomUUID } from "node:crypto"
import { EventBusLive } from "../state/EventBusLive.js"
import { ConnectionHubLive } from "../state/ConnectionHubLive.js"
import { Duration, Effect, Exit, Layer, Predicate, Runtime, Schedule } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { decodeText, printable } from "../../protocol/codec.js"
import { ConfigStore } from "../../services/Config.js"
import { ConnectionHub } from "../../services/ConnectionHub.js"
import { Devices } from "../../services/Devices.js"
import { EventBus } from "../../services/EventBus.js"

import {
  NodeRegistry,
  DEFAULT_INVOKE_TIMEOUT_MS,
  IDEMPOTENCY_TTL_MS,
  approvalFields,
  type InvokeExit,
  type InvokeRequest,
  type InvokeResult,
  type NodeResultParams,
  type NodeSession,
  type NodeRegistryService
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

interface Live {
  readonly session: NodeSession
  readonly pending: Map<string, PendingInvoke>
}

/** How often pending invokes are checked against their deadlines. */
const MAX_IDEMPOTENCY_ENTRIES = 5_000
const TIMEOUT_SWEEP = Duration.millis(50)

const nodeFailure = (code: string, message: string, dispatched: boolean, extra: Record<string, unknown> = {}) =>
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

const make = Effect.gen(function* () {
  const hub = yield* ConnectionHub
  const devices = yield* Devices
  const config = yield* ConfigStore
  const bus = yield* EventBus
  const live = new Map<string, Live>()
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

  const failAll = (entry: Live, error: GatewayError) =>
    Effect.sync(() => {
      const pending = [...entry.pending.values()]
      entry.pending.clear()
      for (const p of pending) p.outcome.complete({ _tag: "error", error })
    })

  // One sweeper for every pending invoke, instead of a timer per invoke.
  const sweep = Effect.sync(() => {
    const now = clock.unsafeCurrentTimeMillis()
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
    }
  })
  yield* Effect.forkScoped(Effect.repeat(sweep, Schedule.spaced(TIMEOUT_SWEEP)))

  /** Registers a node's connection, replacing an older one of the same node. */
  const register = (session: NodeSession) =>
    Effect.gen(function* () {
      const old = live.get(session.nodeId)
      live.set(session.nodeId, { session, pending: new Map() })
      if (old && old.session.connId !== session.connId) {
        yield* failAll(old, nodeFailure("DISCONNECTED", "node reconnected on a new connection", true))
        yield* Effect.logInfo(`node ${session.nodeId.slice(0, 12)} reconnected; the new connection replaces ${old.session.connId}`)
      }
      yield* devices.touch(session.nodeId, "connect")
    })

  const unregister = (nodeId: string, connId: string) =>
    Effect.gen(function* () {
      const entry = live.get(nodeId)
      if (!entry || entry.session.connId !== connId) return
      live.delete(nodeId)
      yield* failAll(entry, nodeFailure("DISCONNECTED", "node disconnected", true))
      yield* devices.touch(nodeId, "disconnect")
    })

  const describeNode = (nodeId: string) =>
    Effect.gen(function* () {
      const device = yield* devices.get(nodeId)
      const entry = live.get(nodeId)
      if (!entry && !device?.roles.includes("node")) return undefined
      const s = entry?.session
      return {
        nodeId,
        displayName: s?.displayName ?? device?.displayName,
        platform: s?.platform ?? device?.platform,
        version: s?.version,
        clientId: s?.clientId ?? device?.clientId,
        clientMode: "node",
        deviceFamily: s?.deviceFamily ?? device?.deviceFamily,
        caps: s?.caps ?? [],
        commands: [...(s?.commands ?? [])].sort(),
        approvalState: device ? "approved" : "unapproved",
        paired: device !== undefined,
        connected: entry !== undefined,
        ...(s ? { connectedAtMs: s.connectedAtMs, remoteIp: s.remoteIp } : {}),
        ...(device ? { approvedAtMs: device.approvedAtMs, lastSeenAtMs: device.lastSeenAtMs, lastSeenReason: device.lastSeenReason } : {})
      }
    })

  const list = Effect.gen(function* () {
    const { paired } = yield* devices.list
    const ids = new Set([...paired.filter((d) => d.roles.includes("node")).map((d) => d.deviceId), ...live.keys()])
    const nodes = yield* Effect.forEach([...ids], describeNode)
    return { ts: Date.now(), nodes: nodes.filter((n) => n !== undefined) }
  })

  const describe = (nodeId: string) =>
    Effect.flatMap(describeNode(nodeId), (n) =>
      n ? Effect.succeed({ ts: Date.now(), ...n }) : Effect.fail(GatewayError.invalidRequest("unknown nodeId", { nodeId }))
    )

  /** Sends the request to the node; `outcome` (shared with retries of the same key) completes with its answer. */
  const dispatch = (req: InvokeRequest, timeoutMs: number, outcome: Completion): void => {
    const entry = live.get(req.nodeId)
    const conn = entry && hub.unsafeGet(entry.session.connId)
    if (!entry || !conn) return outcome.complete({ _tag: "error", error: notConnected(req.nodeId) })
    const id = randomUUID()
    entry.pending.set(id, { outcome, deadline: clock.unsafeCurrentTimeMillis() + timeoutMs, timeoutMs })
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

  const event = (fromNodeId: string, params: { event: string; payload?: unknown; payloadJSON?: string | undefined }) =>
    Effect.gen(function* () {
      if (params.event === "node.presence.alive") {
        yield* devices.touch(fromNodeId, "alive")
        return { ok: true, event: params.event, handled: true, reason: "persisted" }
      }
      let payload = params.payload
      if (payload === undefined && params.payloadJSON !== undefined) {
        const decoded = decodeText(params.payloadJSON)
        if (!decoded.ok && decoded.reason === "depth") {
          return yield* GatewayError.invalidRequest(`payloadJSON: ${decoded.message.replace(/^invalid frame: /, "")}`, {
            code: "FRAME_TOO_DEEP"
          })
        }
        payload = decoded.ok ? decoded.value : params.payloadJSON
      }
      yield* bus.publish({ event: "node.event", payload: { nodeId: fromNodeId, event: params.event, payload, ts: Date.now() } })
      return { ok: true, event: params.event, handled: false, reason: "unsupported_event" }
    })

  return {
    register,
    unregister,
    list,
    describe,
    invoke,
    unsafeInvoke,
    result,
    unsafeResult,
    event,
    connected: Effect.sync(() => [...live.keys()])
  } satisfies NodeRegistryService
})

/**
 * The registry, with its own ConnectionHub and EventBus (the same ones as the rest of the Gateway's
 * when built from the same layer references). Devices is a port with a SQL adapter
 * (layers/store/DevicesSql): provided by whoever composes the Gateway.
 */
export const NodeRegistryLive = Layer.scoped(NodeRegistry, make).pipe(Layer.provide(Layer.merge(ConnectionHubLive, EventBusLive)))
