/**
 * The NodeRegistry: live node sessions (a node's newer connection replaces
 * its older one), what is known of each node, and node events (see
 * services/NodeRegistry.ts). The invokes (routing, idempotent retries, the
 * timeout sweeper: the hot path) are nodes/invokes.ts.
 */
import { EventBusLive } from "../state/EventBusLive.js"
import { ConnectionHubLive } from "../state/ConnectionHubLive.js"
import { Effect, Layer } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { decodeText, printable } from "../../protocol/codec.js"
import { nodePairApprovalScopes, type PairedNode } from "../../protocol/methods/devices.js"
import { scopeSatisfies } from "../../protocol/scopes.js"
import type { ClawgateConfig } from "../../config/schema.js"
import { ConfigStore } from "../../services/Config.js"
import { Devices, type PairedDevice, type PairingRequest } from "../../services/Devices.js"
import { EventBus } from "../../services/EventBus.js"
import type { NodeInventory } from "../../protocol/methods.js"
import {
  NodeRegistry,
  type InventoryUpdate,
  type NodeApprover,
  type NodeSession,
  type NodeRegistryService
} from "../../services/NodeRegistry.js"
import { failPending, makeInvokes, nodeFailure, type LiveNode } from "./invokes.js"
import { makeSurfaces, type Surface } from "./surfaces.js"

export { commandAllowed } from "./invokes.js"

const make = Effect.gen(function* () {
  const devices = yield* Devices
  const bus = yield* EventBus
  const live = new Map<string, LiveNode>()
  const { invoke, unsafeInvoke, result, unsafeResult } = yield* makeInvokes(live)
  /** What each connected node published on its current connection (memory only: a node publishes again after every connect). */
  const published = new Map<string, { readonly connId: string; value: NodeInventory.Published }>()
  const config = yield* ConfigStore
  const surfaces = yield* makeSurfaces

  const commandApproval = Effect.map(
    config.current.pipe(Effect.orElseSucceed((): ClawgateConfig => ({}))),
    (c) => c.gateway?.nodes?.pairing?.commandApproval ?? "auto"
  )

  /**
   * With `commandApproval: "approve"`: the session's commands cut to the approved ones, the rest held in a
   * `node.pair.*` request (published when new). Fails closed: when the store cannot answer, everything is held.
   */
  const gate = (session: NodeSession) =>
    Effect.gen(function* () {
      if ((yield* commandApproval) !== "approve") return session
      const declared = [...new Set(session.commands)]
      const decided = yield* Effect.either(surfaces.reconcile(session, Date.now()))
      if (decided._tag === "Left") {
        yield* Effect.logWarning(`node ${session.nodeId.slice(0, 12)}: holding every command: ${decided.left.message}`)
        return { ...session, commands: [], held: declared }
      }
      const r = decided.right
      if (r.request && r.fresh) {
        yield* bus.publish({ event: "node.pair.requested", payload: r.request, scope: "operator.pairing" })
        yield* Effect.logInfo(
          `node ${session.nodeId.slice(0, 12)} declares commands waiting for approval (${r.held.join(", ")}): clawgate nodes approve ${r.request.requestId}`
        )
      }
      return { ...session, commands: r.effective, held: r.held, heldRequestId: r.request?.requestId }
    })

  /** Registers a node's connection, replacing an older one of the same node. */
  const register = (declaredSession: NodeSession) =>
    Effect.gen(function* () {
      const session = yield* gate(declaredSession)
      const old = live.get(session.nodeId)
      live.set(session.nodeId, { session, pending: new Map() })
      published.delete(session.nodeId)
      if (old && old.session.connId !== session.connId) {
        yield* failPending(old, nodeFailure("DISCONNECTED", "node reconnected on a new connection", true))
        yield* Effect.logInfo(`node ${session.nodeId.slice(0, 12)} reconnected; the new connection replaces ${old.session.connId}`)
      }
      yield* devices.touch(session.nodeId, "connect")
    })

  const unregister = (nodeId: string, connId: string) =>
    Effect.gen(function* () {
      const entry = live.get(nodeId)
      if (!entry || entry.session.connId !== connId) return
      live.delete(nodeId)
      published.delete(nodeId)
      yield* failPending(entry, nodeFailure("DISCONNECTED", "node disconnected", true))
      yield* devices.touch(nodeId, "disconnect")
    })

  /** One node as node.list shows it; `node.describe` adds what it published (`withPublished`), which can be large. */
  const describeNode = (nodeId: string, withPublished = false) =>
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
        approvalState: !device ? "unapproved" : s?.held?.length ? "pending" : "approved",
        paired: device !== undefined,
        connected: entry !== undefined,
        ...(s ? { connectedAtMs: s.connectedAtMs, remoteIp: s.remoteIp } : {}),
        ...(device ? { approvedAtMs: device.approvedAtMs, lastSeenAtMs: device.lastSeenAtMs, lastSeenReason: device.lastSeenReason } : {}),
        ...(withPublished && entry && published.get(nodeId)?.connId === entry.session.connId
          ? { published: published.get(nodeId)?.value }
          : {})
      }
    })

  const list = Effect.gen(function* () {
    const { paired } = yield* devices.list
    const ids = new Set([...paired.filter((d) => d.roles.includes("node")).map((d) => d.deviceId), ...live.keys()])
    const nodes = yield* Effect.forEach([...ids], (id) => describeNode(id))
    return { ts: Date.now(), nodes: nodes.filter((n) => n !== undefined) }
  })

  const describe = (nodeId: string) =>
    Effect.flatMap(describeNode(nodeId, true), (n) =>
      n ? Effect.succeed({ ts: Date.now(), ...n }) : Effect.fail(GatewayError.invalidRequest("unknown nodeId", { nodeId }))
    )

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

  const publish = (nodeId: string, connId: string, update: InventoryUpdate) =>
    Effect.suspend(() => {
      if (live.get(nodeId)?.session.connId !== connId) return Effect.fail(GatewayError.invalidRequest("unknown nodeId", { nodeId }))
      let slot = published.get(nodeId)
      if (slot?.connId !== connId) {
        slot = { connId, value: { updates: { skills: 0, pluginTools: 0, runnerInventory: 0 } } }
        published.set(nodeId, slot)
      }
      const v = slot.value
      const updates = { ...v.updates, [update._tag]: v.updates[update._tag] + 1 }
      const updatedAtMs = Date.now()
      slot.value =
        update._tag === "skills"
          ? { ...v, skills: update.skills, updates, updatedAtMs }
          : update._tag === "pluginTools"
            ? { ...v, pluginTools: update.tools, updates, updatedAtMs }
            : { ...v, runnerInventory: update.inventory, updates, updatedAtMs }
      return Effect.logDebug(`node ${nodeId.slice(0, 12)} published its ${update._tag} (update ${updates[update._tag]} on ${connId})`)
    })

  // --- node.pair.*: command surfaces (commandApproval "approve") and nodes' device-pairing requests ---------

  const resolved = (requestId: string, nodeId: string, decision: "approved" | "rejected") =>
    bus.publish({ event: "node.pair.resolved", payload: { requestId, nodeId, decision, ts: Date.now() }, scope: "operator.pairing" })

  const deviceRequestAsNode = (r: PairingRequest) => ({
    requestId: r.requestId,
    nodeId: r.deviceId,
    clientId: r.clientId,
    clientMode: r.clientMode,
    ...(r.displayName !== undefined ? { displayName: r.displayName } : {}),
    ...(r.platform !== undefined ? { platform: r.platform } : {}),
    ...(r.deviceFamily !== undefined ? { deviceFamily: r.deviceFamily } : {}),
    ...(r.commands !== undefined ? { commands: [...r.commands] } : {}),
    requiredApproveScopes: ["operator.pairing"],
    ...(r.remoteIp !== undefined ? { remoteIp: r.remoteIp } : {}),
    silent: false,
    ts: r.ts
  })

  const pairedNode = (d: PairedDevice, surface: Surface | undefined): PairedNode => {
    const s = live.get(d.deviceId)?.session
    const commands = surface?.approved ?? s?.commands
    return {
      nodeId: d.deviceId,
      clientId: d.clientId,
      clientMode: d.clientMode,
      ...(d.displayName !== undefined ? { displayName: d.displayName } : {}),
      ...(d.platform !== undefined ? { platform: d.platform } : {}),
      ...(d.deviceFamily !== undefined ? { deviceFamily: d.deviceFamily } : {}),
      ...(commands !== undefined ? { commands: [...commands] } : {}),
      ...(s?.remoteIp !== undefined ? { remoteIp: s.remoteIp } : {}),
      createdAtMs: d.createdAtMs,
      approvedAtMs: surface?.approvedAtMs ?? d.approvedAtMs,
      ...(d.lastSeenAtMs !== undefined ? { lastSeenAtMs: d.lastSeenAtMs } : {}),
      ...(d.lastSeenReason !== undefined ? { lastSeenReason: d.lastSeenReason } : {})
    }
  }

  const pairList = Effect.gen(function* () {
    const devs = yield* devices.list
    const all = yield* surfaces.all
    const byNode = new Map(all.map((s) => [s.nodeId, s]))
    return {
      pending: [
        ...all.flatMap((s) => (s.pending ? [s.pending] : [])),
        ...devs.pending.filter((r) => r.roles.includes("node")).map(deviceRequestAsNode)
      ],
      paired: devs.paired.filter((d) => d.roles.includes("node")).map((d) => pairedNode(d, byNode.get(d.deviceId)))
    }
  })

  /** A live node's session after an approval or rejection: what it declares, cut to `approved`. */
  const regate = (nodeId: string, approved: ReadonlyArray<string> | undefined, heldRequestId: string | undefined) =>
    Effect.sync(() => {
      const entry = live.get(nodeId)
      if (!entry) return
      const declared = [...entry.session.commands, ...(entry.session.held ?? [])]
      const ok = approved ?? entry.session.commands
      const session = {
        ...entry.session,
        commands: declared.filter((c) => ok.includes(c)),
        held: declared.filter((c) => !ok.includes(c)),
        heldRequestId
      }
      live.set(nodeId, { session, pending: entry.pending })
    })

  const pairApprove = (requestId: string, approver: NodeApprover) =>
    Effect.gen(function* () {
      const surface = yield* surfaces.byRequest(requestId)
      if (!surface?.pending) {
        const r = yield* devices.approve(requestId, approver)
        return { requestId: r.requestId, node: pairedNode(r.device, yield* surfaces.get(r.device.deviceId)) }
      }
      const commands = surface.pending.commands ?? []
      const required = nodePairApprovalScopes(commands)
      const missing = required.find((scope) => !scopeSatisfies(approver.scopes, scope))
      if (missing !== undefined) {
        return yield* GatewayError.of(
          "FORBIDDEN",
          `missing scope: ${missing} (approving the commands ${commands.join(", ")} of node ${surface.nodeId.slice(0, 12)} needs ${required.join(" + ")})`,
          { details: { code: "MISSING_SCOPE", missingScope: missing, requiredScopes: required } }
        )
      }
      const approved = yield* surfaces.approve(requestId, Date.now())
      if (!approved) return yield* GatewayError.invalidRequest("unknown requestId", { requestId })
      yield* regate(surface.nodeId, approved.approved, undefined)
      yield* resolved(requestId, surface.nodeId, "approved")
      yield* Effect.logInfo(`approved commands of node ${surface.nodeId.slice(0, 12)}: ${commands.join(", ") || "(none)"}`)
      const device = yield* devices.get(surface.nodeId)
      const node: PairedNode = device
        ? pairedNode(device, approved)
        : { nodeId: surface.nodeId, commands: [...(approved.approved ?? [])], approvedAtMs: approved.approvedAtMs }
      return { requestId, node }
    })

  const pairReject = (requestId: string) =>
    Effect.gen(function* () {
      const surface = yield* surfaces.reject(requestId)
      if (!surface) {
        const r = yield* devices.reject(requestId)
        return { requestId: r.requestId, nodeId: r.deviceId }
      }
      yield* regate(surface.nodeId, surface.approved ?? [], undefined)
      yield* resolved(requestId, surface.nodeId, "rejected")
      yield* Effect.logInfo(`rejected the commands node ${surface.nodeId.slice(0, 12)} asked for: ${surface.pending?.commands?.join(", ")}`)
      return { requestId, nodeId: surface.nodeId }
    })

  return {
    register,
    pairList: Effect.withSpan(pairList, "NodeRegistry.pairList"),
    pairApprove: (requestId, approver) => Effect.withSpan(pairApprove(requestId, approver), "NodeRegistry.pairApprove"),
    pairReject: (requestId) => Effect.withSpan(pairReject(requestId), "NodeRegistry.pairReject"),
    forgetSurface: surfaces.forget,
    unregister,
    list: Effect.withSpan(list, "NodeRegistry.list"),
    describe: (nodeId) => Effect.withSpan(describe(nodeId), "NodeRegistry.describe", { attributes: { nodeId: printable(nodeId, 80) } }),
    invoke,
    unsafeInvoke,
    result,
    unsafeResult,
    event: (fromNodeId, params) =>
      Effect.withSpan(event(fromNodeId, params), "NodeRegistry.event", {
        attributes: { nodeId: printable(fromNodeId, 80), event: printable(params.event, 80) }
      }),
    publish,
    connected: Effect.sync(() => [...live.keys()])
  } satisfies NodeRegistryService
})

/**
 * The registry, with its own ConnectionHub and EventBus (the same ones as the rest of the Gateway's
 * when built from the same layer references). Devices is a port with a SQL adapter
 * (layers/store/DevicesSql): provided by whoever composes the Gateway.
 */
export const NodeRegistryLive = Layer.scoped(NodeRegistry, make).pipe(Layer.provide(Layer.merge(ConnectionHubLive, EventBusLive)))
