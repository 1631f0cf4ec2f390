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
import { Devices } from "../../services/Devices.js"
import { EventBus } from "../../services/EventBus.js"
import type { NodeInventory } from "../../protocol/methods.js"
import { NodeRegistry, type NodeSession, type NodeRegistryService, type InventoryUpdate } from "../../services/NodeRegistry.js"
import { failPending, makeInvokes, nodeFailure, type LiveNode } from "./invokes.js"

export { commandAllowed } from "./invokes.js"

const make = Effect.gen(function* () {
  const devices = yield* Devices
  const bus = yield* EventBus
  const live = new Map<string, LiveNode>()
  const { invoke, unsafeInvoke, result, unsafeResult } = yield* makeInvokes(live)
  /** What each connected node published on its current connection (memory only: a node publishes again after every connect). */
  const published = new Map<string, { readonly connId: string; value: NodeInventory.Published }>()

  /** Registers a node's connection, replacing an older one of the same node. */
  const register = (session: NodeSession) =>
    Effect.gen(function* () {
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
        approvalState: device ? "approved" : "unapproved",
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

  return {
    register,
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
