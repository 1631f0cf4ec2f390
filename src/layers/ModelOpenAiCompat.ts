/**
 * An OpenAI-compatible model over the Chat Completions API
 * (`POST {baseUrl}/chat/completions`), the one wire format that llama.cpp's
 * server, Ollama, vLLM, LM Studio and the hosted APIs all speak.
 * `@effect/ai-openai` 0.41 only speaks OpenAI's newer Responses API
 * (`/responses`), which the local servers do not serve, so this is an
 * `@effect/ai` `LanguageModel` of its own: streaming with SSE, tools offered
 * as `{type:"function", function:{name, description, parameters}}`, and the
 * streamed `tool_calls` deltas assembled into tool calls.
 *
 * The request encoding is completions/request.ts, the response decoding
 * (chunks, the stream assembler) completions/response.ts; this module is the
 * model itself, over the platform `HttpClient`.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as AiError from "@effect/ai/AiError"
import * as Sse from "@effect/experimental/Sse"
import { HttpClient, HttpClientRequest, type HttpClientError } from "@effect/platform"
import { Chunk, Effect, type Redacted, Stream } from "effect"
import { toChatRequest } from "./completions/request.js"
import { ChatStreamAssembler, MODULE, parseChunk, partsOfCompletion } from "./completions/response.js"

export { toChatMessages, toChatRequest, type ChatMessage } from "./completions/request.js"
export { ChatStreamAssembler, INVALID_TOOL_ARGUMENTS_KEY, parseToolArguments, partsOfCompletion } from "./completions/response.js"

export interface OpenAiCompatOptions {
  /** Up to and including the API version: `http://127.0.0.1:8080/v1`, `https://api.openai.com/v1`. */
  readonly baseUrl: string
  readonly model: string
  /** Sent as `Authorization: Bearer`; local servers usually need none. Redacted: the options logged show nothing. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
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
