/**
 * The WebSocket + HTTP transport on Node's `http` server and `ws`.
 *
 * Frames are handled with plain callbacks on the socket; each request runs as
 * an Effect fiber on the layer's runtime, tracked per connection so shutdown
 * can answer what is in flight before it closes the socket.
 *
 * Every peer is held to the budgets of `transport/budgets.ts` from the moment
 * its TCP connection is accepted: a deadline for the upgrade and the connect
 * handshake together, a cap on unauthenticated connections per address and in
 * all, a depth bound on every frame before it is parsed, a bound on requests
 * in flight and on refused calls per connection, and pings that drop a peer
 * that stopped answering. Timers run on the layer's Clock (the TestClock in
 * tests).
 */
import * as http from "node:http"
import * as https from "node:https"
import type { Duplex } from "node:stream"
import { createHash, randomBytes, randomUUID } from "node:crypto"
import { Cause, Duration, Effect, Exit, Fiber, Layer, Option, Queue, Runtime, Schedule } from "effect"
import { WebSocketServer, type WebSocket, type RawData } from "ws"
import { isLoopbackAddress, normalizeIp, planBind, resolvePort, SettingError } from "../config/bind.js"
import { checkOrigin, resolveClientAddress, tailscaleClaim, trustedProxyList, type TailscaleClaim } from "../config/clientAddress.js"
import type { BindMode } from "../config/schema.js"
import { closeReason, decodeText, printable } from "../protocol/codec.js"
import { GatewayError } from "../protocol/errors.js"
import { issuesText } from "../protocol/issues.js"
import {
  ALL_SCOPES,
  CloseCode,
  DEFAULT_TICK_INTERVAL_MS,
  MAX_BUFFERED_BYTES,
  MAX_PAYLOAD,
  MAX_PREAUTH_PAYLOAD,
  MIN_LEGACY_PROTOCOL,
  PROTOCOL_VERSION,
  decodeConnectParams,
  asRequestFrame,
  type ClientInfo,
  type ConnectParams,
  type Role
} from "../protocol/frames.js"
import { verifyDeviceProof } from "../protocol/device.js"
import { scopeSatisfies } from "../protocol/methods.js"
import { Auth, type AuthAttempt, type AuthMethod } from "../services/Auth.js"
import { ConnectionHub } from "../services/ConnectionHub.js"
import { Devices } from "../services/Devices.js"
import { NodeRegistry } from "../services/NodeRegistry.js"
import { Config } from "../services/Config.js"
import { Dispatcher, PREPARED_JSON, type CallContext } from "../services/Dispatcher.js"
import { EventBus, type GatewayEvent } from "../services/EventBus.js"
import { GatewayRunFlags, GatewayServer, GatewayStartError } from "../services/GatewayServer.js"
import { GatewayState, type Listener } from "../services/GatewayState.js"
import { Health } from "../services/Health.js"
import { Presence } from "../services/Presence.js"
import { Tailscale } from "../services/Tailscale.js"
import { HttpRoutes } from "../services/HttpRoutes.js"
import { SESSION_DEFAULTS } from "../services/Sessions.js"
import { StatePermissions } from "./StatePermissions.js"
import { DeniedCalls, KeyedCounter, resolveLimits } from "./transport/budgets.js"
import { encodeEvent, sendEncoded, sendParts } from "./transport/outbound.js"

/** Request ids longer than this are refused (OpenClaw's are about 40 characters). */
const MAX_REQUEST_ID = 256
/** How long shutdown waits for in-flight requests before closing sockets. */
const DRAIN_TIMEOUT_MS = 5_000
/** Coalesced events (presence, health) go out at most this often... */
const COALESCE_MIN_MS = 250
/** ...and no faster than this many bytes per second over all recipients together. */
const COALESCE_BYTES_PER_SECOND = 16 * 1024 * 1024
/** A broadcast to more connections than this shares its bytes among them even when they are few. */
const SHARED_FANOUT_ABOVE = 16
/** A broadcast yields to the event loop after every this many bytes, so a big fan-out never stalls other clients. */
const BROADCAST_SLICE_BYTES = 4 * 1024 * 1024
/** How often the shared token and password are compared with the ones sessions logged in with. */
const CREDENTIAL_CHECK_MS = 500
/** Unauthenticated connections from loopback may go this far beyond unauthenticatedTotal: the host is never locked out. */
const LOOPBACK_RESERVE = 64
/** A connection closed for a budget that does not finish its close handshake is cut after this long. */
const CLOSE_GRACE_MS = 1_000

type Phase = "handshake" | "authenticating" | "ready" | "closed"

/** What a session logged in with, so that rotating that credential can end the session. */
type Credential = { readonly kind: "token" | "password"; readonly hash: string } | { readonly kind: "tailscale" | "none" }

interface Conn {
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
interface PendingSocket {
  readonly socket: Duplex
  /** The socket's own peer address (a proxy's, behind one). */
  readonly address: string
  acceptedAt: number
  conn: Conn | undefined
  /** Serving HTTP requests (keep-alive): Node's request and keep-alive timeouts apply, not the handshake deadline. */
  http: boolean
}

/** What a successful connect grants. */
interface Admitted {
  readonly method: AuthMethod | "device-token"
  /** With method "tailscale": the confirmed Tailscale login. */
  readonly user?: string | undefined
  readonly scopes: ReadonlyArray<string>
  readonly deviceId?: string | undefined
  readonly deviceToken?: string | undefined
  /** The device's epoch when its checks began (see Devices.epochOf). */
  readonly deviceEpoch?: number | undefined
  readonly credential?: Credential | undefined
}

const errorFrame = (id: string, error: GatewayError) => ({ type: "res", id, ok: false, error: error.toShape() })

/** The interim answer of a connection's context: the real one is made per request. */
const noInterim = () => Effect.void

const hasTokenQuery = (url: string | undefined): boolean => {
  if (!url) return false
  const q = url.indexOf("?")
  if (q === -1) return false
  const params = new URLSearchParams(url.slice(q + 1))
  return params.has("token") || params.has("password")
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

const closeServer = (server: http.Server) =>
  Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
    server.closeAllConnections()
  })

/** Lets the event loop serve I/O (other clients' frames) before going on. */
const yieldToIo = Effect.async<void>((resume) => {
  const t = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(t))
})

const hostForUrl = (host: string) => (host.includes(":") ? `[${host}]` : host)
const socketKey = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }) => `${s.remoteAddress}|${s.remotePort}`
const secretHash = (secret: string) => createHash("sha256").update(secret, "utf8").digest("hex")

export const makeGatewayServer = Effect.gen(function* () {
  const flags = yield* GatewayRunFlags
  const config = yield* Config
  const auth = yield* Auth
  const dispatcher = yield* Dispatcher
  const presence = yield* Presence
  const health = yield* Health
  const state = yield* GatewayState
  const bus = yield* EventBus
  const hub = yield* ConnectionHub
  const devices = yield* Devices
  const nodes = yield* NodeRegistry
  const tailscale = yield* Tailscale
  // Routes other services add to this port (Telegram's webhook); optional.
  const routes = yield* Effect.serviceOption(HttpRoutes)
  // What start-up did to the state dir's permissions, said once the log is up.
  const permissions = yield* Effect.serviceOption(StatePermissions)
  if (Option.isSome(permissions)) for (const note of permissions.value.notes) yield* Effect.logWarning(note)
  const runtime = yield* Effect.runtime<never>()
  const runFork = Runtime.runFork(runtime)
  const runSync = Runtime.runSync(runtime)
  // The clock of the layer's runtime: the TestClock in tests.
  const clock = yield* Effect.clock
  const now = () => clock.unsafeCurrentTimeMillis()

  const cfg = yield* config.current.pipe(Effect.mapError((e) => new GatewayStartError({ message: e.message })))
  const settle = <A>(f: () => A) =>
    Effect.try({
      try: f,
      catch: (e) => new GatewayStartError({ message: e instanceof SettingError ? e.message : String(e) })
    })
  const portChoice = yield* settle(() => resolvePort(flags.port, config.env, cfg))
  const bindMode: BindMode = flags.bind ?? cfg.gateway?.bind ?? "loopback"
  const plan = yield* settle(() => planBind(bindMode, cfg))
  const tls = cfg.gateway?.tls?.enabled
    ? yield* Effect.tryPromise({
        try: () => import("./TlsIdentity.js").then((m) => m.loadTls(cfg, config.paths.stateDir)),
        catch: (e) => new GatewayStartError({ message: `TLS: ${(e as Error).message}` })
      })
    : undefined
  const limits = resolveLimits(cfg)
  const tickIntervalMs = cfg.gateway?.tickIntervalMs ?? DEFAULT_TICK_INTERVAL_MS

  // Credentials: a non-loopback bind must have one; a first loopback start gets a generated token.
  let resolvedAuth = yield* auth.resolved.pipe(Effect.mapError((e) => new GatewayStartError({ message: e.message })))
  const hasCredential =
    (resolvedAuth.mode === "token" && resolvedAuth.token !== undefined) ||
    (resolvedAuth.mode === "password" && resolvedAuth.password !== undefined)
  let generatedToken: string | undefined
  if (!plan.loopbackOnly && !hasCredential) {
    return yield* new GatewayStartError({
      message:
        `refusing to bind ${plan.hosts.join(", ")} (gateway.bind "${bindMode}") without authentication: ` +
        `set gateway.auth.token (or gateway.auth.password with gateway.auth.mode "password"), ` +
        `CLAWGATE_GATEWAY_TOKEN, or pass --token-file; or keep the default loopback bind`
    })
  }
  if (resolvedAuth.mode === "password" && resolvedAuth.password === undefined) {
    return yield* new GatewayStartError({
      message:
        'gateway.auth.mode is "password" but no password is set: set gateway.auth.password or CLAWGATE_GATEWAY_PASSWORD, or pass --password-file'
    })
  }
  // Tailscale Serve and Funnel proxy to the loopback port; Funnel is public, so it needs a password.
  const tailscaleMode = cfg.gateway?.tailscale?.mode ?? "off"
  if (tailscaleMode !== "off" && !plan.loopbackOnly) {
    return yield* new GatewayStartError({
      message:
        `gateway.tailscale.mode "${tailscaleMode}" needs a loopback bind, but ${flags.bind !== undefined ? "--bind" : "gateway.bind"} is "${bindMode}" ` +
        `(${plan.hosts.join(", ")}): set gateway.bind to "loopback" and let Tailscale be the way in, or set gateway.tailscale.mode "off"`
    })
  }
  if (tailscaleMode === "funnel" && resolvedAuth.mode !== "password") {
    return yield* new GatewayStartError({
      message:
        `gateway.tailscale.mode "funnel" puts the Gateway on the public internet and needs password auth, but gateway.auth.mode is "${resolvedAuth.mode}": ` +
        `set gateway.auth.mode "password" and gateway.auth.password (or CLAWGATE_GATEWAY_PASSWORD), or use gateway.tailscale.mode "serve"`
    })
  }
  if (tailscaleMode === "funnel" && cfg.gateway?.auth?.allowTailscale === true) {
    yield* Effect.logWarning(
      'gateway.auth.allowTailscale does not apply with gateway.tailscale.mode "funnel": every client needs the password'
    )
  }

  /** Every upgraded connection, by id. */
  const conns = new Map<string, Conn>()
  /** TCP connections that are not an HTTP request or a connected WebSocket yet, by remote address and port. */
  const pendingSockets = new Map<string, PendingSocket>()
  /** Unauthenticated WebSocket connections per client address. */
  const unauthenticatedByAddress = new KeyedCounter()
  let shuttingDown = false

  yield* state.countPendingWith(() => pendingSockets.size)
  /** Requests of every connection waiting for their answer. */
  let inflightTotal = 0
  yield* state.countInflightWith(() => inflightTotal)

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

  const versions = Effect.all({ presence: presence.version, health: health.version })

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

  /**
   * Whose entry a connection's presence is: a device's instance (so a reconnect replaces its own entry, as
   * OpenClaw's keys by instanceId do), else the connection itself. A client cannot name another's key, nor
   * the Gateway's own.
   */
  const presenceKey = (conn: Conn) =>
    conn.deviceId !== undefined ? `device:${conn.deviceId}:${conn.client?.instanceId ?? conn.connId}` : `conn:${conn.connId}`

  /** Whether `conn` may receive `ev`: its target, role and scope. */
  const accepts = (conn: Conn, ev: GatewayEvent): boolean => {
    if (conn.phase !== "ready") return false
    const role = ev.role ?? "operator"
    if (role !== "all" && role !== conn.role) return false
    return ev.scope === undefined || (conn.role === "operator" && scopeSatisfies(conn.scopes, ev.scope))
  }

  /** Sends `ev` to every connection that may see it, serialised once; returns the bytes written. */
  const broadcast = (ev: GatewayEvent) =>
    Effect.gen(function* () {
      if (ev.connId !== undefined) {
        const conn = conns.get(ev.connId)
        if (conn && accepts(conn, ev)) sendEvent(conn, ev.event, ev.payload)
        return 0
      }
      const encoded = encodeEvent(ev.event, ev.payload, yield* versions)
      const crowd = conns.size > SHARED_FANOUT_ABOVE
      let bytes = 0
      let slice = 0
      for (const conn of [...conns.values()]) {
        if (!accepts(conn, ev) || !writable(conn)) continue
        conn.seq += 1
        const n = sendEncoded(conn.ws, encoded, conn.seq, crowd)
        bytes += n
        slice += n
        if (slice >= BROADCAST_SLICE_BYTES) {
          slice = 0
          yield* yieldToIo
        }
      }
      return bytes
    })

  /** One event that cannot be sent is logged and dropped: the fan-out goes on for every later one. */
  const safeBroadcast = (ev: GatewayEvent) =>
    broadcast(ev).pipe(
      Effect.catchAllCause((cause) => Effect.as(Effect.logError(`event ${printable(ev.event, 64)} could not be sent`, cause), 0))
    )

  /** Unauthenticated TCP connections per peer address (before any header could name a forwarded client). */
  const tcpByAddress = new KeyedCounter()
  const removePending = (key: string | undefined) => {
    const entry = key === undefined ? undefined : pendingSockets.get(key)
    if (entry === undefined) return
    pendingSockets.delete(key!)
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

  const completeHandshake = (conn: Conn, id: string, params: ConnectParams, protocol: number, admitted: Admitted) => {
    const role: Role = params.role ?? "operator"
    const scopes = admitted.scopes
    conn.deviceId = admitted.deviceId
    conn.role = role
    conn.scopes = scopes
    conn.client = params.client
    conn.credential = admitted.credential
    conn.phase = "ready"
    leavePreAuth(conn)
    // After the handshake the frame limit rises from 64 KiB to 25 MiB.
    const receiver = (conn.ws as unknown as { _receiver?: { _maxPayload: number } })._receiver
    if (receiver) receiver._maxPayload = MAX_PAYLOAD
    conn.ctx = {
      connId: conn.connId,
      role,
      scopes,
      client: params.client,
      clientIp: conn.ip,
      deviceId: admitted.deviceId,
      interim: noInterim
    }
    // Who else is connected is for operators who may read; a scopeless client (a probe) sees nobody.
    const seesPresence = role === "operator" && scopeSatisfies(scopes, "operator.read")
    const program = Effect.gen(function* () {
      yield* state.countConnection(role === "node" ? "nodes" : "operators", 1)
      yield* hub.register(handleOf(conn, params.client.id))
      // Removed, rotated or revoked while this connect was being checked: closed now that it can be found.
      if (admitted.deviceId !== undefined && devices.epochOf(admitted.deviceId) !== admitted.deviceEpoch) {
        yield* Effect.logInfo(`closing ${conn.connId}: device ${admitted.deviceId.slice(0, 12)} changed while it connected`)
        return closeConn(conn, CloseCode.deviceRemoved, "the device was removed, or its token rotated or revoked, while it connected")
      }
      if (role === "node" && admitted.deviceId) {
        yield* nodes.register({
          nodeId: admitted.deviceId,
          connId: conn.connId,
          displayName: params.client.displayName,
          platform: params.client.platform,
          version: params.client.version,
          deviceFamily: params.client.deviceFamily,
          clientId: params.client.id,
          caps: params.caps ?? [],
          commands: params.commands ?? [],
          connectedAtMs: Date.now(),
          remoteIp: conn.ip
        })
      }
      yield* presence.upsert({
        key: presenceKey(conn),
        host: params.client.displayName,
        ip: conn.ip,
        version: params.client.version,
        platform: params.client.platform,
        deviceFamily: params.client.deviceFamily,
        mode: params.client.mode,
        roles: [role],
        scopes,
        instanceId: params.client.instanceId,
        connId: conn.connId,
        deviceId: admitted.deviceId,
        clientId: params.client.id,
        reason: "connect",
        text: `${params.client.displayName ?? params.client.id} (${params.client.mode})`,
        ts: Date.now()
      })
      yield* health.connectionsChanged
      // hello-ok is assembled from pieces whose bytes are kept (the presence snapshot, the health snapshot):
      // a connect storm costs each connection its own few fields, not a fresh copy of everyone else. The
      // presence list, the big piece, is sent as a fragment of the message, shared by every newcomer.
      const shared = seesPresence ? yield* presence.snapshot : undefined
      const authPart = {
        method: admitted.method,
        role,
        scopes,
        ...(admitted.deviceToken ? { deviceToken: admitted.deviceToken, issuedAtMs: Date.now() } : {})
      }
      const head =
        `{"type":"res","id":${JSON.stringify(id)},"ok":true,"payload":{"type":"hello-ok","protocol":${protocol},` +
        `"server":${JSON.stringify({ version: state.version, connId: conn.connId })},"features":${featuresJson},"snapshot":{"presence":`
      const tail =
        `,"health":${jsonOf(yield* health.snapshot)},` +
        `"stateVersion":{"presence":${shared?.version ?? (yield* presence.version)},"health":${yield* health.version}},` +
        `"uptimeMs":${yield* state.uptimeMs},"sessionDefaults":${sessionDefaultsJson}},"auth":${JSON.stringify(authPart)},"policy":${policyJson}}}`
      if (writable(conn)) sendParts(conn.ws, shared === undefined ? [`${head}[]${tail}`] : [head, shared.bytes, tail])
      yield* Effect.logInfo(
        `connected ${conn.connId} ${role} ${printable(params.client.id, 64)}/${printable(params.client.mode, 32)} from ${conn.ip}` +
          `${admitted.user ? ` as ${printable(admitted.user, 128)} (${admitted.method})` : ""} scopes=${scopes.join(",") || "-"}`
      )
    })
    const registration = runFork(program)
    conn.registration = registration
    // Once done it is forgotten: a finished fiber is kilobytes, and a connection may live for days.
    registration.addObserver(() => {
      if (conn.registration === registration) conn.registration = undefined
    })
  }

  /*
   * What lives as long as a connection is built in scopes of its own (handleOf, attach), holding the
   * connection and nothing else: a closure made inside the handshake would keep the whole handshake
   * (its params, its fibers) alive for the life of the connection, kilobytes each in a crowd.
   */
  const handleOf = (conn: Conn, clientId: string) => ({
    connId: conn.connId,
    role: conn.role,
    deviceId: conn.deviceId,
    clientId,
    sendEvent: (event: string, payload: unknown) => sendEvent(conn, event, payload),
    close: (code: number, reason: string) => closeConn(conn, code, reason)
  })

  const attach = (conn: Conn) => {
    conn.ws.on("message", (data, isBinary) => {
      try {
        onMessage(conn, data, isBinary)
      } catch (e) {
        failed(conn, "a frame", e)
      }
    })
    conn.ws.on("pong", () => void (conn.missedPongs = 0))
    conn.ws.on("close", () => onClose(conn))
    conn.ws.on("error", () => {
      // ws closes the socket itself (1009 for an oversized frame, 1002 for a bad one).
    })
  }

  const featuresJson = JSON.stringify({ methods: dispatcher.methods, events: dispatcher.events })
  const sessionDefaultsJson = JSON.stringify(SESSION_DEFAULTS)
  const policyJson = JSON.stringify({ maxPayload: MAX_PAYLOAD, maxBufferedBytes: MAX_BUFFERED_BYTES, tickIntervalMs })

  const onConnect = (conn: Conn, id: string, rawParams: unknown) => {
    const decoded = decodeConnectParams(rawParams)
    if (decoded._tag === "Left") {
      return failHandshake(
        conn,
        id,
        GatewayError.invalidRequest(`invalid connect params: ${issuesText(decoded.left)}`, { issues: decoded.left }),
        CloseCode.policy
      )
    }
    const params = decoded.right
    const role: Role = params.role ?? "operator"
    let protocol: number
    if (params.minProtocol <= PROTOCOL_VERSION && params.maxProtocol >= PROTOCOL_VERSION) protocol = PROTOCOL_VERSION
    else if (
      (params.client.mode === "probe" || role === "node") &&
      params.minProtocol <= MIN_LEGACY_PROTOCOL &&
      params.maxProtocol >= MIN_LEGACY_PROTOCOL
    ) {
      protocol = MIN_LEGACY_PROTOCOL
    } else {
      return failHandshake(
        conn,
        id,
        GatewayError.invalidRequest("protocol mismatch", {
          code: "PROTOCOL_MISMATCH",
          expectedProtocol: PROTOCOL_VERSION,
          minProtocol: params.minProtocol,
          maxProtocol: params.maxProtocol
        }),
        CloseCode.protocol
      )
    }
    conn.phase = "authenticating"
    const fiber = runFork(admit(conn, params, role))
    fiber.addObserver((exit) => {
      if (conn.ws.readyState !== conn.ws.OPEN || conn.phase === "closed") return
      if (Exit.isSuccess(exit)) {
        conn.phase = "handshake"
        return completeHandshake(conn, id, params, protocol, exit.value)
      }
      const err = Cause.failureOption(exit.cause)
      const error = Option.isSome(err) ? err.value : GatewayError.unavailable("authentication failed unexpectedly")
      if (Option.isNone(err)) runFork(Effect.logError("connect failed unexpectedly", exit.cause))
      runFork(
        Effect.logWarning(
          `connect refused for ${conn.ip} (${printable(params.client.id, 64)}/${role}): ${printable(error.detailCode ?? error.code, 64)}`
        )
      )
      failHandshake(conn, id, error, CloseCode.policy)
    })
  }

  /**
   * Who may connect, as what: the device proof (if any) first, then the
   * credential (a device token, or the shared token/password), then pairing
   * for devices. Scopes are what was asked for, cut down to what the
   * credential or the pairing allows.
   */
  const admit = (conn: Conn, params: ConnectParams, role: Role): Effect.Effect<Admitted, GatewayError> =>
    Effect.gen(function* () {
      const requested = params.scopes ?? (role === "operator" ? ["operator.read"] : [])
      const operatorScopes = role === "operator" ? requested.filter((s) => (ALL_SCOPES as ReadonlyArray<string>).includes(s)) : []
      const attempt: AuthAttempt = {
        auth: params.auth,
        clientIp: conn.ip,
        isLoopback: conn.isLoopback,
        forwarded: conn.forwarded,
        hasOrigin: conn.hasOrigin,
        tailscale: conn.tailscale
      }
      let deviceId: string | undefined
      let publicKey: string | undefined
      let deviceEpoch = 0
      if (params.device) {
        const verified = verifyDeviceProof(params.device, {
          clientId: params.client.id,
          clientMode: params.client.mode,
          role,
          scopes: params.scopes ?? [],
          token: params.auth?.token ?? params.auth?.deviceToken ?? "",
          platform: params.client.platform,
          deviceFamily: params.client.deviceFamily,
          nonce: conn.nonce,
          now: Date.now()
        })
        if (!verified.ok) {
          return yield* GatewayError.invalidRequest(verified.failure.message, {
            code: verified.failure.code,
            reason: verified.failure.reason
          })
        }
        deviceId = verified.deviceId
        publicKey = verified.publicKey.toString("base64url")
        deviceEpoch = devices.epochOf(deviceId)
      } else if (role === "node") {
        return yield* GatewayError.of("NOT_PAIRED", "device identity required", {
          details: { code: "DEVICE_IDENTITY_REQUIRED" }
        })
      }
      const sharedPresented = Boolean(params.auth?.token || params.auth?.password)
      if (deviceId && params.auth?.deviceToken && !sharedPresented) {
        // A wrong device token counts towards the same failure limit as a wrong shared token.
        yield* auth.limited(attempt, devices.verifyToken({ deviceId, role, token: params.auth.deviceToken, scopes: operatorScopes }))
        return { method: "device-token" as const, scopes: operatorScopes, deviceId, deviceEpoch }
      }
      const grant = yield* auth.authenticate(attempt)
      const credential: Credential =
        grant.method === "token" || grant.method === "password"
          ? { kind: grant.method, hash: grant.credentialHash ?? "" }
          : { kind: grant.method }
      if (deviceId && publicKey) {
        const admission = yield* devices.admit({
          deviceId,
          publicKey,
          client: params.client,
          role,
          scopes: operatorScopes,
          commands: params.commands,
          local: conn.local,
          remoteIp: conn.ip
        })
        return {
          method: grant.method,
          user: grant.user,
          scopes: operatorScopes.filter((s) => admission.device.scopes.includes(s)),
          deviceId,
          deviceToken: admission.deviceToken,
          deviceEpoch,
          credential
        }
      }
      // No device: the shared credential grants operator scopes to local clients only,
      // as on OpenClaw; a remote client without a paired device may only ask for health.
      // A Tailscale identity is never local, so it too needs a paired device for more.
      return { method: grant.method, user: grant.user, scopes: conn.local ? operatorScopes : [], credential }
    })

  /** A refusal for a missing scope or role: what the denied-calls budget counts. */
  const isDenial = (error: GatewayError) =>
    error.code === "FORBIDDEN" && (error.detailCode === "MISSING_SCOPE" || error.detailCode === "ROLE_NOT_ALLOWED")

  const answer = (conn: Conn, id: string, method: string, exit: Exit.Exit<unknown, GatewayError>) => {
    conn.inflightCount -= 1
    inflightTotal -= 1
    if (Exit.isSuccess(exit)) return sendResult(conn, id, exit.value)
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure)) {
      if (isDenial(failure.value)) (conn.denied ??= new DeniedCalls(limits.deniedCallsPerMinute)).denied(now())
      return send(conn, errorFrame(id, failure.value))
    }
    if (Cause.isInterruptedOnly(exit.cause)) {
      return send(conn, errorFrame(id, GatewayError.unavailable("request interrupted: gateway shutting down")))
    }
    runFork(Effect.logError(`method ${printable(method, 64)} crashed`, exit.cause))
    send(conn, errorFrame(id, GatewayError.unavailable(`internal error in ${printable(method, 64)}`)))
  }

  const onRequest = (conn: Conn, id: string, method: string, params: unknown) => {
    const verdict = conn.denied?.check(now())
    // A request over a per-connection budget is answered RATE_LIMITED at once, naming the key to change.
    const limited = (message: string, code: string, limit: number, retryAfterMs?: number) =>
      send(
        conn,
        errorFrame(
          id,
          GatewayError.of("RATE_LIMITED", message, {
            details: { code, limit },
            ...(retryAfterMs !== undefined ? { retryable: true, retryAfterMs } : {})
          })
        )
      )
    if (verdict !== undefined && verdict._tag !== "ok") {
      const limit = limits.deniedCallsPerMinute
      if (verdict._tag === "close") {
        runFork(
          Effect.logWarning(`closing ${conn.connId} from ${conn.ip}: ${conn.denied!.inWindow} denied or throttled calls within a minute`)
        )
        limited("too many denied calls: closing the connection", "DENIED_CALLS_LIMIT", limit)
        return closeConn(conn, CloseCode.policy, `too many denied calls (gateway.limits.deniedCallsPerMinute ${limit})`)
      }
      return limited(
        `too many denied calls on this connection (more than ${limit} refused for a missing scope or role within a minute; ` +
          `gateway.limits.deniedCallsPerMinute): ask for the scopes the calls need, or wait`,
        "DENIED_CALLS_LIMIT",
        limit,
        verdict.retryAfterMs
      )
    }
    if (conn.inflightCount >= limits.maxInflightPerConnection) {
      const limit = limits.maxInflightPerConnection
      return limited(
        `too many requests in flight on this connection (${limit}, gateway.limits.maxInflightPerConnection): wait for answers before sending more`,
        "INFLIGHT_LIMIT",
        limit,
        100
      )
    }
    conn.inflightCount += 1
    inflightTotal += 1
    const ctxBase = conn.ctx!
    // node.invoke and node.invoke.result: answered through a callback, without a fiber.
    if (dispatcher.unsafeDispatch(ctxBase, method, params, (exit) => answer(conn, id, method, exit))) return
    const ctx: CallContext = {
      ...ctxBase,
      interim: (payload) => Effect.sync(() => send(conn, { type: "res", id, ok: true, payload }))
    }
    const fiber = runFork(dispatcher.dispatch(ctx, method, params))
    if (fiber.unsafePoll() === null) conn.inflight.add(fiber)
    fiber.addObserver((exit) => {
      conn.inflight.delete(fiber)
      answer(conn, id, method, exit)
    })
  }

  const onMessage = (conn: Conn, data: RawData, isBinary: boolean) => {
    conn.missedPongs = 0
    if (conn.phase === "closed") return
    if (conn.phase === "authenticating") {
      return send(conn, errorFrame("", GatewayError.invalidRequest("handshake in progress: wait for the connect response")))
    }
    // The depth is bounded before the frame is parsed; nothing recursive ever sees a deeper one.
    const decoded = isBinary
      ? ({ ok: false, message: "invalid frame: binary frames are not supported" } as const)
      : decodeText(data.toString(), limits.maxFrameDepth)
    if (!decoded.ok) {
      const error = GatewayError.invalidRequest(decoded.message, {
        code: decoded.message.includes("nested") ? "FRAME_TOO_DEEP" : "INVALID_FRAME",
        ...(decoded.message.includes("nested") ? { maxDepth: limits.maxFrameDepth } : {})
      })
      if (conn.phase === "handshake") return failHandshake(conn, "", error, CloseCode.policy)
      return send(conn, errorFrame("", error))
    }
    const frame = decoded.value
    const req = asRequestFrame(frame)
    if (req === undefined) {
      const rawId =
        typeof frame === "object" && frame !== null && typeof (frame as { id?: unknown }).id === "string"
          ? (frame as { id: string }).id
          : ""
      const error = GatewayError.invalidRequest(
        conn.phase === "handshake"
          ? "invalid handshake: first request must be connect"
          : 'invalid frame: expected {"type":"req","id":string,"method":string,"params"?:any}'
      )
      if (conn.phase === "handshake") return failHandshake(conn, rawId, error, CloseCode.policy)
      return send(conn, errorFrame(rawId, error))
    }
    // Ids are echoed in every answer to the request: bounded, like every name a peer sends.
    if (req.id.length > MAX_REQUEST_ID) {
      const error = GatewayError.invalidRequest(`invalid frame: id must be at most ${MAX_REQUEST_ID} characters`, { code: "INVALID_FRAME" })
      if (conn.phase === "handshake") return failHandshake(conn, "", error, CloseCode.policy)
      return send(conn, errorFrame("", error))
    }
    if (conn.phase === "handshake") {
      if (req.method !== "connect") {
        return failHandshake(
          conn,
          req.id,
          GatewayError.invalidRequest("invalid handshake: first request must be connect"),
          CloseCode.policy
        )
      }
      return onConnect(conn, req.id, req.params)
    }
    if (req.method === "connect") {
      return send(conn, errorFrame(req.id, GatewayError.invalidRequest("already connected: connect is sent once")))
    }
    if (shuttingDown) {
      return send(conn, errorFrame(req.id, GatewayError.unavailable("gateway shutting down")))
    }
    onRequest(conn, req.id, req.method, req.params)
  }

  const onClose = (conn: Conn) => {
    const wasReady = conn.ctx !== undefined
    conn.phase = "closed"
    conns.delete(conn.connId)
    leavePreAuth(conn)
    for (const f of conn.inflight) runFork(Fiber.interrupt(f))
    if (!wasReady) return
    runFork(
      Effect.gen(function* () {
        // A connection that closes while it is still being registered is unregistered after it.
        if (conn.registration) yield* Fiber.await(conn.registration)
        yield* hub.unregister(conn.connId)
        if (conn.role === "node" && conn.deviceId) yield* nodes.unregister(conn.deviceId, conn.connId)
        yield* state.countConnection(conn.role === "node" ? "nodes" : "operators", -1)
        yield* presence.remove(presenceKey(conn), conn.connId)
        yield* health.connectionsChanged
        yield* Effect.logInfo(`disconnected ${conn.connId}`)
      })
    )
  }

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_PREAUTH_PAYLOAD,
    perMessageDeflate: false,
    clientTracking: false
  })

  interface UpgradeFacts {
    readonly ip: string
    readonly isLoopback: boolean
    readonly forwarded: boolean
    readonly hasOrigin: boolean
    readonly local: boolean
    readonly tailscale: TailscaleClaim | undefined
  }

  const onConnection = (ws: WebSocket, facts: UpgradeFacts, pending: PendingSocket, tcpKey: string) => {
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
      tcpKey,
      addressKey: undefined,
      credential: undefined,
      missedPongs: 0,
      denied: undefined,
      closingSince: undefined
    }
    conns.set(conn.connId, conn)
    attach(conn)
    pending.conn = conn
    // Unauthenticated connections per client address (the forwarded one behind a trusted proxy).
    if (unauthenticatedByAddress.get(facts.ip) >= limits.unauthenticatedPerAddress) {
      runFork(
        Effect.logWarning(
          `refused a connection from ${facts.ip}: ${limits.unauthenticatedPerAddress} unauthenticated connections already open from there`
        )
      )
      return closeConn(
        conn,
        CloseCode.tryAgainLater,
        `too many unauthenticated connections from ${facts.ip} (gateway.limits.unauthenticatedPerAddress ${limits.unauthenticatedPerAddress})`
      )
    }
    unauthenticatedByAddress.add(facts.ip)
    conn.addressKey = facts.ip
    send(conn, { type: "event", event: "connect.challenge", payload: { nonce, ts: Date.now() } })
  }

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body)
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
    res.end(text)
  }

  const onHttp = (req: http.IncomingMessage, res: http.ServerResponse) => {
    // A whole request arrived: the connection is an HTTP client now (keep-alive and request timeouts apply), and
    // it stays counted among the unauthenticated ones until it closes.
    const entry = pendingSockets.get(socketKey(req.socket))
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
      case "/ready":
      case "/readyz":
        return shuttingDown ? json(res, 503, { ok: false, status: "shutting-down" }) : json(res, 200, { ok: true, status: "ready" })
      default:
        return json(res, 404, { ok: false, error: "not found" })
    }
  }

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const reject = (status: number, text: string) => {
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`
      )
    }
    if (shuttingDown) return reject(503, "gateway shutting down")
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
    const facts: UpgradeFacts = {
      ip: address.ip,
      isLoopback: address.isLoopback,
      forwarded: address.forwarded,
      hasOrigin: req.headers.origin !== undefined,
      local: address.isLoopback && !address.forwarded && req.headers.origin === undefined,
      tailscale: allowTailscale ? tailscaleClaim(remote, req.headers) : undefined
    }
    const tcpKey = socketKey(req.socket)
    // A keep-alive connection that served HTTP requests before it upgraded starts its handshake deadline now.
    const pending = pendingSockets.get(tcpKey)
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
  /** Every TCP connection is unauthenticated until it sends an HTTP request or finishes connect, and has until the deadline to. */
  /** Peers that forward for others (trusted proxies, Tailscale's proxy on loopback): their clients are counted after the upgrade. */
  const forwardsForOthers = (peer: string) => {
    const g = runSync(config.snapshot).gateway
    const tailscaleProxy = g?.auth?.allowTailscale === true || (g?.tailscale?.mode ?? "off") !== "off"
    return (tailscaleProxy && isLoopbackAddress(peer)) || trustedProxyList(g?.trustedProxies).matches(peer)
  }
  /**
   * Every TCP connection is unauthenticated until it finishes connect, and has until the deadline to (or
   * serves HTTP under Node's timeouts). One peer address may hold twice the per-address budget of them (the
   * upgrade-level budget, 1013 with a reason, comes first for WebSockets); all together hold at most
   * unauthenticatedTotal, with some room kept for loopback so a flood from elsewhere never locks out the host.
   */
  const onTcp = (socket: Duplex & { remoteAddress?: string; remotePort?: number }) => {
    const address = normalizeIp(socket.remoteAddress)
    const local = isLoopbackAddress(address)
    const overTotal = pendingSockets.size >= limits.unauthenticatedTotal + (local ? LOOPBACK_RESERVE : 0)
    const overAddress = tcpByAddress.get(address) >= limits.unauthenticatedPerAddress * 2 && !forwardsForOthers(address)
    if (overTotal || overAddress) {
      socket.destroy()
      refusedCount++
      if (now() - refusedSince >= 10_000) {
        refusedSince = now()
        runFork(
          Effect.logWarning(
            overTotal
              ? `refusing new connections: ${pendingSockets.size} unauthenticated connections are open (gateway.limits.unauthenticatedTotal); ${refusedCount} refused so far`
              : `refusing new connections from ${address}: it holds ${tcpByAddress.get(address)} unauthenticated connections (twice gateway.limits.unauthenticatedPerAddress); ${refusedCount} refused so far`
          )
        )
      }
      return
    }
    const key = socketKey(socket)
    pendingSockets.set(key, { socket, address, acceptedAt: now(), conn: undefined, http: false })
    tcpByAddress.add(address)
    socket.once("close", () => {
      const entry = pendingSockets.get(key)
      if (entry?.socket === socket) removePending(key)
    })
  }

  // Listen: the first host must bind; further ones (::1 beside 127.0.0.1) are best effort.
  // Every server is closed again if the start fails after it listened.
  const servers: Array<http.Server> = []
  const listeners: Array<Listener> = []
  let port = portChoice.port
  for (const [i, host] of plan.hosts.entries()) {
    const options = {
      keepAliveTimeout: 5_000,
      // Slow headers are cut by Node as well as by the handshake deadline below.
      headersTimeout: limits.handshakeTimeoutMs,
      requestTimeout: Math.max(limits.handshakeTimeoutMs, 30_000),
      connectionsCheckingInterval: Math.min(1_000, limits.handshakeTimeoutMs)
    }
    const server: http.Server = tls
      ? https.createServer(
          { ...options, cert: tls.cert, key: tls.key, minVersion: "TLSv1.3", handshakeTimeout: limits.handshakeTimeoutMs },
          onHttp
        )
      : http.createServer(options, onHttp)
    server.on("connection", onTcp)
    server.on("upgrade", onUpgrade)
    server.on("clientError", (_err, socket) => socket.destroy())
    const bound = yield* listen(server, host, port).pipe(Effect.either)
    if (bound._tag === "Left") {
      const e = bound.left
      if (i === 0) {
        const why =
          e.code === "EADDRINUSE"
            ? `port ${port} on ${host} is already in use (another Gateway?): stop it, or choose another port with --port, CLAWGATE_GATEWAY_PORT or gateway.port (now from ${portChoice.source})`
            : e.code === "EADDRNOTAVAIL"
              ? `cannot listen on ${host}: this host has no such address (check gateway.bind / gateway.customBindHost)`
              : e.code === "EACCES"
                ? `no permission to listen on ${host}:${port}: use a port above 1023`
                : `cannot listen on ${host}:${port}: ${e.message}`
        return yield* new GatewayStartError({ message: why })
      }
      yield* Effect.logDebug(`not listening on ${host}: ${e.code ?? e.message}`)
      continue
    }
    if (servers.length === 0) {
      yield* Effect.addFinalizer(() => Effect.forEach(servers, closeServer, { discard: true }))
    }
    port = bound.right
    servers.push(server)
    listeners.push({ host, port })
  }

  // Generated only once the port is ours, so a failed start leaves no token nobody saw.
  if (resolvedAuth.mode === "token" && resolvedAuth.token === undefined) {
    const token = randomBytes(32).toString("base64url")
    yield* config
      .update((raw) => {
        const gw = (raw.gateway ?? {}) as Record<string, unknown>
        const a = (gw.auth ?? {}) as Record<string, unknown>
        return { ...raw, gateway: { ...gw, auth: { ...a, mode: "token", token } } }
      })
      .pipe(Effect.mapError((e) => new GatewayStartError({ message: `cannot store the generated gateway token: ${e.message}` })))
    generatedToken = token
    resolvedAuth = yield* auth.resolved.pipe(Effect.mapError((e) => new GatewayStartError({ message: e.message })))
  }

  const primary = listeners[0]!
  const scheme = tls ? "wss" : "ws"
  const url = `${scheme}://${hostForUrl(primary.host === "0.0.0.0" ? "127.0.0.1" : primary.host)}:${port}`
  yield* state.setServing({
    bind: bindMode,
    port,
    listeners,
    authMode: resolvedAuth.mode,
    tls: tls !== undefined,
    tailscale: tailscaleMode
  })

  // Events from services fan out to the connections allowed to see them. Coalesced ones (presence,
  // health: each is a whole snapshot) keep only their latest, sent at most every 250 ms and no faster
  // than the fan-out bandwidth allows, so a crowd connecting at once does not multiply the list by itself.
  const subscription = yield* bus.subscribe
  const coalesced = new Map<string, GatewayEvent>()
  const flush = yield* Queue.sliding<void>(1)
  yield* Effect.forkScoped(
    Effect.forever(
      Effect.gen(function* () {
        const ev: GatewayEvent = yield* Queue.take(subscription)
        if (ev.coalesce && ev.connId === undefined) {
          coalesced.set(ev.event, ev)
          yield* Queue.offer(flush, undefined)
        } else yield* safeBroadcast(ev)
      })
    )
  )
  yield* Effect.forkScoped(
    Effect.forever(
      Effect.gen(function* () {
        yield* Queue.take(flush)
        const batch = [...coalesced.values()]
        coalesced.clear()
        let bytes = 0
        for (const ev of batch) bytes += yield* safeBroadcast(ev)
        yield* Effect.sleep(Duration.millis(Math.max(COALESCE_MIN_MS, (bytes / COALESCE_BYTES_PER_SECOND) * 1000)))
      })
    )
  )

  // One timer ticks every connection.
  yield* Effect.forkScoped(
    Effect.suspend(() => broadcast({ event: "tick", payload: { ts: Date.now() }, role: "all" })).pipe(
      Effect.repeat(Schedule.spaced(Duration.millis(tickIntervalMs))),
      Effect.delay(Duration.millis(tickIntervalMs))
    )
  )

  // The handshake deadline, from TCP accept: a socket that is neither an HTTP request nor connected by then is cut.
  const deadlineSweep = Effect.sync(() => {
    const t = now()
    for (const [key, entry] of pendingSockets) {
      const conn = entry.conn
      if (conn?.closingSince !== undefined) {
        if (t - conn.closingSince >= CLOSE_GRACE_MS) conn.ws.terminate()
        continue
      }
      if (entry.http || t - entry.acceptedAt < limits.handshakeTimeoutMs) continue
      if (conn) closeConn(conn, CloseCode.policy, `handshake timeout (gateway.handshakeTimeoutMs ${limits.handshakeTimeoutMs})`)
      else {
        entry.socket.destroy()
        removePending(key)
      }
    }
  })
  yield* Effect.forkScoped(
    Effect.repeat(deadlineSweep, Schedule.spaced(Duration.millis(Math.max(10, Math.min(250, limits.handshakeTimeoutMs / 4)))))
  )

  // Pings: a connection that missed `maxMissedPongs` of them in a row (and sent nothing else) is dropped.
  yield* Effect.forkScoped(
    Effect.sync(() => {
      for (const conn of conns.values()) {
        if (conn.phase !== "ready") {
          if (conn.closingSince !== undefined && now() - conn.closingSince >= CLOSE_GRACE_MS) conn.ws.terminate()
          continue
        }
        if (conn.missedPongs >= limits.maxMissedPongs) {
          runFork(Effect.logInfo(`dropping ${conn.connId} from ${conn.ip}: ${conn.missedPongs} pings unanswered`))
          conn.phase = "closed"
          conn.ws.terminate()
          continue
        }
        conn.missedPongs += 1
        conn.ws.ping()
      }
    }).pipe(Effect.repeat(Schedule.spaced(Duration.millis(limits.pingIntervalMs))), Effect.delay(Duration.millis(limits.pingIntervalMs)))
  )

  // A rotated (or removed) shared token or password ends the sessions that logged in with the old one. Every
  // session is compared on every tick, so one that finished connect with the old secret after a change is caught too.
  yield* Effect.forkScoped(
    Effect.gen(function* () {
      const r = yield* auth.resolved
      const tokenHash = r.mode === "token" && r.token !== undefined ? secretHash(r.token) : undefined
      const passwordHash = r.mode === "password" && r.password !== undefined ? secretHash(r.password) : undefined
      for (const conn of conns.values()) {
        const c = conn.credential
        if (c === undefined || conn.phase !== "ready") continue
        const stale =
          c.kind === "token"
            ? c.hash !== tokenHash
            : c.kind === "password"
              ? c.hash !== passwordHash
              : c.kind === "none"
                ? r.mode !== "none"
                : !r.allowTailscale
        if (!stale) continue
        const what =
          c.kind === "tailscale"
            ? "Tailscale identity login was turned off"
            : c.kind === "none"
              ? "Gateway now requires a credential"
              : `gateway ${c.kind} was changed`
        yield* Effect.logInfo(`closing ${conn.connId} from ${conn.ip}: the ${what}`)
        closeConn(conn, CloseCode.deviceRemoved, `the ${what}: reconnect with the new credential`)
      }
    }).pipe(Effect.ignore, Effect.repeat(Schedule.spaced(Duration.millis(CREDENTIAL_CHECK_MS))))
  )

  // Graceful shutdown: refuse new work, tell everyone, answer what is in flight, then close.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function* () {
      shuttingDown = true
      for (const server of servers) server.close()
      yield* broadcast({ event: "shutdown", payload: { reason: "gateway stopping", restartExpectedMs: null }, role: "all" })
      const pending = () => [...conns.values()].flatMap((c) => [...c.inflight])
      yield* Effect.forEach(pending(), (f) => Fiber.await(f), { discard: true, concurrency: "unbounded" }).pipe(
        Effect.timeout(Duration.millis(DRAIN_TIMEOUT_MS)),
        Effect.ignore
      )
      yield* Effect.forEach(pending(), (f) => Fiber.interrupt(f), { discard: true })
      // Let the answers leave before the close frame.
      const all = [...conns.values()]
      for (const conn of all) conn.phase = "closed"
      for (const conn of all) {
        if (conn.ws.readyState === conn.ws.OPEN || conn.ws.readyState === conn.ws.CONNECTING) {
          conn.ws.close(CloseCode.serviceRestart, "gateway shutting down")
        }
      }
      yield* Effect.forEach(servers, closeServer, { discard: true })
      wss.close()
      yield* Effect.logInfo("gateway stopped")
    })
  )

  // Tailscale Serve/Funnel to the loopback port, once it is ours. Taken down first at shutdown
  // (finalizers run last-in first-out) when resetOnExit, so no request is routed to a closing port.
  if (tailscaleMode !== "off") {
    const funnel = tailscaleMode === "funnel"
    const target = `${tls ? "https+insecure" : "http"}://${hostForUrl(primary.host)}:${port}`
    const resetOnExit = cfg.gateway?.tailscale?.resetOnExit === true
    yield* Effect.acquireRelease(
      tailscale
        .serve({ funnel, target })
        .pipe(Effect.mapError((e) => new GatewayStartError({ message: `gateway.tailscale.mode "${tailscaleMode}": ${e.message}` }))),
      () =>
        resetOnExit
          ? tailscale.reset({ funnel }).pipe(
              Effect.zipRight(Effect.logInfo(`tailscale ${tailscaleMode} reset (gateway.tailscale.resetOnExit)`)),
              Effect.catchAll((e) => Effect.logWarning(`tailscale ${tailscaleMode} reset failed: ${e.message}`))
            )
          : Effect.void
    )
    yield* Effect.logInfo(
      `tailscale ${tailscaleMode}: ${funnel ? "public internet" : "tailnet"} HTTPS → ${target}${resetOnExit ? " (reset on exit)" : ""}`
    )
  }

  yield* Effect.logInfo(
    `gateway listening on ${listeners.map((l) => `${scheme}://${hostForUrl(l.host)}:${l.port}`).join(", ")} (bind ${bindMode}, auth ${resolvedAuth.mode}, port from ${portChoice.source})`
  )
  if (tls) {
    yield* Effect.logInfo(
      `TLS 1.3 with ${tls.generated ? "a newly generated" : "the"} certificate ${tls.certPath}; clients pin sha256:${tls.fingerprint}`
    )
  }

  return GatewayServer.of({ bind: bindMode, port, listeners, url, generatedToken, tlsFingerprint: tls?.fingerprint })
})

export const GatewayServerLive = Layer.scoped(GatewayServer, makeGatewayServer)
