/**
 * The OpenAI-compatible provider against a Chat Completions double on
 * loopback (what llama.cpp, Ollama and vLLM serve): streamed tool_calls
 * deltas become a node tool call, the node runs it, and the result goes back
 * to the server as a `tool` message.
 */
import * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import { ConfigMemory } from "../../src/layers/ConfigMemory.js"
import { ChatStreamAssembler } from "../../src/layers/ModelOpenAiCompat.js"
import { makeModelsLive } from "../../src/layers/ModelsLive.js"
import { nodeToolkit } from "../../src/layers/NodeTools.js"
import { Models } from "../../src/services/Models.js"
import { connectNode, modelServerDouble, NODE_A, registryLayer, type DoubleAnswer, type RecordedRequest } from "./support.js"

const TOOL = "node_laptop__system_info"

const chunk = (delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}) => ({
  id: "chatcmpl-1",
  object: "chat.completion.chunk",
  created: 1_700_000_000,
  model: "qwen2.5-7b",
  choices: [{ index: 0, delta, finish_reason: finish }],
  ...extra
})

/** First call: a tool call streamed in pieces (llama.cpp style); after the tool result: text. */
const toolThenText = (request: RecordedRequest): DoubleAnswer => {
  const last = request.body.messages[request.body.messages.length - 1]
  if (last.role !== "tool") {
    return {
      sse: [
        chunk({ role: "assistant", content: null }),
        chunk({ tool_calls: [{ index: 0, id: "call_abc", type: "function", function: { name: TOOL, arguments: "" } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: '{"verbose"' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { arguments: ":true}" } }] }),
        chunk({}, "tool_calls"),
        { ...chunk({}), choices: [], usage: { prompt_tokens: 50, completion_tokens: 9, total_tokens: 59 } }
      ]
    }
  }
  return {
    sse: [
      chunk({ role: "assistant", content: "" }),
      chunk({ content: "The laptop " }),
      chunk({ content: "runs Linux." }),
      chunk({}, "stop")
    ]
  }
}

const configFor = (url: string, extra: Record<string, unknown> = {}) => ({
  agents: { defaults: { model: { primary: "local/qwen2.5-7b" } } },
  models: { providers: { local: { api: "openai-completions", baseUrl: `${url}/v1`, ...extra } } }
})

const modelsLayer = (config: Record<string, unknown>, env: Record<string, string> = {}) =>
  makeModelsLive(env).pipe(Layer.provide(ConfigMemory(config)), Layer.provide(NodeHttpClient.layer))

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

describe("OpenAI-compatible provider (Chat Completions)", () => {
  it.scopedLive("streams a tool call for a node command, runs it, feeds the result back and streams the answer", () =>
    Effect.gen(function* () {
      const server = yield* modelServerDouble(toolThenText)
      const seen = yield* connectNode(NODE_A, {
        displayName: "laptop",
        commands: ["system.info"],
        reply: () => ({ payload: { os: "Linux" } })
      })
      const resolved = yield* Effect.flatMap(Models, (m) => m.resolve()).pipe(Effect.provide(modelsLayer(configFor(server.url))))
      expect(resolved).toMatchObject({ ref: "local/qwen2.5-7b", provider: "local", model: "qwen2.5-7b", api: "openai-completions" })
      const tools = yield* nodeToolkit({ runId: "run-1" })
      expect(tools.targets).toEqual([{ toolName: TOOL, nodeId: NODE_A, command: "system.info", nodeName: "laptop" }])

      // Turn 1: the framework resolves the tool call through the toolkit.
      const prompt = Prompt.make([
        { role: "system", content: "Be brief." },
        { role: "user", content: "what OS is my laptop?" }
      ])
      const turn1: Array<Response.StreamPart<any>> = yield* collect(resolved.languageModel.streamText({ prompt, toolkit: tools.toolkit }))
      expect(turn1.map((p) => p.type)).toEqual([
        "response-metadata",
        "tool-params-start",
        "tool-params-delta",
        "tool-params-delta",
        "tool-params-end",
        "tool-call",
        "tool-result",
        "finish"
      ])
      const call = turn1.find((p) => p.type === "tool-call")!
      expect(call).toMatchObject({ id: "call_abc", name: TOOL, params: { verbose: true } })
      const result = turn1.find((p) => p.type === "tool-result")!
      expect(result).toMatchObject({ id: "call_abc", name: TOOL, isFailure: false, result: { ok: true, payload: { os: "Linux" } } })
      const finish = turn1.find((p) => p.type === "finish")!
      expect(finish).toMatchObject({ reason: "tool-calls", usage: { inputTokens: 50, outputTokens: 9, totalTokens: 59 } })
      expect(seen).toEqual([{ nodeId: NODE_A, command: "system.info", params: { verbose: true }, idempotencyKey: `run-1:${TOOL}#1` }])

      // What the server was sent: the model, the node tool as a function, no key.
      const first = server.requests[0]!
      expect(first.method).toBe("POST")
      expect(first.url).toBe("/v1/chat/completions")
      expect(first.headers.authorization).toBeUndefined()
      expect(first.body).toMatchObject({
        model: "qwen2.5-7b",
        stream: true,
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "what OS is my laptop?" }
        ],
        tools: [
          {
            type: "function",
            function: {
              name: TOOL,
              description: expect.stringContaining('"system.info" on the node "laptop"'),
              parameters: { type: "object", properties: {}, additionalProperties: true }
            }
          }
        ]
      })
      expect(first.body.tool_choice).toBeUndefined()

      // Turn 2: the turn's parts become the assistant and tool messages.
      const prompt2 = Prompt.merge(prompt, Prompt.fromResponseParts(turn1))
      const turn2 = yield* collect(resolved.languageModel.streamText({ prompt: prompt2, toolkit: tools.toolkit }))
      const text = turn2
        .filter((p) => p.type === "text-delta")
        .map((p) => p.delta)
        .join("")
      expect(text).toBe("The laptop runs Linux.")
      expect(turn2.map((p) => p.type)).toEqual(["response-metadata", "text-start", "text-delta", "text-delta", "text-end", "finish"])
      expect(turn2.at(-1)).toMatchObject({ type: "finish", reason: "stop" })
      expect(server.requests[1]!.body.messages.slice(2)).toEqual([
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_abc", type: "function", function: { name: TOOL, arguments: '{"verbose":true}' } }]
        },
        { role: "tool", tool_call_id: "call_abc", content: '{"ok":true,"payload":{"os":"Linux"}}' }
      ])
    }).pipe(Effect.provide(registryLayer()))
  )

  it.scopedLive("a runner that resolves tool calls itself: idempotency key <runId>:<toolCallId>, failures as results", () =>
    Effect.gen(function* () {
      const server = yield* modelServerDouble(toolThenText)
      const seen = yield* connectNode(NODE_A, {
        displayName: "laptop",
        commands: ["system.info"],
        reply: () => ({ error: { code: "EACCES", message: "permission denied" } })
      })
      const resolved = yield* Effect.flatMap(Models, (m) => m.resolve()).pipe(Effect.provide(modelsLayer(configFor(server.url))))
      const tools = yield* nodeToolkit({ runId: "run-2" })
      const parts = yield* collect(
        resolved.languageModel.streamText({ prompt: "what OS?", toolkit: tools.toolkit, disableToolCallResolution: true })
      )
      expect(parts.some((p) => p.type === "tool-result")).toBe(false)
      const call = parts.find((p) => p.type === "tool-call")!
      const outcome = yield* tools.call(call)
      expect(outcome).toEqual({ isFailure: true, result: { ok: false, error: { code: "EACCES", message: "EACCES: permission denied" } } })
      expect(seen.map((s) => s.idempotencyKey)).toEqual(["run-2:call_abc"])
      expect(tools.describe(call.name)).toMatchObject({ nodeId: NODE_A, command: "system.info" })

      // The failure goes back as a tool message the model reads.
      const prompt2 = Prompt.merge(
        Prompt.merge(Prompt.make("what OS?"), Prompt.fromResponseParts(parts)),
        Prompt.make([
          {
            role: "tool",
            content: [
              { type: "tool-result", id: call.id, name: call.name, isFailure: true, result: outcome.result, providerExecuted: false }
            ]
          }
        ])
      )
      yield* collect(resolved.languageModel.streamText({ prompt: prompt2, toolkit: tools.toolkit, disableToolCallResolution: true }))
      expect(server.requests[1]!.body.messages.at(-1)).toEqual({
        role: "tool",
        tool_call_id: "call_abc",
        content: '{"ok":false,"error":{"code":"EACCES","message":"EACCES: permission denied"}}'
      })
    }).pipe(Effect.provide(registryLayer()))
  )

  it.scopedLive("assembles several tool calls by index, repeated names, no ids, empty and broken arguments", () =>
    Effect.gen(function* () {
      const server = yield* modelServerDouble(() => ({
        sse: [
          chunk({ tool_calls: [{ index: 0, type: "function", function: { name: "node_laptop__system_info", arguments: "" } }] }),
          chunk({
            tool_calls: [{ index: 1, id: "call_2", type: "function", function: { name: "node_laptop__system_run", arguments: '{"cmd":' } }]
          }),
          chunk({ tool_calls: [{ index: 1, function: { name: "node_laptop__system_run", arguments: '"ls"}' } }] }),
          chunk({ tool_calls: [{ index: 2, id: "call_3", function: { name: "node_laptop__system_run", arguments: "{not json" } }] }),
          // Ollama says "stop" after tool calls.
          chunk({}, "stop")
        ]
      }))
      const seen = yield* connectNode(NODE_A, { displayName: "laptop", commands: ["system.info", "system.run"] })
      const resolved = yield* Effect.flatMap(Models, (m) => m.resolve()).pipe(Effect.provide(modelsLayer(configFor(server.url))))
      const tools = yield* nodeToolkit({ runId: "run-3" })
      const parts = yield* collect(resolved.languageModel.streamText({ prompt: "go", toolkit: tools.toolkit }))
      const calls = parts.filter((p) => p.type === "tool-call")
      expect(calls.map((c) => [c.name, c.params])).toEqual([
        ["node_laptop__system_info", {}],
        ["node_laptop__system_run", { cmd: "ls" }],
        ["node_laptop__system_run", { __clawgate_invalid_arguments: "{not json" }]
      ])
      expect(calls[0]!.id).toMatch(/^call_/)
      expect(new Set(calls.map((c) => c.id)).size).toBe(3)
      const results = parts.filter((p) => p.type === "tool-result")
      expect(results.map((r) => r.isFailure)).toEqual([false, false, true])
      expect(results[2]!.result).toMatchObject({ ok: false, error: { code: "INVALID_ARGUMENTS" } })
      // The broken call never reached the node.
      expect(seen.map((s) => s.command)).toEqual(["system.info", "system.run"])
      expect(parts.at(-1)).toMatchObject({ type: "finish", reason: "tool-calls" })
    }).pipe(Effect.provide(registryLayer()))
  )

  it("Ollama style: several whole tool calls in one delta, all at index 0, then finish_reason stop", () => {
    const assembler = new ChatStreamAssembler(() => "generated")
    const parts = [
      ...assembler.push({
        choices: [
          {
            delta: {
              tool_calls: [
                { id: "call_1", index: 0, type: "function", function: { name: "a", arguments: '{"x":1}' } },
                { id: "call_2", index: 0, type: "function", function: { name: "b", arguments: "{}" } }
              ]
            },
            finish_reason: "stop"
          }
        ]
      }),
      ...assembler.end()
    ]
    expect(parts.filter((p) => p.type === "tool-call").map((p) => p.type === "tool-call" && [p.id, p.name, p.params])).toEqual([
      ["call_1", "a", { x: 1 }],
      ["call_2", "b", {}]
    ])
    expect(parts.at(-1)).toMatchObject({ type: "finish", reason: "tool-calls" })
  })

  it.scopedLive("streams reasoning and text; sends the configured key as a bearer token", () =>
    Effect.gen(function* () {
      const server = yield* modelServerDouble(() => ({
        sse: [chunk({ reasoning_content: "thinking…" }), chunk({ content: "hi" }), chunk({}, "length")]
      }))
      const resolved = yield* Effect.flatMap(Models, (m) => m.resolve()).pipe(
        Effect.provide(modelsLayer(configFor(server.url, { apiKey: "sk-local" }), { OPENAI_API_KEY: "sk-never-sent" }))
      )
      const parts = yield* collect(resolved.languageModel.streamText({ prompt: "hello" }))
      expect(parts.map((p) => p.type)).toEqual([
        "response-metadata",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-end",
        "text-start",
        "text-delta",
        "text-end",
        "finish"
      ])
      expect(parts.at(-1)).toMatchObject({ reason: "length" })
      expect(server.requests[0]!.headers.authorization).toBe("Bearer sk-local")
      expect(server.requests[0]!.body.tools).toBeUndefined()
    })
  )

  it.scopedLive("the environment's OPENAI_API_KEY is not sent to a server other than api.openai.com", () =>
    Effect.gen(function* () {
      const server = yield* modelServerDouble(() => ({ sse: [chunk({ content: "ok" }, "stop")] }))
      const resolved = yield* Effect.flatMap(Models, (m) => m.resolve()).pipe(
        Effect.provide(modelsLayer(configFor(server.url), { OPENAI_API_KEY: "sk-secret" }))
      )
      yield* collect(resolved.languageModel.streamText({ prompt: "hello" }))
      expect(server.requests[0]!.headers.authorization).toBeUndefined()
    })
  )

  it.scopedLive("generateText without streaming", () =>
    Effect.gen(function* () {
      const server = yield* modelServerDouble(() => ({
        status: 200,
        json: {
          id: "chatcmpl-2",
          object: "chat.completion",
          created: 1_700_000_000,
          model: "qwen2.5-7b",
          choices: [{ index: 0, message: { role: "assistant", content: "Hello there." }, finish_reason: "stop" }],
          usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 }
        }
      }))
      const resolved = yield* Effect.flatMap(Models, (m) => m.resolve()).pipe(Effect.provide(modelsLayer(configFor(server.url))))
      const response = yield* resolved.languageModel.generateText({ prompt: "hello" })
      expect(response.text).toBe("Hello there.")
      expect(response.finishReason).toBe("stop")
      expect(response.usage.totalTokens).toBe(5)
      expect(server.requests[0]!.body).toMatchObject({ model: "qwen2.5-7b", stream: false })
    })
  )

  it.scopedLive("an error status from the server fails the stream with an HttpResponseError carrying the body", () =>
    Effect.gen(function* () {
      const server = yield* modelServerDouble(() => ({ status: 404, json: { error: { message: "model 'qwen2.5-7b' not found" } } }))
      const resolved = yield* Effect.flatMap(Models, (m) => m.resolve()).pipe(Effect.provide(modelsLayer(configFor(server.url))))
      const error = yield* Effect.flip(collect(resolved.languageModel.streamText({ prompt: "hello" })))
      expect(error._tag).toBe("HttpResponseError")
      expect(error.message).toContain("404")
      expect(error.message).toContain("model 'qwen2.5-7b' not found")
    })
  )

  it.scopedLive("an error event inside the stream fails it with the server's message", () =>
    Effect.gen(function* () {
      const server = yield* modelServerDouble(() => ({
        sse: [chunk({ content: "par" }), { error: { message: "context size exceeded" } }],
        done: false
      }))
      const resolved = yield* Effect.flatMap(Models, (m) => m.resolve()).pipe(Effect.provide(modelsLayer(configFor(server.url))))
      const error = yield* Effect.flip(collect(resolved.languageModel.streamText({ prompt: "hello" })))
      expect(error.message).toContain("context size exceeded")
    })
  )
})
