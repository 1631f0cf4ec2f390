/**
 * The Chat Completions response: the server's chunks (streamed over SSE, or
 * one whole completion) parsed and turned into `@effect/ai` parts, with the
 * streamed `tool_calls` deltas assembled into tool calls (see ModelOpenAiCompat.ts).
 */
import * as AiError from "@effect/ai/AiError"
import type * as Response from "@effect/ai/Response"
import { Effect } from "effect"

/**
 * The params of a tool call whose arguments were not a JSON object: the raw
 * text under this one key, so that the call still reaches the toolkit (which
 * answers it with an error the model can read) instead of failing the run.
 */
export const INVALID_TOOL_ARGUMENTS_KEY = "__clawgate_invalid_arguments"

/** The module named in the `AiError`s of this provider. */
export const MODULE = "OpenAiCompat"

// The wire format of a response (the parts of it that are used).

interface ChatUsage {
  readonly prompt_tokens?: number
  readonly completion_tokens?: number
  readonly total_tokens?: number
  readonly prompt_tokens_details?: { readonly cached_tokens?: number } | null
  readonly completion_tokens_details?: { readonly reasoning_tokens?: number } | null
}

interface ChatToolCallDelta {
  readonly index?: number
  readonly id?: string | null
  readonly type?: string
  readonly function?: { readonly name?: string | null; readonly arguments?: string | null } | null
}

interface ChatChunk {
  readonly id?: string
  readonly model?: string
  readonly created?: number
  readonly choices?: ReadonlyArray<{
    readonly index?: number
    readonly delta?: {
      readonly content?: string | null
      readonly reasoning_content?: string | null
      readonly reasoning?: string | null
      readonly tool_calls?: ReadonlyArray<ChatToolCallDelta> | null
    } | null
    readonly message?: {
      readonly content?: string | null
      readonly reasoning_content?: string | null
      readonly reasoning?: string | null
      readonly tool_calls?: ReadonlyArray<ChatToolCallDelta> | null
    } | null
    readonly finish_reason?: string | null
  }>
  readonly usage?: ChatUsage | null
  readonly error?: { readonly message?: string; readonly type?: string; readonly code?: unknown } | string
}

const finishReason = (reason: string | null | undefined, hadToolCalls: boolean): Response.FinishReason => {
  // Some servers (Ollama) say "stop" after tool calls.
  if (hadToolCalls && (reason === "stop" || reason === null || reason === undefined)) return "tool-calls"
  switch (reason) {
    case "stop":
    case "eos":
      return "stop"
    case "length":
      return "length"
    case "tool_calls":
    case "function_call":
      return "tool-calls"
    case "content_filter":
      return "content-filter"
    case null:
    case undefined:
      return "unknown"
    default:
      return "other"
  }
}

const usageOf = (usage: ChatUsage | null | undefined): Response.FinishPartEncoded["usage"] => ({
  inputTokens: usage?.prompt_tokens,
  outputTokens: usage?.completion_tokens,
  totalTokens: usage?.total_tokens,
  ...(usage?.completion_tokens_details?.reasoning_tokens !== undefined
    ? { reasoningTokens: usage.completion_tokens_details.reasoning_tokens }
    : {}),
  ...(usage?.prompt_tokens_details?.cached_tokens !== undefined ? { cachedInputTokens: usage.prompt_tokens_details.cached_tokens } : {})
})

/** A tool call's arguments as params: a JSON object, `{}` for none, else the raw text under INVALID_TOOL_ARGUMENTS_KEY. */
export const parseToolArguments = (raw: string): Record<string, unknown> => {
  if (raw.trim() === "") return {}
  try {
    const value: unknown = JSON.parse(raw)
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>
  } catch {
    // below
  }
  return { [INVALID_TOOL_ARGUMENTS_KEY]: raw }
}

const metadataPart = (chunk: ChatChunk): Response.ResponseMetadataPartEncoded => ({
  type: "response-metadata",
  ...(chunk.id ? { id: chunk.id } : {}),
  ...(chunk.model ? { modelId: chunk.model } : {}),
  ...(typeof chunk.created === "number" && chunk.created > 0 ? { timestamp: new Date(chunk.created * 1000).toISOString() } : {})
})

const serverError = (method: string, error: NonNullable<ChatChunk["error"]>) =>
  new AiError.UnknownError({
    module: MODULE,
    method,
    description: `the model server reported an error: ${typeof error === "string" ? error : (error.message ?? JSON.stringify(error))}`
  })

interface PendingToolCall {
  id: string
  name: string
  args: string
  started: boolean
}

/**
 * Turns the streamed chunks of one completion into `@effect/ai` stream parts.
 * Tool calls are assembled by `index` (a new `id` at a used index starts a new
 * call, for servers that number every call 0) and emitted whole at the end.
 */
export class ChatStreamAssembler {
  private metaSent = false
  private textId: string | undefined
  private reasoningId: string | undefined
  private blocks = 0
  private readonly calls: Array<PendingToolCall> = []
  private readonly byIndex = new Map<number, PendingToolCall>()
  private reason: string | null | undefined
  private usage: ChatUsage | null | undefined

  constructor(private readonly newId: () => string) {}

  push(chunk: ChatChunk): Array<Response.StreamPartEncoded> {
    const out: Array<Response.StreamPartEncoded> = []
    if (!this.metaSent) {
      this.metaSent = true
      out.push(metadataPart(chunk))
    }
    if (chunk.usage) this.usage = chunk.usage
    const choice = chunk.choices?.[0]
    if (!choice) return out
    const delta = choice.delta ?? choice.message ?? {}
    const reasoning = delta.reasoning_content ?? delta.reasoning
    if (typeof reasoning === "string" && reasoning !== "") {
      if (this.reasoningId === undefined) {
        this.reasoningId = `reasoning-${this.blocks++}`
        out.push({ type: "reasoning-start", id: this.reasoningId })
      }
      out.push({ type: "reasoning-delta", id: this.reasoningId, delta: reasoning })
    }
    if (typeof delta.content === "string" && delta.content !== "") {
      this.endReasoning(out)
      if (this.textId === undefined) {
        this.textId = `text-${this.blocks++}`
        out.push({ type: "text-start", id: this.textId })
      }
      out.push({ type: "text-delta", id: this.textId, delta: delta.content })
    }
    for (const [position, d] of (delta.tool_calls ?? []).entries()) {
      const index = d.index ?? position
      let call = this.byIndex.get(index)
      if (call === undefined || (d.id && call.id !== d.id && call.started)) {
        call = { id: d.id || this.newId(), name: "", args: "", started: false }
        this.byIndex.set(index, call)
        this.calls.push(call)
      }
      // The name comes whole in the call's first delta (some servers repeat it in every one).
      if (!call.started && d.function?.name) call.name = d.function.name
      if (!call.started && call.name !== "") {
        call.started = true
        out.push({ type: "tool-params-start", id: call.id, name: call.name, providerExecuted: false })
        if (call.args !== "") out.push({ type: "tool-params-delta", id: call.id, delta: call.args })
      }
      if (d.function?.arguments) {
        call.args += d.function.arguments
        if (call.started) out.push({ type: "tool-params-delta", id: call.id, delta: d.function.arguments })
      }
    }
    if (choice.finish_reason) this.reason = choice.finish_reason
    return out
  }

  private endReasoning(out: Array<Response.StreamPartEncoded>) {
    if (this.reasoningId !== undefined) {
      out.push({ type: "reasoning-end", id: this.reasoningId })
      this.reasoningId = undefined
    }
  }

  /** The closing parts: open blocks ended, the tool calls, then `finish`. */
  end(): Array<Response.StreamPartEncoded> {
    const out: Array<Response.StreamPartEncoded> = []
    if (!this.metaSent) {
      this.metaSent = true
      out.push({ type: "response-metadata" })
    }
    this.endReasoning(out)
    if (this.textId !== undefined) out.push({ type: "text-end", id: this.textId })
    this.textId = undefined
    const calls = this.calls.filter((c) => c.name !== "")
    for (const call of calls) {
      out.push({ type: "tool-params-end", id: call.id })
      out.push({ type: "tool-call", id: call.id, name: call.name, params: parseToolArguments(call.args), providerExecuted: false })
    }
    out.push({ type: "finish", reason: finishReason(this.reason, calls.length > 0), usage: usageOf(this.usage) })
    return out
  }
}

/** The parts of a whole (non-streamed) completion. */
export const partsOfCompletion = (completion: ChatChunk, newId: () => string): Array<Response.PartEncoded> => {
  const out: Array<Response.PartEncoded> = [metadataPart(completion)]
  const choice = completion.choices?.[0]
  const message = choice?.message ?? {}
  const reasoning = message.reasoning_content ?? message.reasoning
  if (typeof reasoning === "string" && reasoning !== "") out.push({ type: "reasoning", text: reasoning })
  if (typeof message.content === "string" && message.content !== "") out.push({ type: "text", text: message.content })
  const calls = (message.tool_calls ?? []).flatMap((c) =>
    c.function?.name ? [{ id: c.id, name: c.function.name, args: c.function.arguments }] : []
  )
  for (const call of calls) {
    out.push({
      type: "tool-call",
      id: call.id || newId(),
      name: call.name,
      params: parseToolArguments(call.args ?? ""),
      providerExecuted: false
    })
  }
  out.push({ type: "finish", reason: finishReason(choice?.finish_reason, calls.length > 0), usage: usageOf(completion.usage) })
  return out
}

const malformed = (method: string, description: string, cause?: unknown) =>
  new AiError.MalformedOutput({ module: MODULE, method, description, ...(cause !== undefined ? { cause } : {}) })

export const parseChunk = (method: string, data: string): Effect.Effect<ChatChunk, AiError.AiError> =>
  Effect.try({
    try: () => JSON.parse(data) as ChatChunk,
    catch: (cause) => malformed(method, `the model server sent an event that is not JSON: ${data.slice(0, 200)}`, cause)
  }).pipe(Effect.flatMap((c) => (c.error === undefined ? Effect.succeed(c) : Effect.fail(serverError(method, c.error)))))
