/**
 * One HTTP/1.1 request over a raw TCP socket, the request target sent byte
 * for byte as written (no URL normalisation, no automatic decompression), for
 * tests of what the Gateway does with odd paths and with each encoding.
 */
import * as net from "node:net"
import { Effect } from "effect"

export interface RawResponse {
  /** 0: the server closed the connection without answering. */
  readonly status: number
  /** Lowercased names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>
  /** The body exactly as sent (compressed if the server compressed it). */
  readonly body: Buffer
}

export interface RawRequest {
  readonly method?: string
  readonly headers?: Readonly<Record<string, string>>
  readonly host?: string
}

export const rawRequest = (port: number, target: string, request: RawRequest = {}): Effect.Effect<RawResponse> =>
  Effect.promise(
    () =>
      new Promise<RawResponse>((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1")
        const chunks: Array<Buffer> = []
        socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer to ${target} within 10 s`)))
        socket.on("connect", () => {
          const lines = [
            `${request.method ?? "GET"} ${target} HTTP/1.1`,
            `Host: ${request.host ?? `127.0.0.1:${port}`}`,
            "Connection: close"
          ]
          for (const [name, value] of Object.entries(request.headers ?? {})) lines.push(`${name}: ${value}`)
          socket.write(Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1"))
        })
        socket.on("data", (c) => chunks.push(c))
        socket.on("error", reject)
        socket.on("close", () => {
          const all = Buffer.concat(chunks)
          if (all.length === 0) return resolve({ status: 0, headers: {}, body: all })
          const end = all.indexOf("\r\n\r\n")
          if (end === -1)
            return reject(new Error(`no complete response to ${target}: ${JSON.stringify(all.toString("latin1").slice(0, 200))}`))
          const [statusLine = "", ...headerLines] = all.subarray(0, end).toString("latin1").split("\r\n")
          const headers: Record<string, string> = {}
          for (const line of headerLines) {
            const colon = line.indexOf(":")
            const name = line.slice(0, colon).trim().toLowerCase()
            const value = line.slice(colon + 1).trim()
            headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
          }
          let body = all.subarray(end + 4)
          // Chunked (the Gateway's JSON answers): join the chunks.
          if (headers["transfer-encoding"] === "chunked") {
            const out: Array<Buffer> = []
            let at = 0
            for (;;) {
              const nl = body.indexOf("\r\n", at)
              const size = Number.parseInt(body.subarray(at, nl).toString("latin1"), 16)
              if (!Number.isFinite(size) || size === 0) break
              out.push(body.subarray(nl + 2, nl + 2 + size))
              at = nl + 2 + size + 2
            }
            body = Buffer.concat(out)
          }
          resolve({ status: Number(statusLine.split(" ")[1]), headers, body })
        })
      })
  )
