/**
 * From TCP accept to `connect.challenge`: the pre-auth budgets on raw TCP
 * connections, the HTTP routes (routes other services add, the probes, then
 * prefix routes such as the Control UI's), and the
 * WebSocket upgrade with its checks (no credentials in a query string, the
 * browser Origin, forwarding headers only from trusted proxies, the
 * unauthenticated budget per client address).
 *
 * Every TCP connection is unauthenticated until it finishes connect, and has
 * until the handshake deadline to (or serves HTTP under Node's timeouts); the
 * deadline itself is swept in timers.ts.
 */
import * as http from "node:http"
import type { Duplex } from "node:stream"
import { randomUUID } from "node:crypto"
import { Effect, Option } from "effect"
import { WebSocketServer, type WebSocket } from "ws"
import { isLoopbackAddress, normalizeIp } from "../../config/bind.js"
import { checkOrigin, resolveClientAddress, tailscaleClaim, trustedProxyList } from "../../config/clientAddress.js"
import { printable } from "../../protocol/codec.js"
import { CloseCode, MAX_PREAUTH_PAYLOAD } from "../../protocol/frames.js"
import type { PeerFacts } from "../../services/Admission.js"
import type { ConfigService } from "../../services/Config.js"
import type { GatewayStateService } from "../../services/GatewayState.js"
import type { HttpRoutesService } from "../../services/HttpRoutes.js"
import type { ReadinessService } from "../../services/Readiness.js"
import type { Limits } from "./budgets.js"
import { type Conn, type Connections, type PendingSocket, type RunFork, socketKey } from "./connection.js"

/** Unauthenticated connections from loopback may go this far beyond unauthenticatedTotal: the host is never locked out. */
const LOOPBACK_RESERVE = 64

export const hasTokenQuery = (url: string | undefined): boolean => {
  if (!url) return false
  const q = url.indexOf("?")
  if (q === -1) return false
  const params = new URLSearchParams(url.slice(q + 1))
  return params.has("token") || params.has("password") || params.has("bootstrapToken")
}

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff"
  })
  res.end(text)
}

export interface UpgradeDeps {
  readonly connections: Connections
  /** Puts the frame loop on a new connection's socket (frames.ts). */
  readonly attach: (conn: Conn) => void
  readonly config: ConfigService
  readonly state: GatewayStateService
  readonly routes: Option.Option<HttpRoutesService>
  /** What /startupz and /readyz answer, read from memory on each request. */
  readonly readiness: ReadinessService
  readonly limits: Limits
  readonly runFork: RunFork
  readonly runSync: <A, E>(effect: Effect.Effect<A, E>) => A
  readonly now: () => number
}

export const makeUpgrade = ({ connections: c, attach, config, state, routes, readiness, limits, runFork, runSync, now }: UpgradeDeps) => {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_PREAUTH_PAYLOAD,
    perMessageDeflate: false,
    clientTracking: false
  })

  const onConnection = (ws: WebSocket, facts: PeerFacts, pending: PendingSocket, tcpKey: string) => {
    const nonce = randomUUID()
    const conn: Conn = {
      connId: randomUUID(),
      ws,
      ip: facts.ip,
      isLoopback: facts.isLoopback,
      forwarded: facts.forwarded,
      hasOrigin: facts.hasOrigin,
      phase: "handshake",
      role: "operator",
      scopes: [],
      client: undefined,
      seq: 0,
      inflight: new Set(),
      inflightCount: 0,
      ctx: undefined,
      nonce,
      local: facts.local,
      tailscale: facts.tailscale,
      deviceId: undefined,
      registration: undefined,
      scope: undefined,
      tcpKey,
      addressKey: undefined,
      credential: undefined,
      missedPongs: 0,
      denied: undefined,
      closingSince: undefined
    }
    c.addConn(conn)
    attach(conn)
    pending.conn = conn
    // Unauthenticated connections per client address (the forwarded one behind a trusted proxy).
    if (c.unauthenticatedByAddress.get(facts.ip) >= limits.unauthenticatedPerAddress) {
      runFork(
        Effect.logWarning(
          `refused a connection from ${facts.ip}: ${limits.unauthenticatedPerAddress} unauthenticated connections already open from there`
        )
      )
      return c.closeConn(
        conn,
        CloseCode.tryAgainLater,
        `too many unauthenticated connections from ${facts.ip} (gateway.limits.unauthenticatedPerAddress ${limits.unauthenticatedPerAddress})`
      )
    }
    c.unauthenticatedByAddress.add(facts.ip)
    conn.addressKey = facts.ip
    c.send(conn, { type: "event", event: "connect.challenge", payload: { nonce, ts: Date.now() } })
  }

  const onHttp = (req: http.IncomingMessage, res: http.ServerResponse) => {
    // A whole request arrived: the connection is an HTTP client now (keep-alive and request timeouts apply), and
    // it stays counted among the unauthenticated ones until it closes.
    const entry = c.pendingSockets.get(socketKey(req.socket))
    if (entry) entry.http = true
    if (hasTokenQuery(req.url)) {
      return json(res, 400, {
        ok: false,
        error: "credentials are never accepted in a URL query string: send them in the connect frame (links carry #token= in the fragment)"
      })
    }
    const pathname = (req.url ?? "/").split("?")[0]
    const route = Option.isSome(routes) && pathname !== undefined ? routes.value.find(req.method, pathname) : undefined
    if (route) return route(req, res)
    if (req.method !== "GET" && req.method !== "HEAD") return json(res, 405, { ok: false, error: "method not allowed" })
    switch (pathname) {
      case "/health":
      case "/healthz":
        return json(res, 200, { ok: true, status: "live" })
      case "/startup":
      case "/startupz": {
        // Answers once: started stays started, through shutdown.
        const snap = runSync(readiness.snapshot)
        return snap.started
          ? json(res, 200, {
              ok: true,
              status: "started",
              startedAt: new Date(snap.startedAt ?? 0).toISOString(),
              ms: snap.startupMs ?? 0
            })
          : json(res, 503, { ok: false, status: "starting", pending: snap.pending })
      }
      case "/ready":
      case "/readyz": {
        if (c.status.shuttingDown) return json(res, 503, { ok: false, status: "shutting-down" })
        const snap = runSync(readiness.snapshot)
        return snap.ready
          ? json(res, 200, { ok: true, status: "ready", checks: snap.checks })
          : json(res, 503, { ok: false, status: "not-ready", checks: snap.checks })
      }
      default: {
        // Routes that cover a whole path prefix (the Control UI under gateway.controlUi.basePath) come after the probes.
        const under = Option.isSome(routes) && pathname !== undefined ? routes.value.findPrefix(pathname) : undefined
        if (under) return under(req, res)
        return json(res, 404, { ok: false, error: "not found" })
      }
    }
  }

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const reject = (status: number, text: string) => {
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`
      )
    }
    if (c.status.shuttingDown) return reject(503, "gateway shutting down")
    if (hasTokenQuery(req.url)) return reject(400, "credentials are never accepted in a URL query string")
    const cfgNow = runSync(config.snapshot)
    // A browser's upgrade (any Origin, "null" included) is checked before the 101.
    const refused = checkOrigin(req.headers.origin, req.headers.host, { allowedOrigins: cfgNow.gateway?.controlUi?.allowedOrigins })
    if (refused) {
      runFork(Effect.logWarning(`upgrade refused (403): ${printable(refused, 300)}`))
      return reject(403, refused)
    }
    const remote = req.socket.remoteAddress
    const allowTailscale = cfgNow.gateway?.auth?.allowTailscale === true
    const address = resolveClientAddress(remote, req.headers, {
      trustedProxies: cfgNow.gateway?.trustedProxies,
      allowRealIpFallback: cfgNow.gateway?.allowRealIpFallback,
      tailscaleProxy: allowTailscale || (cfgNow.gateway?.tailscale?.mode ?? "off") !== "off"
    })
    if (address.untrustedForwarding) {
      runFork(
        Effect.zipRight(
          state.noteUntrustedProxyHeaders(address.ip),
          Effect.logWarning(`forwarding headers from ${address.ip}, which is not in gateway.trustedProxies: ignored; treated as remote`)
        )
      )
    }
    const facts: PeerFacts = {
      ip: address.ip,
      isLoopback: address.isLoopback,
      forwarded: address.forwarded,
      hasOrigin: req.headers.origin !== undefined,
      local: address.isLoopback && !address.forwarded && req.headers.origin === undefined,
      tailscale: allowTailscale ? tailscaleClaim(remote, req.headers) : undefined
    }
    const tcpKey = socketKey(req.socket)
    // A keep-alive connection that served HTTP requests before it upgraded starts its handshake deadline now.
    const pending = c.pendingSockets.get(tcpKey)
    if (pending === undefined) return socket.destroy()
    if (pending.http) {
      pending.http = false
      pending.acceptedAt = now()
    }
    // The 101 and the challenge leave in one write: the socket is corked around the upgrade.
    socket.cork()
    try {
      wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, facts, pending, tcpKey))
    } finally {
      socket.uncork()
    }
  }

  let refusedSince = 0
  let refusedCount = 0
  /** Peers that forward for others (trusted proxies, Tailscale's proxy on loopback): their clients are counted after the upgrade. */
  const forwardsForOthers = (peer: string) => {
    const g = runSync(config.snapshot).gateway
    const tailscaleProxy = g?.auth?.allowTailscale === true || (g?.tailscale?.mode ?? "off") !== "off"
    return (tailscaleProxy && isLoopbackAddress(peer)) || trustedProxyList(g?.trustedProxies).matches(peer)
  }
  /**
   * One peer address may hold twice the per-address budget of unauthenticated TCP connections (the
   * upgrade-level budget, 1013 with a reason, comes first for WebSockets); all together hold at most
   * unauthenticatedTotal, with some room kept for loopback so a flood from elsewhere never locks out the host.
   */
  const onTcp = (socket: Duplex & { remoteAddress?: string; remotePort?: number }) => {
    const address = normalizeIp(socket.remoteAddress)
    const local = isLoopbackAddress(address)
    const overTotal = c.pendingSockets.size >= limits.unauthenticatedTotal + (local ? LOOPBACK_RESERVE : 0)
    const overAddress = c.tcpByAddress.get(address) >= limits.unauthenticatedPerAddress * 2 && !forwardsForOthers(address)
    if (overTotal || overAddress) {
      socket.destroy()
      refusedCount++
      if (now() - refusedSince >= 10_000) {
        refusedSince = now()
        runFork(
          Effect.logWarning(
            overTotal
              ? `refusing new connections: ${c.pendingSockets.size} unauthenticated connections are open (gateway.limits.unauthenticatedTotal); ${refusedCount} refused so far`
              : `refusing new connections from ${address}: it holds ${c.tcpByAddress.get(address)} unauthenticated connections (twice gateway.limits.unauthenticatedPerAddress); ${refusedCount} refused so far`
          )
        )
      }
      return
    }
    const key = socketKey(socket)
    c.addPending(key, { socket, address, acceptedAt: now(), conn: undefined, http: false })
    c.tcpByAddress.add(address)
    socket.once("close", () => {
      const entry = c.pendingSockets.get(key)
      if (entry?.socket === socket) c.removePending(key)
    })
  }

  return { wss, onHttp, onUpgrade, onTcp }
}

export type Upgrade = ReturnType<typeof makeUpgrade>
