/**
 * Listening: one Node `http` (or `https`, TLS 1.3) server per host of the
 * bind plan, each acquired as a resource of the server's scope, so whatever
 * fails after a listener was bound (a later host, the generated token's
 * write, Tailscale Serve) closes it again and leaves the port free.
 *
 * The first host must bind, with a message naming the setting to change;
 * further ones (`::1` beside `127.0.0.1`) are best effort.
 */
import * as http from "node:http"
import * as https from "node:https"
import type { Duplex } from "node:stream"
import { Effect, type Scope } from "effect"
import { GatewayStartError } from "../../services/GatewayServer.js"
import type { Listener } from "../../services/GatewayState.js"
import type { Limits } from "./budgets.js"

export interface ServerHandlers {
  readonly onHttp: (req: http.IncomingMessage, res: http.ServerResponse) => void
  readonly onUpgrade: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void
  readonly onTcp: (socket: Duplex & { remoteAddress?: string; remotePort?: number }) => void
}

export interface ListenOptions {
  readonly hosts: ReadonlyArray<string>
  readonly port: number
  /** Where the port came from (a flag, the env, the config), to name it when it is taken. */
  readonly portSource: string
  readonly tls: { readonly cert: string | Buffer; readonly key: string | Buffer } | undefined
  readonly limits: Limits
}

export interface Listening {
  readonly servers: ReadonlyArray<http.Server>
  readonly listeners: ReadonlyArray<Listener>
  /** The port every listener shares (the one the first bound, when asked for port 0). */
  readonly port: number
}

const listen = (server: http.Server, host: string, port: number) =>
  Effect.async<number, NodeJS.ErrnoException>((resume) => {
    const onError = (e: NodeJS.ErrnoException) => {
      server.off("listening", onListening)
      resume(Effect.fail(e))
    }
    const onListening = () => {
      server.off("error", onError)
      const addr = server.address()
      resume(Effect.succeed(typeof addr === "object" && addr ? addr.port : port))
    }
    server.once("error", onError)
    server.once("listening", onListening)
    server.listen({ host, port, exclusive: true })
  })

/** Stops accepting and cuts every connection the server still holds; done once it has closed. */
export const closeServer = (server: http.Server) =>
  Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
    server.closeAllConnections()
  })

const whyNot = (e: NodeJS.ErrnoException, host: string, port: number, portSource: string) =>
  e.code === "EADDRINUSE"
    ? `port ${port} on ${host} is already in use (another Gateway?): stop it, or choose another port with --port, CLAWGATE_GATEWAY_PORT or gateway.port (now from ${portSource})`
    : e.code === "EADDRNOTAVAIL"
      ? `cannot listen on ${host}: this host has no such address (check gateway.bind / gateway.customBindHost)`
      : e.code === "EACCES"
        ? `no permission to listen on ${host}:${port}: use a port above 1023`
        : `cannot listen on ${host}:${port}: ${e.message}`

const createServer = (options: ListenOptions, handlers: ServerHandlers): http.Server => {
  const { limits, tls } = options
  const serverOptions = {
    keepAliveTimeout: 5_000,
    // Slow headers are cut by Node as well as by the handshake deadline.
    headersTimeout: limits.handshakeTimeoutMs,
    requestTimeout: Math.max(limits.handshakeTimeoutMs, 30_000),
    connectionsCheckingInterval: Math.min(1_000, limits.handshakeTimeoutMs)
  }
  const server: http.Server = tls
    ? https.createServer(
        { ...serverOptions, cert: tls.cert, key: tls.key, minVersion: "TLSv1.3", handshakeTimeout: limits.handshakeTimeoutMs },
        handlers.onHttp
      )
    : http.createServer(serverOptions, handlers.onHttp)
  server.on("connection", handlers.onTcp)
  server.on("upgrade", handlers.onUpgrade)
  server.on("clientError", (_err, socket) => socket.destroy())
  return server
}

/** Binds every host of the plan on one port; each server is closed when the scope closes. */
export const listenAll = (options: ListenOptions, handlers: ServerHandlers): Effect.Effect<Listening, GatewayStartError, Scope.Scope> =>
  Effect.gen(function* () {
    const servers: Array<http.Server> = []
    const listeners: Array<Listener> = []
    let port = options.port
    for (const [i, host] of options.hosts.entries()) {
      const server = createServer(options, handlers)
      const bound = yield* Effect.acquireRelease(listen(server, host, port), () => closeServer(server)).pipe(Effect.either)
      if (bound._tag === "Left") {
        const e = bound.left
        if (i === 0) return yield* new GatewayStartError({ message: whyNot(e, host, port, options.portSource) })
        yield* Effect.logDebug(`not listening on ${host}: ${e.code ?? e.message}`)
        continue
      }
      port = bound.right
      servers.push(server)
      listeners.push({ host, port })
    }
    return { servers, listeners, port }
  })
