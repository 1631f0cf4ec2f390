/**
 * The offline model (`offline/clawgate-offline`): the built-in default, so a
 * new Gateway answers `clawgate gateway agent --message hi` with no provider
 * configured and no network. It is not a language model: it echoes, says where
 * its replies come from and how to configure a real one, and it can call the
 * tools it is offered, so the node flow works offline too:
 *
 *   /tools                      lists the tools offered (the connected nodes' commands)
 *   /tool <name> [json-object]  calls one; <name> is the tool's name or just the
 *                               node command (`/tool system.info`) when one node serves it
 *
 * After a tool's result is in the prompt it answers with a summary of it.
 * Deterministic: the same prompt gives the same reply.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import type * as Tool from "@effect/ai/Tool"
import { Array as Arr, Effect, Option, Stream } from "effect"
import { finishLast } from "./ModelOpenAiCompat.js"

export const OFFLINE_PROVIDER = "offline"
export const OFFLINE_MODEL = "clawgate-offline"
/** Every reply of the offline model starts with this. */
export const OFFLINE_TAG = "[offline model]"

const HINT =
  `This reply comes from clawgate's built-in offline model (${OFFLINE_PROVIDER}/${OFFLINE_MODEL}), which needs no network and only echoes. ` +
  `To talk to a real model, set agents.defaults.model.primary to "<provider>/<model>" and describe that provider under models.providers.<provider> ` +
  `(an OpenAI-compatible server such as llama.cpp, Ollama or vLLM, or Anthropic): see docs/agents.md, "Models".`

const MAX_RESULT_CHARS = 600

const textOf = (message: Prompt.UserMessage): string =>
  message.content
    .filter((p) => p.type === "text")
    .map((p) => p.text)
    .join("")
    .trim()

const compact = (value: unknown): string => {
  const text = typeof value === "string" ? value : (JSON.stringify(value) ?? "null")
  return text.length > MAX_RESULT_CHARS ? `${text.slice(0, MAX_RESULT_CHARS)}… (${text.length} characters)` : text
}

const toolList = (tools: ReadonlyArray<Tool.Any>): string =>
  tools.length === 0
    ? "No tools are offered (no node with commands is connected)."
    : `Tools offered: ${tools.map((t) => t.name).join(", ")}. Call one with: /tool <name> {"param":"value"}`

/** `/tool system.info` finds `node_<node>__system_info` when exactly one node serves it. */
const findTools = (name: string, tools: ReadonlyArray<Tool.Any>): ReadonlyArray<Tool.Any> => {
  const exact = tools.filter((t) => t.name === name)
  if (exact.length > 0) return exact
  const suffix = `__${name.replace(/[^a-zA-Z0-9_-]/g, "_")}`
  return tools.filter((t) => t.name.endsWith(suffix))
}

type Reply =
  | { readonly _tag: "text"; readonly text: string }
  | { readonly _tag: "call"; readonly id: string; readonly name: string; readonly params: Record<string, unknown> }

const TOOL_COMMAND = /^\/tool\s+(\S+)\s*([\s\S]*)$/

/** What the offline model answers to `prompt` when offered `tools`. */
export const offlineReply = (prompt: Prompt.Prompt, tools: ReadonlyArray<Tool.Any>): Reply => {
  const messages = prompt.content
  const last = messages[messages.length - 1]
  const text = (t: string): Reply => ({ _tag: "text", text: `${OFFLINE_TAG} ${t}` })

  // A tool's result came back: summarise it.
  if (last?.role === "tool" && last.content.length > 0) {
    const lines = last.content.map((r) =>
      r.isFailure ? `${r.name} failed: ${compact(r.result)}` : `${r.name} returned: ${compact(r.result)}`
    )
    return text(lines.join("\n"))
  }

  const user = Arr.findLast(messages, (m): m is Prompt.UserMessage => m.role === "user")
  const said = Option.match(user, { onNone: () => "", onSome: textOf })

  if (said === "/tools") return text(toolList(tools))

  const command = TOOL_COMMAND.exec(said)
  if (command) {
    const [, name, rawArgs] = command as unknown as [string, string, string]
    const found = findTools(name, tools)
    const [first] = found
    if (first === undefined) return text(`there is no tool "${name}". ${toolList(tools)}`)
    if (found.length > 1) return text(`"${name}" is served by several nodes; pick one: ${found.map((t) => t.name).join(", ")}`)
    let params: Record<string, unknown> = {}
    if (rawArgs.trim() !== "") {
      let parsed: unknown
      try {
        parsed = JSON.parse(rawArgs)
      } catch {
        return text(`the parameters of /tool must be one JSON object, e.g. /tool ${name} {"key":"value"}; got: ${rawArgs.trim()}`)
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        return text(`the parameters of /tool must be a JSON object, e.g. /tool ${name} {"key":"value"}`)
      }
      params = parsed as Record<string, unknown>
    }
    // The message's position makes the id unique within the conversation.
    return { _tag: "call", id: `offline_call_${messages.length}`, name: first.name, params }
  }

  return text(`You said: ${said === "" ? "(nothing)" : said}\n\n${HINT}\n${toolList(tools)}`)
}

const words = (s: string) => (s.match(/\S+/g) ?? []).length

const usage = (prompt: Prompt.Prompt, output: string): Response.FinishPartEncoded["usage"] => {
  const input = prompt.content.reduce(
    (n, m) =>
      n + (typeof m.content === "string" ? words(m.content) : m.content.reduce((k, p) => k + (p.type === "text" ? words(p.text) : 0), 0)),
    0
  )
  const out = words(output)
  return { inputTokens: input, outputTokens: out, totalTokens: input + out }
}

/** The reply as a few text deltas (split at word boundaries), deterministic. */
const deltas = (text: string, pieces = 4): Array<string> => {
  const tokens = text.match(/\s+|\S+\s*/g) ?? [text]
  const per = Math.max(1, Math.ceil(tokens.length / pieces))
  const out: Array<string> = []
  for (let i = 0; i < tokens.length; i += per) out.push(tokens.slice(i, i + per).join(""))
  return out
}

/** The offline model as an `@effect/ai` LanguageModel: no network, no requirements. */
export const makeOfflineModel = (model: string = OFFLINE_MODEL): Effect.Effect<LanguageModel.Service> =>
  LanguageModel.make({
    generateText: (options) =>
      Effect.sync(() => {
        const reply = offlineReply(options.prompt, options.tools)
        const parts: Array<Response.PartEncoded> = [{ type: "response-metadata", modelId: `${OFFLINE_PROVIDER}/${model}` }]
        if (reply._tag === "text") {
          parts.push({ type: "text", text: reply.text })
          parts.push({ type: "finish", reason: "stop", usage: usage(options.prompt, reply.text) })
        } else {
          parts.push({ type: "tool-call", id: reply.id, name: reply.name, params: reply.params, providerExecuted: false })
          parts.push({ type: "finish", reason: "tool-calls", usage: usage(options.prompt, "") })
        }
        return parts
      }),
    streamText: (options) =>
      Stream.suspend(() => {
        const reply = offlineReply(options.prompt, options.tools)
        const parts: Array<Response.StreamPartEncoded> = [{ type: "response-metadata", modelId: `${OFFLINE_PROVIDER}/${model}` }]
        if (reply._tag === "text") {
          parts.push({ type: "text-start", id: "offline-text" })
          for (const delta of deltas(reply.text)) parts.push({ type: "text-delta", id: "offline-text", delta })
          parts.push({ type: "text-end", id: "offline-text" })
          parts.push({ type: "finish", reason: "stop", usage: usage(options.prompt, reply.text) })
        } else {
          const args = JSON.stringify(reply.params)
          parts.push({ type: "tool-params-start", id: reply.id, name: reply.name, providerExecuted: false })
          parts.push({ type: "tool-params-delta", id: reply.id, delta: args })
          parts.push({ type: "tool-params-end", id: reply.id })
          parts.push({ type: "tool-call", id: reply.id, name: reply.name, params: reply.params, providerExecuted: false })
          parts.push({ type: "finish", reason: "tool-calls", usage: usage(options.prompt, "") })
        }
        return finishLast(parts)
      })
  })
