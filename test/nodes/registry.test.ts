/** The NodeRegistry on its own, with a fake connection and the TestClock. */
import { describe, expect, it } from "@effect/vitest"
import { ConnectionHubLive } from "../../src/layers/state/ConnectionHubLive.js"
import { commandAllowed, NodeRegistryLive } from "../../src/layers/nodes/NodeRegistryLive.js"
import { Effect, Fiber, Layer, TestClock } from "effect"
import { ConfigMemory } from "../../src/layers/ConfigMemory.js"
import { DatabaseLive } from "../../src/layers/Database.js"
import { DevicesSqlLive } from "../../src/layers/store/DevicesSql.js"
import { NodeRegistry } from "../../src/services/NodeRegistry.js"
import { ConnectionHub } from "../../src/services/ConnectionHub.js"

const layer = (config: Record<string, unknown> = {}) =>
  Layer.mergeAll(NodeRegistryLive.pipe(Layer.provideMerge(DevicesSqlLive)), ConnectionHubLive).pipe(
    Layer.provide(DatabaseLive(undefined)),
    Layer.provide(ConfigMemory(config))
  )

const NODE = "a".repeat(64)

/** A node connection whose sent events are recorded. */
const connectNode = (commands = ["system.info"]) =>
  Effect.gen(function* () {
    const hub = yield* ConnectionHub
    const registry = yield* NodeRegistry
    const sent: Array<{ event: string; payload: any }> = []
    yield* hub.register({
      connId: "conn-1",
      role: "node",
      deviceId: NODE,
      clientId: "node-host",
      sendEvent: (event, payload) => void sent.push({ event, payload }),
      close: () => {}
    })
    yield* registry.register({ nodeId: NODE, connId: "conn-1", clientId: "node-host", caps: [], commands, connectedAtMs: 0 })
    return { registry, sent }
  })

describe("NodeRegistry", () => {
  it.effect("an unanswered invoke fails with TIMEOUT after 30 s by default", () =>
    Effect.gen(function* () {
      const { registry, sent } = yield* connectNode()
      const fiber = yield* Effect.fork(Effect.flip(registry.invoke({ nodeId: NODE, command: "system.info", idempotencyKey: "k1" })))
      yield* TestClock.adjust("29 seconds")
      expect(fiber.unsafePoll()).toBeNull()
      expect(sent).toEqual([
        {
          event: "node.invoke.request",
          payload: expect.objectContaining({
            nodeId: NODE,
            command: "system.info",
            timeoutMs: 30_000,
            idempotencyKey: "k1",
            paramsJSON: null
          })
        }
      ])
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      expect(error).toMatchObject({
        code: "UNAVAILABLE",
        message: "TIMEOUT: node invoke timed out",
        details: { nodeError: { code: "TIMEOUT" } }
      })
      expect(sent.map((s) => s.event)).toEqual(["node.invoke.request", "node.invoke.cancel"])
    }).pipe(Effect.provide(layer()))
  )

  it.effect("the timeout sweeper, idle after one invoke timed out, wakes for the next one", () =>
    Effect.gen(function* () {
      const { registry, sent } = yield* connectNode()
      const invoke = (key: string) =>
        Effect.fork(Effect.flip(registry.invoke({ nodeId: NODE, command: "system.info", idempotencyKey: key, timeoutMs: 1000 })))
      const first = yield* invoke("k1")
      yield* TestClock.adjust("1100 millis")
      expect(yield* Fiber.join(first)).toMatchObject({ message: "TIMEOUT: node invoke timed out" })
      // Nothing pending for an hour: the sweeper sleeps (nothing to sweep), then a new invoke must wake it.
      yield* TestClock.adjust("1 hour")
      const second = yield* invoke("k2")
      yield* TestClock.adjust("900 millis")
      expect(second.unsafePoll()).toBeNull()
      yield* TestClock.adjust("200 millis")
      expect(yield* Fiber.join(second)).toMatchObject({ message: "TIMEOUT: node invoke timed out", details: { timeoutMs: 1000 } })
      expect(sent.map((s) => s.event)).toEqual(["node.invoke.request", "node.invoke.cancel", "node.invoke.request", "node.invoke.cancel"])
    }).pipe(Effect.provide(layer()))
  )

  it.effect("a retried invoke with the same key runs once and both callers get its result", () =>
    Effect.gen(function* () {
      const { registry, sent } = yield* connectNode()
      const req = { nodeId: NODE, command: "system.info", params: { a: 1 }, idempotencyKey: "same" }
      const first = yield* Effect.fork(registry.invoke(req))
      const second = yield* Effect.fork(registry.invoke(req))
      yield* TestClock.adjust("10 millis")
      expect(sent.length).toBe(1)
      expect(sent[0]!.payload.paramsJSON).toBe('{"a":1}')
      const ack = yield* registry.result(NODE, "conn-1", { id: sent[0]!.payload.id, nodeId: NODE, ok: true, payloadJSON: '{"host":"x"}' })
      expect(ack).toEqual({ ok: true })
      const a = yield* Fiber.join(first)
      const b = yield* Fiber.join(second)
      expect(a).toEqual({ ok: true, nodeId: NODE, command: "system.info", payload: { host: "x" }, payloadJSON: '{"host":"x"}' })
      expect(b).toEqual(a)
      // Later, the same key is still answered from the cache.
      expect(yield* registry.invoke(req)).toEqual(a)
      expect(sent.length).toBe(1)
      // A late or unknown result is ignored; another node's id is refused.
      expect(yield* registry.result(NODE, "conn-1", { id: "nope", nodeId: NODE, ok: true })).toEqual({ ok: true, ignored: true })
      const mismatch = yield* Effect.flip(registry.result(NODE, "conn-1", { id: "x", nodeId: "b".repeat(64), ok: true }))
      expect(mismatch.message).toBe("nodeId mismatch")
    }).pipe(Effect.provide(layer()))
  )

  it.effect("a node that disconnects fails all its pending invokes at once", () =>
    Effect.gen(function* () {
      const { registry } = yield* connectNode()
      const fibers = yield* Effect.forEach(["k1", "k2", "k3"], (k) =>
        Effect.fork(Effect.flip(registry.invoke({ nodeId: NODE, command: "system.info", idempotencyKey: k })))
      )
      yield* TestClock.adjust("10 millis")
      yield* registry.unregister(NODE, "conn-1")
      for (const f of fibers) {
        expect(yield* Fiber.join(f)).toMatchObject({ details: { nodeError: { code: "DISCONNECTED" }, nodeCommandDispatched: true } })
      }
      const offline = yield* Effect.flip(registry.invoke({ nodeId: NODE, command: "system.info", idempotencyKey: "k4" }))
      expect(offline).toMatchObject({ message: "node not connected", details: { code: "NOT_CONNECTED" } })
    }).pipe(Effect.provide(layer()))
  )

  it.effect("undeclared and policy-denied commands never reach the node", () =>
    Effect.gen(function* () {
      const { registry, sent } = yield* connectNode(["system.info", "system.run", "camera.snap"])
      const undeclared = yield* Effect.flip(registry.invoke({ nodeId: NODE, command: "system.notify", idempotencyKey: "a" }))
      expect(undeclared.details).toMatchObject({ reason: "command not declared by node" })
      const denied = yield* Effect.flip(registry.invoke({ nodeId: NODE, command: "system.run", idempotencyKey: "b" }))
      expect(denied.message).toContain("blocked by gateway.nodes.commands.deny")
      const notAllowed = yield* Effect.flip(registry.invoke({ nodeId: NODE, command: "camera.snap", idempotencyKey: "c" }))
      expect(notAllowed.message).toContain("not in gateway.nodes.commands.allow")
      expect(sent).toEqual([])
    }).pipe(Effect.provide(layer({ gateway: { nodes: { commands: { allow: ["system.*"], deny: ["system.run"] } } } })))
  )

  it("command policy: exact names and `prefix.*`, deny wins", () => {
    expect(commandAllowed("system.run", {}).ok).toBe(true)
    expect(commandAllowed("system.run", { allow: ["system.*"] }).ok).toBe(true)
    expect(commandAllowed("systemx.run", { allow: ["system.*"] }).ok).toBe(false)
    expect(commandAllowed("system.run", { allow: ["system.*"], deny: ["system.run"] }).ok).toBe(false)
    expect(commandAllowed("camera.snap", { allow: ["system.info"] }).ok).toBe(false)
  })
})
