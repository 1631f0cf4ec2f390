/**
 * The Chat Completions request: an `@effect/ai` prompt as `messages`, its
 * tools as `{type:"function", function:{name, description, parameters}}`,
 * the tool choice and the response format (see ModelOpenAiCompat.ts).
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import * as Tool from "@effect/ai/Tool"
import { Encoding } from "effect"

// The wire format of a request (the parts of it that are used).

type ChatContentPart = { type: "text"; text: string } | { type: "image_url"; image_url: { url: string } }

interface ChatToolCall {
  id: string
  type: "function"
  function: { name: string; arguments: string }
}

export type ChatMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string | Array<ChatContentPart> }
  | { role: "assistant"; content: string | null; tool_calls?: Array<ChatToolCall> }
  | { role: "tool"; tool_call_id: string; content: string }

const stringifyResult = (result: unknown): string => (typeof result === "string" ? result : JSON.stringify(result ?? null))

const fileToContent = (part: Prompt.FilePart): ChatContentPart => {
  if (part.mediaType.startsWith("image/")) {
    const url =
      part.data instanceof URL
        ? part.data.toString()
        : `data:${part.mediaType === "image/*" ? "image/jpeg" : part.mediaType};base64,${
            typeof part.data === "string" ? part.data : Encoding.encodeBase64(part.data)
          }`
    return { type: "image_url", image_url: { url } }
  }
  return { type: "text", text: `[file ${part.fileName ?? ""} (${part.mediaType}) not sent: this API takes text and images only]` }
}

/** The Chat Completions `messages` for a prompt. */
export const toChatMessages = (prompt: Prompt.Prompt): Array<ChatMessage> => {
  const messages: Array<ChatMessage> = []
  for (const message of prompt.content) {
    switch (message.role) {
      case "system":
        messages.push({ role: "system", content: message.content })
        break
      case "user": {
        const onlyText = message.content.every((p) => p.type === "text")
        messages.push({
          role: "user",
          content: onlyText
            ? message.content.map((p) => (p.type === "text" ? p.text : "")).join("")
            : message.content.map((p) => (p.type === "text" ? { type: "text" as const, text: p.text } : fileToContent(p)))
        })
        break
      }
      case "assistant": {
        let text = ""
        const toolCalls: Array<ChatToolCall> = []
        const results: Array<ChatMessage> = []
        for (const part of message.content) {
          if (part.type === "text") text += part.text
          else if (part.type === "tool-call" && !part.providerExecuted) {
            toolCalls.push({ id: part.id, type: "function", function: { name: part.name, arguments: JSON.stringify(part.params ?? {}) } })
          } else if (part.type === "tool-result" && !part.providerExecuted) {
            results.push({ role: "tool", tool_call_id: part.id, content: stringifyResult(part.result) })
          }
          // Reasoning is not sent back: these servers do not take it as input.
        }
        messages.push(
          toolCalls.length > 0
            ? { role: "assistant", content: text === "" ? null : text, tool_calls: toolCalls }
            : { role: "assistant", content: text }
        )
        messages.push(...results)
        break
      }
      case "tool":
        for (const part of message.content) {
          messages.push({ role: "tool", tool_call_id: part.id, content: stringifyResult(part.result) })
        }
        break
    }
  }
  return messages
}

/** The request body (without `stream`) for the provider options of one model call. */
export const toChatRequest = (model: string, options: LanguageModel.ProviderOptions): Record<string, unknown> => {
  const body: Record<string, unknown> = { model, messages: toChatMessages(options.prompt) }
  if (options.tools.length > 0) {
    body.tools = options.tools.map((any) => {
      // @effect/ai hands tools over as Tool.Any, which its own getters do not accept as such.
      const tool = any as unknown as Parameters<typeof Tool.getJsonSchema>[0]
      const description = Tool.getDescription(tool)
      return {
        type: "function",
        function: { name: tool.name, ...(description !== undefined ? { description } : {}), parameters: Tool.getJsonSchema(tool) }
      }
    })
    const choice = options.toolChoice
    if (choice === "none" || choice === "required") body.tool_choice = choice
    else if (typeof choice === "object" && "tool" in choice) body.tool_choice = { type: "function", function: { name: choice.tool } }
    else if (typeof choice === "object" && choice.mode === "required") body.tool_choice = "required"
    // "auto" is the default: not sent, for the servers that do not know the field.
  }
  if (options.responseFormat.type === "json") {
    body.response_format = {
      type: "json_schema",
      json_schema: { name: options.responseFormat.objectName, schema: Tool.getJsonSchemaFromSchemaAst(options.responseFormat.schema.ast) }
    }
  }
  return body
}
