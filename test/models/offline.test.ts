/** The offline model: the default, no network, deterministic, and able to call node tools with `/tool`. */
import * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import { ConfigMemory } from "../../src/layers/ConfigMemory.js"
import { makeOfflineModel, OFFLINE_TAG } from "../../src/layers/ModelOffline.js"
import { makeModelsLive } from "../../src/layers/ModelsLive.js"
import { nodeToolkit } from "../../src/layers/NodeTools.js"
import { Models } from "../../src/services/Models.js"
import { connectNode, NODE_A, NODE_B, registryLayer } from "./support.js"

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)
const textOf = (parts: ReadonlyArray<Response.StreamPart<any>>) =>
  parts
    .filter((p) => p.type === "text-delta")
    .map((p) => p.delta)
    .join("")

describe("offline model", () => {
  it.effect("is what an empty config resolves to", () =>
    Effect.gen(function* () {
      const models = yield* Models
      const resolved = yield* models.resolve()
      expect(resolved).toMatchObject({ ref: "offline/clawgate-offline", provider: "offline", model: "clawgate-offline", api: "offline" })
      const response = yield* resolved.languageModel.generateText({ prompt: "hi" })
      expect(response.text.startsWith(`${OFFLINE_TAG} You said: hi`)).toBe(true)
    }).pipe(Effect.provide(makeModelsLive({}).pipe(Layer.provide(ConfigMemory({})), Layer.provide(NodeHttpClient.layer))))
  )

  it.effect("streams its reply in a few deltas: it says it is the offline model and how to configure a real one", () =>
    Effect.gen(function* () {
      const model = yield* makeOfflineModel()
      const parts = yield* collect(model.streamText({ prompt: "hi" }))
      expect(parts.map((p) => p.type)).toEqual([
        "response-metadata",
        "text-start",
        "text-delta",
        "text-delta",
        "text-delta",
        "text-delta",
        "text-end",
        "finish"
      ])
      const text = textOf(parts)
      expect(text).toMatch(/^\[offline model\] You said: hi\n/)
      expect(text).toContain("built-in offline model (offline/clawgate-offline)")
      expect(text).toContain("agents.defaults.model.primary")
      expect(text).toContain("models.providers.<provider>")
      expect(text).toContain("No tools are offered")
      expect(parts.at(-1)).toMatchObject({ type: "finish", reason: "stop" })
      // Deterministic, and the same as generateText.
      expect(textOf(yield* collect(model.streamText({ prompt: "hi" })))).toBe(text)
      expect((yield* model.generateText({ prompt: "hi" })).text).toBe(text)
    })
  )

  it.effect("/tool calls a node command; after the result it summarises it", () =>
    Effect.gen(function* () {
      const seen = yield* connectNode(NODE_A, {
        displayName: "laptop",
        commands: ["system.info"],
        reply: () => ({ payload: { os: "Linux", cpus: 8 } })
      })
      const tools = yield* nodeToolkit({ runId: "r1" })
      const model = yield* makeOfflineModel()

      const listed = yield* collect(model.streamText({ prompt: "/tools", toolkit: tools.toolkit }))
      expect(textOf(listed)).toContain("node_laptop__system_info")

      const prompt = Prompt.make('/tool system.info {"verbose":true}')
      const turn1 = yield* collect(model.streamText({ prompt, toolkit: tools.toolkit }))
      expect(turn1.map((p) => p.type)).toEqual([
        "response-metadata",
        "tool-params-start",
        "tool-params-delta",
        "tool-params-end",
        "tool-call",
        "tool-result",
        "finish"
      ])
      expect(turn1.find((p) => p.type === "tool-call")).toMatchObject({
        id: "offline_call_1",
        name: "node_laptop__system_info",
        params: { verbose: true }
      })
      expect(turn1.find((p) => p.type === "finish")).toMatchObject({ reason: "tool-calls" })
      expect(seen).toEqual([
        { nodeId: NODE_A, command: "system.info", params: { verbose: true }, idempotencyKey: "r1:node_laptop__system_info#1" }
      ])

      const turn2 = yield* collect(
        model.streamText({ prompt: Prompt.merge(prompt, Prompt.fromResponseParts(turn1)), toolkit: tools.toolkit })
      )
      expect(textOf(turn2)).toBe(`${OFFLINE_TAG} node_laptop__system_info returned: {"ok":true,"payload":{"os":"Linux","cpus":8}}`)

      // The full tool name works too, and a failure is summarised as one.
      const failing = yield* connectNode(NODE_B, {
        displayName: "phone",
        commands: ["camera.snap"],
        reply: () => ({ error: { code: "DENIED", message: "the user said no" } })
      })
      const tools2 = yield* nodeToolkit({ runId: "r2" })
      const p2 = Prompt.make("/tool node_phone__camera_snap")
      const t1 = yield* collect(model.streamText({ prompt: p2, toolkit: tools2.toolkit }))
      expect(failing.map((s) => s.params)).toEqual([{}])
      const t2 = yield* collect(model.streamText({ prompt: Prompt.merge(p2, Prompt.fromResponseParts(t1)), toolkit: tools2.toolkit }))
      expect(textOf(t2)).toBe(
        `${OFFLINE_TAG} node_phone__camera_snap failed: {"ok":false,"error":{"code":"DENIED","message":"DENIED: the user said no"}}`
      )
    }).pipe(Effect.provide(registryLayer()))
  )

  it.effect("/tool answers in text when the tool is unknown, ambiguous or its params are not a JSON object", () =>
    Effect.gen(function* () {
      yield* connectNode(NODE_A, { displayName: "laptop", commands: ["system.info"] })
      yield* connectNode(NODE_B, { displayName: "desktop", commands: ["system.info"] })
      const tools = yield* nodeToolkit({ runId: "r" })
      const model = yield* makeOfflineModel()
      const say = (text: string) => Effect.map(collect(model.streamText({ prompt: text, toolkit: tools.toolkit })), textOf)
      expect(yield* say("/tool nope")).toContain(
        'there is no tool "nope". Tools offered: node_laptop__system_info, node_desktop__system_info'
      )
      expect(yield* say("/tool system.info")).toContain(
        '"system.info" is served by several nodes; pick one: node_laptop__system_info, node_desktop__system_info'
      )
      expect(yield* say("/tool node_laptop__system_info {nope")).toContain("must be one JSON object")
      expect(yield* say("/tool node_laptop__system_info [1]")).toContain("must be a JSON object")
    }).pipe(Effect.provide(registryLayer()))
  )
})
