/**
 * A session's transcript as an `@effect/ai` Prompt: user and system entries
 * become messages of their own; an assistant turn (its text and its
 * `tool_call` entries) becomes one assistant message, followed by one tool
 * message with the `tool_result` entries that answer it.
 *
 * What the transcript entries are expected to hold: `tool_call` has
 * `toolName`, `toolCallId` and `data` = the params; `tool_result` has
 * `toolName`, `toolCallId` and `data` = the result (a node tool's
 * `{ok, payload}` or `{ok: false, error}`; `ok: false` marks a failure).
 *
 * Providers reject a tool call without a result (and a result without its
 * call), which is what a run cut short leaves behind: such a call gets a
 * failure result saying so, and such a result is left out.
 */
import * as Prompt from "@effect/ai/Prompt"
import type { TranscriptEntry } from "../services/Sessions.js"

export interface TranscriptPromptOptions {
  /** `agents.defaults.systemPrompt`: the first message. */
  readonly systemPrompt?: string | undefined
}

const isFailureResult = (data: unknown) => typeof data === "object" && data !== null && (data as { ok?: unknown }).ok === false

export const NO_RESULT = { ok: false, error: { code: "NO_RESULT", message: "the run ended before this tool call returned" } } as const

export const promptFromTranscript = (
  entries: ReadonlyArray<Pick<TranscriptEntry, "role" | "text" | "toolName" | "toolCallId" | "data">>,
  options: TranscriptPromptOptions = {}
): Prompt.Prompt => {
  const messages: Array<Prompt.Message> = []
  if (options.systemPrompt && options.systemPrompt.trim() !== "") {
    messages.push(Prompt.makeMessage("system", { content: options.systemPrompt }))
  }
  let assistant: Array<Prompt.AssistantMessagePart> = []
  let calls: Array<{ id: string; name: string }> = []
  let results = new Map<string, Prompt.ToolResultPart>()

  const flush = () => {
    if (assistant.length > 0) messages.push(Prompt.makeMessage("assistant", { content: assistant }))
    if (calls.length > 0) {
      const content = calls.map(
        (c) =>
          results.get(c.id) ??
          Prompt.makePart("tool-result", { id: c.id, name: c.name, isFailure: true, result: NO_RESULT, providerExecuted: false })
      )
      messages.push(Prompt.makeMessage("tool", { content }))
    }
    assistant = []
    calls = []
    results = new Map()
  }

  for (const entry of entries) {
    switch (entry.role) {
      case "user":
        flush()
        messages.push(Prompt.makeMessage("user", { content: [Prompt.makePart("text", { text: entry.text })] }))
        break
      case "system":
        flush()
        messages.push(Prompt.makeMessage("system", { content: entry.text }))
        break
      case "assistant":
        // Text after tool results is the next model turn.
        if (results.size > 0) flush()
        if (entry.text !== "") assistant.push(Prompt.makePart("text", { text: entry.text }))
        break
      case "tool_call": {
        if (results.size > 0) flush()
        const id = entry.toolCallId ?? ""
        const name = entry.toolName ?? ""
        if (id === "" || name === "") break
        assistant.push(Prompt.makePart("tool-call", { id, name, params: entry.data ?? {}, providerExecuted: false }))
        calls.push({ id, name })
        break
      }
      case "tool_result": {
        const id = entry.toolCallId ?? ""
        const call = calls.find((c) => c.id === id)
        if (!call) break
        results.set(
          id,
          Prompt.makePart("tool-result", {
            id,
            name: call.name,
            isFailure: isFailureResult(entry.data),
            result: entry.data ?? null,
            providerExecuted: false
          })
        )
        break
      }
    }
  }
  flush()
  return Prompt.fromMessages(messages)
}
