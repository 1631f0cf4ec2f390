/** The Anthropic provider against a Messages API double on loopback: a streamed tool_use, then text after the tool_result. */
import * as Prompt from "@effect/ai/Prompt"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import { ConfigMemory } from "../../src/layers/ConfigMemory.js"
import { makeModelsLive } from "../../src/layers/ModelsLive.js"
import { nodeToolkit } from "../../src/layers/NodeTools.js"
import { Models } from "../../src/services/Models.js"
import { connectNode, modelServerDouble, NODE_A, registryLayer, type DoubleAnswer, type RecordedRequest } from "./support.js"

const TOOL = "node_laptop__system_info"

const messageStart = {
  type: "message_start",
  message: {
    id: "msg_1",
    type: "message",
    role: "assistant",
    content: [],
    model: "claude-sonnet-4-5",
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 40, output_tokens: 1 }
  }
}

const answer = (request: RecordedRequest): DoubleAnswer => {
  const last = request.body.messages[request.body.messages.length - 1]
  const sawResult = Array.isArray(last.content) && last.content.some((c: any) => c.type === "tool_result")
  if (!sawResult) {
    return {
      namedEvents: true,
      done: false,
      sse: [
        messageStart,
        { type: "content_block_start", index: 0, content_block: { type: "tool_use", id: "toolu_1", name: TOOL, input: {} } },
        { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: '{"verbose":' } },
        { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: "true}" } },
        { type: "content_block_stop", index: 0 },
        { type: "message_delta", delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 12 } },
        { type: "message_stop" }
      ]
    }
  }
  return {
    namedEvents: true,
    done: false,
    sse: [
      messageStart,
      { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
      { type: "ping" },
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "It runs " } },
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Linux." } },
      { type: "content_block_stop", index: 0 },
      { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 5 } },
      { type: "message_stop" }
    ]
  }
}

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

describe("Anthropic provider (Messages API)", () => {
  it.scopedLive("streams a tool_use for a node command, runs it, sends the tool_result back and streams the answer", () =>
    Effect.gen(function* () {
      const server = yield* modelServerDouble(answer)
      const seen = yield* connectNode(NODE_A, {
        displayName: "laptop",
        commands: ["system.info"],
        reply: () => ({ payload: { os: "Linux" } })
      })
      const config = {
        agents: { defaults: { model: { primary: "claude/claude-sonnet-4-5" } } },
        // A trailing /v1 is accepted: the client adds /v1/messages itself.
        models: { providers: { claude: { api: "anthropic-messages", baseUrl: `${server.url}/v1`, apiKey: "sk-ant-test" } } }
      }
      const resolved = yield* Effect.flatMap(Models, (m) => m.resolve()).pipe(
        Effect.provide(
          makeModelsLive({ ANTHROPIC_API_KEY: "sk-never-sent" }).pipe(
            Layer.provide(ConfigMemory(config)),
            Layer.provide(NodeHttpClient.layer)
          )
        )
      )
      expect(resolved).toMatchObject({ provider: "claude", model: "claude-sonnet-4-5", api: "anthropic-messages" })
      const tools = yield* nodeToolkit({ runId: "run-a" })

      const prompt = Prompt.make([
        { role: "system", content: "Be brief." },
        { role: "user", content: "what OS is my laptop?" }
      ])
      const turn1 = yield* collect(resolved.languageModel.streamText({ prompt, toolkit: tools.toolkit }))
      expect(turn1.find((p) => p.type === "tool-call")).toMatchObject({ id: "toolu_1", name: TOOL, params: { verbose: true } })
      expect(turn1.find((p) => p.type === "tool-result")).toMatchObject({
        id: "toolu_1",
        isFailure: false,
        result: { ok: true, payload: { os: "Linux" } }
      })
      expect(turn1.find((p) => p.type === "finish")).toMatchObject({ reason: "tool-calls" })
      expect(seen.map((s) => s.params)).toEqual([{ verbose: true }])

      const first = server.requests[0]!
      expect(first.url).toBe("/v1/messages")
      expect(first.headers["x-api-key"]).toBe("sk-ant-test")
      expect(first.headers["anthropic-version"]).toBe("2023-06-01")
      expect(first.body).toMatchObject({
        model: "claude-sonnet-4-5",
        stream: true,
        system: [{ type: "text", text: "Be brief." }],
        messages: [{ role: "user", content: [{ type: "text", text: "what OS is my laptop?" }] }],
        tools: [
          {
            name: TOOL,
            description: expect.stringContaining("system.info"),
            input_schema: { type: "object", properties: {}, additionalProperties: true }
          }
        ]
      })

      const turn2 = yield* collect(
        resolved.languageModel.streamText({ prompt: Prompt.merge(prompt, Prompt.fromResponseParts(turn1)), toolkit: tools.toolkit })
      )
      expect(
        turn2
          .filter((p) => p.type === "text-delta")
          .map((p) => p.delta)
          .join("")
      ).toBe("It runs Linux.")
      expect(turn2.at(-1)).toMatchObject({ type: "finish", reason: "stop" })
      expect(server.requests[1]!.body.messages.slice(1)).toEqual([
        { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: TOOL, input: { verbose: true } }] },
        {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: "toolu_1", content: '{"ok":true,"payload":{"os":"Linux"}}', is_error: false }]
        }
      ])
    }).pipe(Effect.provide(registryLayer()))
  )
})
