/**
 * The transport's table of connections and what every part of it does to one:
 * the record kept per WebSocket (`Conn`) and per TCP connection not yet
 * connected (`PendingSocket`), the counters of the pre-auth budgets, and the
 * writes and closes (bounded by the 50 MiB buffered-bytes rule).
 *
 * A `Conn` is a plain mutable record, not a fiber: the frame loop runs in
 * socket callbacks, and a crowd of 10,000 idle connections must cost little
 * more than `ws` itself does. A connected one has a `Scope` (made at hello-ok,
 * a child of the server's connections scope) holding what it registered; the
 * socket's close, or the server's shutdown, closes it.
 */
import type { Duplex } from "node:stream"
import { Effect, type Fiber, type Scope } from "effect"
import type { WebSocket } from "ws"
import type { TailscaleClaim } from "../../config/clientAddress.js"
import { closeReason, printable } from "../../protocol/codec.js"
import { GatewayError } from "../../protocol/errors.js"
import { CloseCode, MAX_BUFFERED_BYTES, type ClientInfo, type Role } from "../../protocol/frames.js"
import type { Credential } from "../../services/Admission.js"
import { PREPARED_JSON, type CallContext } from "../../services/Dispatcher.js"
import { type DeniedCalls, KeyedCounter } from "./budgets.js"

/** Runs an effect on the layer's runtime (the transport's callbacks are outside any fiber). */
export type RunFork = <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>

export type Phase = "handshake" | "authenticating" | "ready" | "closed"

export interface Conn {
  readonly connId: string
  readonly ws: WebSocket
  readonly ip: string
  readonly isLoopback: boolean
  readonly forwarded: boolean
  readonly hasOrigin: boolean
  phase: Phase
  role: Role
  scopes: ReadonlyArray<string>
  client: ClientInfo | undefined
  seq: number
  /** Fiber-run requests in flight (answered, or interrupted, before shutdown closes the socket). */
  readonly inflight: Set<Fiber.RuntimeFiber<unknown, unknown>>
  /** Every request in flight, the fiberless ones (node.invoke) included. */
  inflightCount: number
  ctx: CallContext | undefined
  /** The connect.challenge nonce a device must sign. */
  readonly nonce: string
  /** Direct loopback with no proxy headers and no browser Origin: eligible for local auto-approval. */
  readonly local: boolean
  /** The upgrade's Tailscale identity header, to be checked with `tailscale whois` (with gateway.auth.allowTailscale). */
  readonly tailscale: TailscaleClaim | undefined
  deviceId: string | undefined
  /** The fiber registering this connection after hello; closing waits for it before unregistering. */
  registration: Fiber.RuntimeFiber<void, never> | undefined
  /** From hello-ok: what the connection registered (hub, node registry, presence, counts), released when it closes. */
  scope: Scope.CloseableScope | undefined
  /** The TCP connection's entry among the unauthenticated ones, until hello-ok. */
  tcpKey: string | undefined
  /** The client address this connection is counted against while unauthenticated. */
  addressKey: string | undefined
  credential: Credential | undefined
  missedPongs: number
  denied: DeniedCalls | undefined
  /** When a close for a budget was sent (Clock ms); the socket is cut if the peer does not complete it. */
  closingSince: number | undefined
}

/** A TCP connection that has not become an HTTP request or a connected WebSocket yet. */
export interface PendingSocket {
  readonly socket: Duplex
  /** The socket's own peer address (a proxy's, behind one). */
  readonly address: string
  acceptedAt: number
  conn: Conn | undefined
  /** Serving HTTP requests (keep-alive): Node's request and keep-alive timeouts apply, not the handshake deadline. */
  http: boolean
}

export const errorFrame = (id: string, error: GatewayError) => ({ type: "res", id, ok: false, error: error.toShape() })

export const socketKey = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }) =>
  `${s.remoteAddress}|${s.remotePort}`

export interface ConnectionsDeps {
  readonly runFork: RunFork
  /** The layer's Clock, in ms (the TestClock in tests). */
  readonly now: () => number
}

/** The connection table; one per server. */
export const makeConnections = ({ runFork, now }: ConnectionsDeps) => {
  /** Every upgraded connection, by id. */
  const conns = new Map<string, Conn>()
  /** TCP connections that are not an HTTP request or a connected WebSocket yet, by remote address and port. */
  const pendingSockets = new Map<string, PendingSocket>()
  /**
   * Opened when a socket or a connection is added (addPending, addConn): the timers' sweeps of these
   * tables wait on them while the tables are empty, so an idle Gateway does not wake for them.
   */
  const added = { pending: Effect.unsafeMakeLatch(false), conns: Effect.unsafeMakeLatch(false) }
  const addPending = (key: string, entry: PendingSocket): void => {
    pendingSockets.set(key, entry)
    added.pending.unsafeOpen()
  }
  const addConn = (conn: Conn): void => {
    conns.set(conn.connId, conn)
    added.conns.unsafeOpen()
  }
  /** Unauthenticated WebSocket connections per client address. */
  const unauthenticatedByAddress = new KeyedCounter()
  /** Unauthenticated TCP connections per peer address (before any header could name a forwarded client). */
  const tcpByAddress = new KeyedCounter()
  /** The server-wide flags and counts every part reads. */
  const status = {
    shuttingDown: false,
    /** Requests of every connection waiting for their answer. */
    inflightTotal: 0
  }

  /** Open and keeping up; a connection with more than 50 MiB waiting is closed as a slow consumer. */
  const writable = (conn: Conn): boolean => {
    if (conn.ws.readyState !== conn.ws.OPEN) return false
    if (conn.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      conn.ws.close(CloseCode.policy, "slow consumer: too many bytes buffered")
      return false
    }
    return true
  }

  const send = (conn: Conn, frame: unknown): void => {
    if (writable(conn)) conn.ws.send(JSON.stringify(frame))
  }

  /**
   * The JSON of an answer. Frozen objects (a cached snapshot such as health)
   * are the same object until they are replaced, so their JSON is kept.
   */
  const payloadJson = new WeakMap<object, string>()
  const jsonOf = (payload: unknown): string | undefined => {
    if (typeof payload !== "object" || payload === null) return payload === undefined ? undefined : JSON.stringify(payload)
    const prepared = (payload as { [PREPARED_JSON]?: unknown })[PREPARED_JSON]
    if (typeof prepared === "string") return prepared
    let json = payloadJson.get(payload)
    if (json === undefined) {
      json = JSON.stringify(payload)
      if (Object.isFrozen(payload)) payloadJson.set(payload, json)
    }
    return json
  }

  const sendResult = (conn: Conn, id: string, payload: unknown): void => {
    if (!writable(conn)) return
    let json: string | undefined
    try {
      json = jsonOf(payload)
    } catch (e) {
      runFork(Effect.logError(`an answer on ${conn.connId} could not be serialised: ${printable(String(e), 300)}`))
      return send(conn, errorFrame(id, GatewayError.unavailable("internal error: the answer could not be serialised")))
    }
    conn.ws.send(`{"type":"res","id":${JSON.stringify(id)},"ok":true${json === undefined ? "" : `,"payload":${json}`}}`)
  }

  /** An event for one connection (a node's invoke request, a device's own notices). */
  const sendEvent = (conn: Conn, event: string, payload: unknown) => {
    conn.seq += 1
    send(conn, { type: "event", event, payload, seq: conn.seq })
  }

  const closeConn = (conn: Conn, code: number, reason: string) => {
    conn.phase = "closed"
    conn.closingSince ??= now()
    if (conn.ws.readyState === conn.ws.OPEN || conn.ws.readyState === conn.ws.CONNECTING) conn.ws.close(code, closeReason(reason))
  }

  const failHandshake = (conn: Conn, id: string, error: GatewayError, code: number) => {
    send(conn, errorFrame(id, error))
    closeConn(conn, code, error.message)
  }

  /** A frame that could not be handled (a bug, never a peer's input by design) costs its connection, not the Gateway. */
  const failed = (conn: Conn, what: string, e: unknown) => {
    runFork(
      Effect.logError(`${what} on ${conn.connId} failed: ${printable(e instanceof Error ? (e.stack ?? e.message) : String(e), 2000)}`)
    )
    try {
      closeConn(conn, CloseCode.internalError, "internal error")
    } catch {
      conn.ws.terminate()
    }
  }

  const removePending = (key: string | undefined) => {
    if (key === undefined) return
    const entry = pendingSockets.get(key)
    if (entry === undefined) return
    pendingSockets.delete(key)
    tcpByAddress.remove(entry.address)
  }

  /** The connection is no longer unauthenticated: it leaves every pre-auth budget. */
  const leavePreAuth = (conn: Conn) => {
    removePending(conn.tcpKey)
    conn.tcpKey = undefined
    if (conn.addressKey !== undefined) {
      unauthenticatedByAddress.remove(conn.addressKey)
      conn.addressKey = undefined
    }
  }

  return {
    conns,
    pendingSockets,
    added,
    addPending,
    addConn,
    unauthenticatedByAddress,
    tcpByAddress,
    status,
    writable,
    send,
    jsonOf,
    sendResult,
    sendEvent,
    closeConn,
    failHandshake,
    failed,
    removePending,
    leavePreAuth
  }
}

export type Connections = ReturnType<typeof makeConnections>
