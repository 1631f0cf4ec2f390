/**
 * A scripted language model for tests: each `streamText` call asks `reply`
 * for its parts (it sees the prompt and the call number), so a test decides
 * what the model says, when it calls a tool, and how long it takes.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import { Effect, Stream } from "effect"

export type Parts = Stream.Stream<Response.StreamPartEncoded, never>

export const textReply = (text: string): Parts =>
  Stream.fromIterable<Response.StreamPartEncoded>([
    { type: "text-start", id: "t" },
    ...text.split(/(?<= )/).map((delta): Response.StreamPartEncoded => ({ type: "text-delta", id: "t", delta })),
    { type: "text-end", id: "t" },
    { type: "finish", reason: "stop", usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } }
  ])

export const toolCallReply = (id: string, name: string, params: unknown): Parts =>
  Stream.fromIterable<Response.StreamPartEncoded>([
    { type: "tool-call", id, name, params, providerExecuted: false },
    { type: "finish", reason: "tool-calls", usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } }
  ])

/** The last user message's text in a prompt. */
export const lastUserText = (prompt: Prompt.Prompt): string => {
  for (let i = prompt.content.length - 1; i >= 0; i--) {
    const m = prompt.content[i]!
    if (m.role === "user") return m.content.map((p) => (p.type === "text" ? p.text : "")).join("")
  }
  return ""
}

export const scriptedModel = (reply: (prompt: Prompt.Prompt, call: number, tools: ReadonlyArray<{ name: string }>) => Parts) => {
  let calls = 0
  const prompts: Array<Prompt.Prompt> = []
  const model = Effect.runSync(
    LanguageModel.make({
      generateText: () => Effect.die("generateText is not scripted"),
      streamText: (options) =>
        Stream.suspend(() => {
          calls++
          prompts.push(options.prompt)
          return reply(options.prompt, calls, options.tools)
        })
    })
  )
  return { model, calls: () => calls, prompts }
}
