/** Node commands as tools: names, policy, and failures that the model reads instead of failing the run. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { MAX_TOOL_NAME, nodeToolkit, nodeToolName, nodeToolTargets } from "../../src/layers/NodeTools.js"
import { NodeRegistry } from "../../src/services/NodeRegistry.js"
import { connectNode, NODE_A, NODE_B, registryLayer } from "./support.js"

describe("node tools", () => {
  it("names fit the providers' charset and length, and are unique", () => {
    expect(nodeToolName("Ben's MacBook Pro", "system.info")).toBe("node_Ben_s_MacBook_Pro__system_info")
    const long = nodeToolName("n".repeat(100), `x.${"y".repeat(100)}`)
    expect(long.length).toBe(MAX_TOOL_NAME)
    expect(long).toMatch(/^[a-zA-Z0-9_-]+$/)
    expect(nodeToolName("…", "a.b")).toBe("node_node__a_b")

    const targets = nodeToolTargets([
      { nodeId: NODE_B, displayName: "laptop", commands: ["system.info", "system.info"] },
      { nodeId: NODE_A, displayName: "laptop", commands: ["system.info", "system_info"] },
      { nodeId: "c".repeat(64), commands: ["camera.snap"] }
    ])
    expect(targets.map((t) => [t.toolName, t.nodeId.slice(0, 1), t.command])).toEqual([
      ["node_laptop-aaaaaa__system_info", "a", "system.info"],
      ["node_laptop-aaaaaa__system_info_2", "a", "system_info"],
      ["node_laptop-bbbbbb__system_info", "b", "system.info"],
      ["node_cccccccc__camera_snap", "c", "camera.snap"]
    ])
  })

  it.effect("only connected nodes' commands that gateway.nodes.commands allows are offered", () =>
    Effect.gen(function* () {
      yield* connectNode(NODE_A, { displayName: "laptop", commands: ["system.info", "system.run", "camera.snap"] })
      const tools = yield* nodeToolkit({ runId: "r" })
      expect(Object.keys(tools.toolkit.tools)).toEqual(["node_laptop__camera_snap", "node_laptop__system_info"])
      expect(tools.describe("node_laptop__camera_snap")).toEqual({
        toolName: "node_laptop__camera_snap",
        nodeId: NODE_A,
        command: "camera.snap",
        nodeName: "laptop"
      })
      expect(tools.describe("nope")).toBeUndefined()
    }).pipe(Effect.provide(registryLayer({ gateway: { nodes: { commands: { deny: ["system.run"] } } } })))
  )

  it.effect("a call to a node that went away, or to an unknown tool, is a failure result, not a failed run", () =>
    Effect.gen(function* () {
      yield* connectNode(NODE_A, { displayName: "laptop", commands: ["system.info"] })
      const tools = yield* nodeToolkit({ runId: "r" })
      const registry = yield* NodeRegistry
      yield* registry.unregister(NODE_A, `conn-${NODE_A.slice(0, 4)}`)
      expect(yield* tools.call({ id: "c1", name: "node_laptop__system_info", params: {} })).toEqual({
        isFailure: true,
        result: { ok: false, error: { code: "NOT_CONNECTED", message: "node not connected" } }
      })
      const viaToolkit = yield* tools.toolkit.handle("node_laptop__system_info", {} as never)
      expect(viaToolkit).toMatchObject({ isFailure: true, result: { ok: false, error: { code: "NOT_CONNECTED" } } })
      expect(yield* tools.call({ id: "c2", name: "node_other__x", params: {} })).toMatchObject({
        isFailure: true,
        result: { ok: false, error: { code: "UNKNOWN_TOOL" } }
      })
    }).pipe(Effect.provide(registryLayer()))
  )

  it.effect("no node connected: an empty toolkit", () =>
    Effect.gen(function* () {
      const tools = yield* nodeToolkit({ runId: "r" })
      expect(tools.toolkit.tools).toEqual({})
      expect(tools.targets).toEqual([])
    }).pipe(Effect.provide(registryLayer()))
  )
})
