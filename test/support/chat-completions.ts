/**
 * An OpenAI-compatible Chat Completions server on loopback (what llama.cpp,
 * Ollama and vLLM serve): `POST /v1/chat/completions` with `stream: true`,
 * answered as SSE. A test decides each answer from the request body: text, a
 * tool call, or a stream that never ends (a model still thinking when the
 * Gateway is killed).
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"

export type ChatAnswer = { readonly text: string } | { readonly toolCall: { readonly name: string; readonly arguments: string } } | "hang"

export interface ChatDouble {
  /** For `models.providers.<name>.baseUrl`. */
  readonly baseUrl: string
  readonly requests: Array<any>
}

const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: "chatcmpl-1", object: "chat.completion.chunk", model: "double", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`

export const startChatDouble = (answer: (body: any, n: number) => ChatAnswer): Effect.Effect<ChatDouble, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ double: ChatDouble; server: http.Server; open: Set<http.ServerResponse> }>((resume) => {
      const requests: Array<any> = []
      const open = new Set<http.ServerResponse>()
      const server = http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
            res.writeHead(404).end()
            return
          }
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8"))
          requests.push(body)
          const a = answer(body, requests.length - 1)
          res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
          if (a === "hang") {
            res.write(chunk({ role: "assistant", content: "" }))
            open.add(res)
            res.on("close", () => open.delete(res))
            return
          }
          if ("text" in a) {
            res.write(chunk({ role: "assistant", content: "" }))
            for (const piece of a.text.split(/(?<= )/)) res.write(chunk({ content: piece }))
            res.write(chunk({}, "stop"))
          } else {
            res.write(
              chunk({
                role: "assistant",
                tool_calls: [
                  { index: 0, id: `call_${requests.length}`, type: "function", function: { name: a.toolCall.name, arguments: "" } }
                ]
              })
            )
            res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: a.toolCall.arguments } }] }))
            res.write(chunk({}, "tool_calls"))
          }
          res.end("data: [DONE]\n\n")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ double: { baseUrl: `http://127.0.0.1:${port}/v1`, requests }, server, open }))
      })
    }),
    ({ server, open }) =>
      Effect.sync(() => {
        for (const res of open) res.destroy()
        server.close()
      })
  ).pipe(Effect.map((s) => s.double))

/** The tool offered to the model whose name ends with `suffix` (e.g. `__system_info`). */
export const offeredTool = (body: any, suffix: string): string | undefined =>
  (body.tools ?? []).map((t: any) => t.function?.name as string).find((n: string) => n.endsWith(suffix))

/** The content of the tool messages in a request (what the node answered). */
export const toolResults = (body: any): Array<string> =>
  (body.messages ?? []).filter((m: any) => m.role === "tool").map((m: any) => String(m.content))
