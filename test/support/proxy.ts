/**
 * A small reverse proxy on 127.0.0.1, port 0, in front of a Gateway: it
 * forwards HTTP requests and WebSocket upgrades and adds what a real proxy
 * adds (`X-Forwarded-For` with the client's address appended,
 * `X-Forwarded-Proto`, `X-Forwarded-Host`). The Host header is kept, as nginx
 * does with `proxy_set_header Host $host`, so the browser's Origin still
 * matches the host it asked for. List 127.0.0.1 in `gateway.trustedProxies`
 * for the Gateway to believe it.
 */
import * as http from "node:http"
import * as net from "node:net"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"

export interface TestProxy {
  /** `http://127.0.0.1:<port>`: what the browser opens. */
  readonly origin: string
  readonly port: number
  /** Requests and upgrades forwarded so far, as `METHOD path` (upgrades as `UPGRADE path`). */
  readonly forwarded: ReadonlyArray<string>
}

export interface ProxyOptions {
  /** The Gateway's port on 127.0.0.1. */
  readonly targetPort: number
  /** The X-Forwarded-Proto to send (default "http"). */
  readonly proto?: string
}

const forwardingHeaders = (req: http.IncomingMessage, proto: string): http.OutgoingHttpHeaders => {
  const client = req.socket.remoteAddress ?? ""
  const prior = req.headers["x-forwarded-for"]
  return {
    ...req.headers,
    "x-forwarded-for": prior ? `${prior}, ${client}` : client,
    "x-forwarded-proto": proto,
    "x-forwarded-host": req.headers.host ?? ""
  }
}

/** Starts the proxy; it stops, and drops every connection it holds, with the scope. */
export const startProxy = (options: ProxyOptions): Effect.Effect<TestProxy, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const proto = options.proto ?? "http"
      const forwarded: Array<string> = []
      const sockets = new Set<net.Socket>()
      const server = http.createServer((req, res) => {
        forwarded.push(`${req.method} ${req.url}`)
        const upstream = http.request(
          { host: "127.0.0.1", port: options.targetPort, method: req.method, path: req.url, headers: forwardingHeaders(req, proto) },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers)
            up.pipe(res)
          }
        )
        upstream.on("error", () => {
          if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" })
          res.end("bad gateway")
        })
        req.pipe(upstream)
      })
      server.on("connection", (socket) => {
        sockets.add(socket)
        socket.once("close", () => sockets.delete(socket))
      })
      // An upgrade goes through as bytes: the request head rewritten with the forwarding headers, then both ways.
      server.on("upgrade", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
        forwarded.push(`UPGRADE ${req.url}`)
        const upstream = net.connect(options.targetPort, "127.0.0.1")
        sockets.add(upstream)
        upstream.once("close", () => sockets.delete(upstream))
        const headers = forwardingHeaders(req, proto)
        const lines = [`${req.method} ${req.url} HTTP/1.1`]
        for (const [name, value] of Object.entries(headers)) {
          for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) lines.push(`${name}: ${v}`)
        }
        upstream.on("connect", () => {
          upstream.write(lines.join("\r\n") + "\r\n\r\n")
          if (head.length > 0) upstream.write(head)
          upstream.pipe(client)
          client.pipe(upstream)
        })
        const drop = () => {
          upstream.destroy()
          client.destroy()
        }
        upstream.on("error", drop)
        client.on("error", drop)
        upstream.on("close", () => client.destroy())
        client.on("close", () => upstream.destroy())
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const port = (server.address() as AddressInfo).port
      return { server, sockets, proxy: { origin: `http://127.0.0.1:${port}`, port, forwarded } }
    }),
    ({ server, sockets }) =>
      Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            for (const s of sockets) s.destroy()
            server.closeAllConnections()
            server.close(() => resolve())
          })
      )
  ).pipe(Effect.map(({ proxy }) => proxy))
