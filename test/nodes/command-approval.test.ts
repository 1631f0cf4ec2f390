/**
 * `gateway.nodes.pairing.commandApproval: "approve"`: a node's newly declared commands wait in a node.pair
 * request (the NodeRegistry on an in-memory database, a fake node connection).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Queue, TestClock } from "effect"
import { ConfigMemory } from "../../src/layers/ConfigMemory.js"
import { DatabaseLive } from "../../src/layers/Database.js"
import { NodeRegistryLive } from "../../src/layers/nodes/NodeRegistryLive.js"
import { ConnectionHubLive } from "../../src/layers/state/ConnectionHubLive.js"
import { EventBusLive } from "../../src/layers/state/EventBusLive.js"
import { DevicesSqlLive } from "../../src/layers/store/DevicesSql.js"
import { ConnectionHub } from "../../src/services/ConnectionHub.js"
import { EventBus } from "../../src/services/EventBus.js"
import { NodeRegistry } from "../../src/services/NodeRegistry.js"

const approveMode = { gateway: { nodes: { pairing: { commandApproval: "approve" } } } }
const layer = (config: Record<string, unknown> = approveMode) =>
  Layer.mergeAll(NodeRegistryLive.pipe(Layer.provideMerge(DevicesSqlLive)), ConnectionHubLive, EventBusLive).pipe(
    Layer.provide(DatabaseLive(undefined)),
    Layer.provide(ConfigMemory(config))
  )

const NODE = "b".repeat(64)
const admin = { scopes: ["operator.pairing", "operator.admin"] }

/** A node connection (`connId`) declaring `commands`; the events sent to it are recorded. */
const connect = (commands: ReadonlyArray<string>, connId = "conn-1") =>
  Effect.gen(function* () {
    const hub = yield* ConnectionHub
    const registry = yield* NodeRegistry
    const sent: Array<{ event: string; payload: any }> = []
    yield* hub.register({
      connId,
      role: "node",
      deviceId: NODE,
      clientId: "node-host",
      sendEvent: (event, payload) => void sent.push({ event, payload }),
      close: () => {}
    })
    yield* registry.register({ nodeId: NODE, connId, clientId: "node-host", displayName: "lap", caps: [], commands, connectedAtMs: 0 })
    return { registry, sent }
  })

const invoke = (command: string, key: string) =>
  Effect.flatMap(NodeRegistry, (r) =>
    Effect.zipLeft(Effect.fork(r.invoke({ nodeId: NODE, command, idempotencyKey: key })), TestClock.adjust("1 millis"))
  )
const refusal = (command: string) =>
  Effect.flatMap(NodeRegistry, (r) => Effect.flip(r.invoke({ nodeId: NODE, command, idempotencyKey: `refused-${command}` })))

describe("node command approval", () => {
  it.scoped("held: node.invoke refuses naming the approve command; the request is listed with the scopes it needs", () =>
    Effect.gen(function* () {
      const events = yield* Effect.flatMap(EventBus, (b) => b.subscribe)
      const { registry, sent } = yield* connect(["system.info", "system.run"])
      const { pending } = yield* registry.pairList
      expect(pending).toHaveLength(1)
      const request = pending[0]!
      expect(request).toMatchObject({
        nodeId: NODE,
        displayName: "lap",
        commands: ["system.info", "system.run"],
        requiredApproveScopes: ["operator.pairing", "operator.admin"]
      })
      const announced = yield* Queue.take(events)
      expect(announced).toMatchObject({ event: "node.pair.requested", payload: { requestId: request.requestId } })

      const error = yield* refusal("system.info")
      expect(error.code).toBe("INVALID_REQUEST")
      expect(error.message).toBe(
        `node command not approved: "system.info" waits for approval; run \`clawgate nodes approve ${request.requestId}\` (see clawgate nodes pending)`
      )
      expect(error.details).toMatchObject({ code: "NODE_COMMAND_NOT_APPROVED", requestId: request.requestId })
      expect(sent).toEqual([])
      expect((yield* registry.describe(NODE)).commands).toEqual([])
    }).pipe(Effect.provide(layer()))
  )

  it.scoped("system.run needs operator.admin to approve; ordinary commands operator.write; then invokable", () =>
    Effect.gen(function* () {
      const { registry, sent } = yield* connect(["system.info", "system.run"])
      const [request] = (yield* registry.pairList).pending
      const denied = yield* Effect.flip(registry.pairApprove(request!.requestId, { scopes: ["operator.pairing", "operator.write"] }))
      expect(denied.code).toBe("FORBIDDEN")
      expect(denied.message).toMatch(/^missing scope: operator.admin/)
      expect(denied.details).toEqual({
        code: "MISSING_SCOPE",
        missingScope: "operator.admin",
        requiredScopes: ["operator.pairing", "operator.admin"]
      })

      const ok = yield* registry.pairApprove(request!.requestId, admin)
      expect(ok.node).toMatchObject({ nodeId: NODE, commands: ["system.info", "system.run"] })
      expect((yield* registry.pairList).pending).toEqual([])
      yield* invoke("system.run", "k1")
      expect(sent.map((s) => s.payload.command)).toEqual(["system.run"])

      // A command without system.run: operator.write is enough, operator.read is not.
      const next = yield* connect(["system.info", "system.run", "system.notify"], "conn-2")
      const [widened] = (yield* registry.pairList).pending
      expect(widened!.requiredApproveScopes).toEqual(["operator.pairing", "operator.admin"])
      yield* invoke("system.run", "k2")
      expect(next.sent.map((s) => s.payload.command)).toEqual(["system.run"])
      expect((yield* refusal("system.notify")).details).toMatchObject({ code: "NODE_COMMAND_NOT_APPROVED", requestId: widened!.requestId })
    }).pipe(Effect.provide(layer()))
  )

  it.scoped("an unchanged surface keeps its requestId across reconnects; one with nothing new clears it", () =>
    Effect.gen(function* () {
      const { registry } = yield* connect(["system.notify"])
      const [first] = (yield* registry.pairList).pending
      expect(first!.requiredApproveScopes).toEqual(["operator.pairing", "operator.write"])
      const readOnly = yield* Effect.flip(registry.pairApprove(first!.requestId, { scopes: ["operator.pairing", "operator.read"] }))
      expect(readOnly.details).toMatchObject({ missingScope: "operator.write" })
      yield* connect(["system.notify"], "conn-2")
      const [again] = (yield* registry.pairList).pending
      expect(again!.requestId).toBe(first!.requestId)
      yield* registry.pairApprove(first!.requestId, { scopes: ["operator.pairing", "operator.write"] })
      yield* connect(["system.notify"], "conn-3")
      expect((yield* registry.pairList).pending).toEqual([])
      expect((yield* registry.describe(NODE)).commands).toEqual(["system.notify"])
    }).pipe(Effect.provide(layer()))
  )

  it.scoped("a rejected request: still not invokable, and the refusal says it was rejected", () =>
    Effect.gen(function* () {
      const { registry } = yield* connect(["system.info"])
      const [request] = (yield* registry.pairList).pending
      expect(yield* registry.pairReject(request!.requestId)).toEqual({ requestId: request!.requestId, nodeId: NODE })
      expect((yield* registry.pairList).pending).toEqual([])
      expect((yield* refusal("system.info")).message).toMatch(/"system.info" was rejected; the node asks again when it reconnects/)
      const unknown = yield* Effect.flip(registry.pairApprove(request!.requestId, admin))
      expect(unknown.code).toBe("INVALID_REQUEST")
    }).pipe(Effect.provide(layer()))
  )

  it.scoped("the default (auto): nothing is held, commands are invokable at once", () =>
    Effect.gen(function* () {
      const { registry, sent } = yield* connect(["system.info", "system.run"])
      expect((yield* registry.pairList).pending).toEqual([])
      yield* invoke("system.run", "k1")
      expect(sent.map((s) => s.payload.command)).toEqual(["system.run"])
    }).pipe(Effect.provide(layer({})))
  )
})
