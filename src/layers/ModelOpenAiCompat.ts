/**
 * An OpenAI-compatible model over the Chat Completions API
 * (`POST {baseUrl}/chat/completions`), the one wire format that llama.cpp's
 * server, Ollama, vLLM, LM Studio and the hosted APIs all speak.
 * `@effect/ai-openai` 0.41 only speaks OpenAI's newer Responses API
 * (`/responses`), which the local servers do not serve, so this is an
 * `@effect/ai` `LanguageModel` of its own: streaming with SSE, tools offered
 * as `{type:"function", function:{name, description, parameters}}`, and the
 * streamed `tool_calls` deltas assembled into tool calls.
 */
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import * as Tool from "@effect/ai/Tool"
import * as Sse from "@effect/experimental/Sse"
import { HttpClient, HttpClientRequest, type HttpClientError } from "@effect/platform"
import { Chunk, Effect, Encoding, Stream } from "effect"

/**
 * The params of a tool call whose arguments were not a JSON object: the raw
 * text under this one key, so that the call still reaches the toolkit (which
 * answers it with an error the model can read) instead of failing the run.
 */
export const INVALID_TOOL_ARGUMENTS_KEY = "__clawgate_invalid_arguments"

export interface OpenAiCompatOptions {
  /** Up to and including the API version: `http://127.0.0.1:8080/v1`, `https://api.openai.com/v1`. */
  readonly baseUrl: string
  readonly model: string
  /** Sent as `Authorization: Bearer`; local servers usually need none. */
  readonly apiKey?: string | undefined
}

const MODULE = "OpenAiCompat"

// ---------------------------------------------------------------------------
// The wire format (the parts of it that are used)
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Prompt -> messages, tools -> functions
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Responses -> parts
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

/**
 * The closing parts as two chunks, `finish` alone in the second: the framework
 * resolves a chunk's tool calls after that chunk, so their results come
 * before `finish`, and the calls of one chunk run together.
 */
export const finishLast = <A extends { readonly type: string }>(parts: ReadonlyArray<A>): Stream.Stream<A> =>
  Stream.concat(
    Stream.fromChunk(Chunk.fromIterable(parts.filter((p) => p.type !== "finish"))),
    Stream.fromChunk(Chunk.fromIterable(parts.filter((p) => p.type === "finish")))
  )

const httpErrors = (method: string) => ({
  RequestError: (error: HttpClientError.RequestError) =>
    Effect.fail(AiError.HttpRequestError.fromRequestError({ module: MODULE, method, error })),
  ResponseError: (error: HttpClientError.ResponseError) => AiError.HttpResponseError.fromResponseError({ module: MODULE, method, error })
})

const malformed = (method: string, description: string, cause?: unknown) =>
  new AiError.MalformedOutput({ module: MODULE, method, description, ...(cause !== undefined ? { cause } : {}) })

const parseChunk = (method: string, data: string): Effect.Effect<ChatChunk, AiError.AiError> =>
  Effect.try({
    try: () => JSON.parse(data) as ChatChunk,
    catch: (cause) => malformed(method, `the model server sent an event that is not JSON: ${data.slice(0, 200)}`, cause)
  }).pipe(Effect.flatMap((c) => (c.error === undefined ? Effect.succeed(c) : Effect.fail(serverError(method, c.error)))))

/** An OpenAI-compatible Chat Completions model: a `LanguageModel.Service` over the platform `HttpClient`. */
export const makeOpenAiCompatModel = (options: OpenAiCompatOptions): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const url = `${options.baseUrl.replace(/\/+$/, "")}/chat/completions`
    const http = HttpClient.filterStatusOk(yield* HttpClient.HttpClient)
    let calls = 0
    const newId = () => `call_${Date.now().toString(36)}_${(calls++).toString(36)}`
    const request = (body: Record<string, unknown>) =>
      HttpClientRequest.post(url).pipe(
        HttpClientRequest.bodyUnsafeJson(body),
        options.apiKey ? HttpClientRequest.bearerToken(options.apiKey) : (r) => r
      )

    return yield* LanguageModel.make({
      generateText: (providerOptions) =>
        http.execute(request({ ...toChatRequest(options.model, providerOptions), stream: false })).pipe(
          Effect.flatMap((response) => response.text),
          Effect.scoped,
          Effect.catchTags(httpErrors("generateText")),
          Effect.flatMap((text) => parseChunk("generateText", text)),
          Effect.map((completion) => partsOfCompletion(completion, newId))
        ),
      streamText: (providerOptions) =>
        Effect.gen(function* () {
          const response = yield* http
            .execute(request({ ...toChatRequest(options.model, providerOptions), stream: true }))
            .pipe(Effect.catchTags(httpErrors("streamText")))
          const assembler = new ChatStreamAssembler(newId)
          const events = response.stream.pipe(
            Stream.decodeText(),
            Stream.pipeThroughChannel(Sse.makeChannel()),
            Stream.catchTags(httpErrors("streamText")),
            // `[DONE]` ends the completion even if the server keeps the connection open.
            Stream.takeUntil((event) => event.data.trim() === "[DONE]"),
            Stream.mapConcatEffect((event) => {
              const data = event.data.trim()
              if (data === "" || data === "[DONE]") return Effect.succeed([])
              return Effect.map(parseChunk("streamText", data), (chunk) => assembler.push(chunk))
            })
          )
          return Stream.concat(
            events,
            Stream.suspend(() => finishLast(assembler.end()))
          )
        }).pipe(Stream.unwrapScoped)
    })
  })
