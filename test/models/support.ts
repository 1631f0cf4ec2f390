/** Test doubles for the model tests: a model server on loopback, and a node that answers invokes. */
import { createServer, type IncomingHttpHeaders } from "node:http"
import { ConnectionHubLive } from "../../src/layers/state/ConnectionHubLive.js"
import { NodeRegistryLive } from "../../src/layers/nodes/NodeRegistryLive.js"
import type { AddressInfo } from "node:net"
import { Effect, Layer } from "effect"
import { ConfigMemory } from "../../src/layers/ConfigMemory.js"
import { DatabaseLive } from "../../src/layers/Database.js"
import { DevicesSqlLive } from "../../src/layers/store/DevicesSql.js"
import { ConnectionHub } from "../../src/services/ConnectionHub.js"
import { NodeRegistry } from "../../src/services/NodeRegistry.js"

export interface RecordedRequest {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: any
}

/** What the double answers to the n-th request (from 0): SSE events, or a status with a JSON body. */
export type DoubleAnswer =
  | {
      /** Each one's JSON is the `data:` of an event. */
      readonly sse: ReadonlyArray<unknown>
      /** `data: [DONE]` at the end (OpenAI), default true. */
      readonly done?: boolean
      /** An `event: <data.type>` line before each data (Anthropic). */
      readonly namedEvents?: boolean
    }
  | { readonly status: number; readonly json: unknown }

/** An HTTP server on 127.0.0.1, port 0, that records every request and answers with `answer`. */
export const modelServerDouble = (answer: (request: RecordedRequest, n: number) => DoubleAnswer) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly requests: Array<RecordedRequest>; readonly close: () => void }>((resume) => {
      const requests: Array<RecordedRequest> = []
      const server = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          const recorded: RecordedRequest = {
            method: req.method ?? "",
            url: req.url ?? "",
            headers: req.headers,
            body: text === "" ? undefined : JSON.parse(text)
          }
          requests.push(recorded)
          const a = answer(recorded, requests.length - 1)
          if ("status" in a) {
            res.writeHead(a.status, { "content-type": "application/json" })
            res.end(JSON.stringify(a.json))
            return
          }
          res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
          // Written in pieces, one event split across two writes, as a real server's TCP segments may be.
          const frames = a.sse.map((data: any) => `${a.namedEvents ? `event: ${data.type}\n` : ""}data: ${JSON.stringify(data)}\n\n`)
          if (a.done !== false) frames.push("data: [DONE]\n\n")
          const all = frames.join("")
          const cut = Math.floor(all.length / 2)
          res.write(all.slice(0, cut))
          setTimeout(() => res.end(all.slice(cut)), 5)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, requests, close: () => server.close() }))
      })
    }),
    (s) => Effect.sync(() => s.close())
  )

/** NodeRegistry with its real dependencies (in-memory database), and the Config (in memory) it reads. */
export const registryLayer = (config: Record<string, unknown> = {}) =>
  Layer.mergeAll(NodeRegistryLive.pipe(Layer.provideMerge(DevicesSqlLive)), ConnectionHubLive).pipe(
    Layer.provide(DatabaseLive(undefined)),
    Layer.provideMerge(ConfigMemory(config))
  )

export const NODE_A = "a".repeat(64)
export const NODE_B = "b".repeat(64)

export interface InvokeSeen {
  readonly nodeId: string
  readonly command: string
  readonly params: unknown
  readonly idempotencyKey: string
}

/**
 * Connects a node that answers every invoke with `reply(command, params)`
 * (a payload, or an `{error}` to fail). Returns what it was asked.
 */
export const connectNode = (
  nodeId: string,
  options: {
    readonly displayName?: string
    readonly commands: ReadonlyArray<string>
    readonly reply?: (
      command: string,
      params: unknown
    ) => { readonly payload: unknown } | { readonly error: { code: string; message: string } }
  }
) =>
  Effect.gen(function* () {
    const hub = yield* ConnectionHub
    const registry = yield* NodeRegistry
    const seen: Array<InvokeSeen> = []
    const connId = `conn-${nodeId.slice(0, 4)}`
    yield* hub.register({
      connId,
      role: "node",
      deviceId: nodeId,
      clientId: "node-host",
      sendEvent: (event, payload: any) => {
        if (event !== "node.invoke.request") return
        const params = payload.paramsJSON === null ? undefined : JSON.parse(payload.paramsJSON)
        seen.push({ nodeId: payload.nodeId, command: payload.command, params, idempotencyKey: payload.idempotencyKey })
        const answer = options.reply?.(payload.command, params) ?? { payload: { ran: payload.command } }
        queueMicrotask(() =>
          registry.unsafeResult(
            nodeId,
            connId,
            "error" in answer
              ? { id: payload.id, nodeId, ok: false, error: answer.error }
              : { id: payload.id, nodeId, ok: true, payload: answer.payload }
          )
        )
      },
      close: () => {}
    })
    yield* registry.register({
      nodeId,
      connId,
      clientId: "node-host",
      caps: [],
      commands: options.commands,
      connectedAtMs: 0,
      ...(options.displayName !== undefined ? { displayName: options.displayName } : {})
    })
    return seen
  })
