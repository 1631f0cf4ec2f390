/**
 * The WebSocket + HTTP transport on Node's `http` server and `ws`.
 *
 * Frames are handled with plain callbacks on the socket; each request runs as
 * an Effect fiber on the layer's runtime, tracked per connection so shutdown
 * can answer what is in flight before it closes the socket.
 */
import * as http from "node:http"
import * as https from "node:https"
import { randomBytes, randomUUID } from "node:crypto"
import { Cause, Effect, Exit, Fiber, Layer, Option, Queue, Runtime, Schedule, Duration } from "effect"
import { WebSocketServer, type WebSocket, type RawData } from "ws"
import { planBind, resolvePort, SettingError } from "../config/bind.js"
import { checkOrigin, resolveClientAddress, tailscaleClaim, type TailscaleClaim } from "../config/clientAddress.js"
import type { BindMode } from "../config/schema.js"
import { GatewayError } from "../protocol/errors.js"
import {
  ALL_SCOPES,
  CloseCode,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
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
  type HelloOk,
  type Role
} from "../protocol/frames.js"
import { verifyDeviceProof } from "../protocol/device.js"
import { scopeSatisfies } from "../protocol/methods.js"
import { Auth } from "../services/Auth.js"
import { ConnectionHub } from "../services/ConnectionHub.js"
import { Devices } from "../services/Devices.js"
import { NodeRegistry } from "../services/NodeRegistry.js"
import { Config } from "../services/Config.js"
import { Dispatcher, type CallContext } from "../services/Dispatcher.js"
import { EventBus, type GatewayEvent } from "../services/EventBus.js"
import { GatewayRunFlags, GatewayServer, GatewayStartError } from "../services/GatewayServer.js"
import { GatewayState, type Listener } from "../services/GatewayState.js"
import { Health } from "../services/Health.js"
import { Presence } from "../services/Presence.js"
import { Tailscale } from "../services/Tailscale.js"
import { HttpRoutes } from "../services/HttpRoutes.js"
import { SESSION_DEFAULTS } from "./DispatcherLive.js"

/** How long shutdown waits for in-flight requests before closing sockets. */
const DRAIN_TIMEOUT_MS = 5_000

type Phase = "handshake" | "authenticating" | "ready" | "closed"

interface Conn {
  readonly connId: string
  readonly ws: WebSocket
  readonly ip: string
  readonly isLoopback: boolean
  readonly hasOrigin: boolean
  phase: Phase
  role: Role
  scopes: ReadonlyArray<string>
  client: ClientInfo | undefined
  seq: number
  readonly inflight: Set<Fiber.RuntimeFiber<unknown, unknown>>
  handshakeTimer: NodeJS.Timeout | undefined
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
}

/** What a successful connect grants. */
interface Admitted {
  readonly method: string
  /** With method "tailscale": the confirmed Tailscale login. */
  readonly user?: string | undefined
  readonly scopes: ReadonlyArray<string>
  readonly deviceId?: string | undefined
  readonly deviceToken?: string | undefined
}

const errorFrame = (id: string, error: GatewayError) => ({ type: "res", id, ok: false, error: error.toShape() })

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

const hostForUrl = (host: string) => (host.includes(":") ? `[${host}]` : host)

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
  const runtime = yield* Effect.runtime<never>()
  const runFork = Runtime.runFork(runtime)
  const runSync = Runtime.runSync(runtime)

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
  const handshakeTimeoutMs = cfg.gateway?.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS
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
        `CLAWGATE_GATEWAY_TOKEN, or pass --token; or keep the default loopback bind`
    })
  }
  if (resolvedAuth.mode === "password" && resolvedAuth.password === undefined) {
    return yield* new GatewayStartError({
      message:
        'gateway.auth.mode is "password" but no password is set: set gateway.auth.password or CLAWGATE_GATEWAY_PASSWORD, or pass --password'
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
    yield* Effect.logWarning("gateway.auth.allowTailscale does not apply with gateway.tailscale.mode \"funnel\": every client needs the password")
  }
  const conns = new Set<Conn>()
  let shuttingDown = false

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
   * A successful response. Payloads that are objects are serialised once per
   * object: a cached snapshot (health) is the same object until it is
   * refreshed, so repeated answers reuse its JSON.
   */
  const payloadJson = new WeakMap<object, string>()
  const sendResult = (conn: Conn, id: string, payload: unknown): void => {
    if (!writable(conn)) return
    let json: string | undefined
    if (typeof payload === "object" && payload !== null) {
      json = payloadJson.get(payload)
      if (json === undefined) {
        json = JSON.stringify(payload)
        if (Object.isFrozen(payload)) payloadJson.set(payload, json)
      }
    } else json = payload === undefined ? undefined : JSON.stringify(payload)
    conn.ws.send(`{"type":"res","id":${JSON.stringify(id)},"ok":true${json === undefined ? "" : `,"payload":${json}`}}`)
  }

  const versions = Effect.all({ presence: presence.version, health: health.version })

  const sendEvent = (conn: Conn, event: string, payload: unknown, stateVersion?: { presence: number; health: number }) => {
    conn.seq += 1
    send(conn, { type: "event", event, payload, seq: conn.seq, ...(stateVersion ? { stateVersion } : {}) })
  }

  const closeConn = (conn: Conn, code: number, reason: string) => {
    if (conn.ws.readyState === conn.ws.OPEN || conn.ws.readyState === conn.ws.CONNECTING) conn.ws.close(code, reason)
  }

  const failHandshake = (conn: Conn, id: string, error: GatewayError, code: number) => {
    send(conn, errorFrame(id, error))
    conn.phase = "closed"
    closeConn(conn, code, error.message.slice(0, 120))
  }

  const presenceKey = (conn: Conn) => conn.client?.instanceId ?? conn.connId

  const completeHandshake = (conn: Conn, id: string, params: ConnectParams, protocol: number, admitted: Admitted) => {
    const role: Role = params.role ?? "operator"
    const scopes = admitted.scopes
    conn.deviceId = admitted.deviceId
    conn.role = role
    conn.scopes = scopes
    conn.client = params.client
    conn.phase = "ready"
    if (conn.handshakeTimer) clearTimeout(conn.handshakeTimer)
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
      interim: () => Effect.void
    }
    const program = Effect.gen(function* () {
      yield* state.countConnection("pending", -1)
      yield* state.countConnection(role === "node" ? "nodes" : "operators", 1)
      yield* hub.register({
        connId: conn.connId,
        role,
        deviceId: admitted.deviceId,
        clientId: params.client.id,
        sendEvent: (event, payload) => sendEvent(conn, event, payload),
        close: (code, reason) => {
          conn.phase = "closed"
          closeConn(conn, code, reason)
        }
      })
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
      const hello: HelloOk = {
        type: "hello-ok",
        protocol,
        server: { version: state.version, connId: conn.connId },
        features: { methods: dispatcher.methods, events: dispatcher.events },
        snapshot: {
          presence: yield* presence.list,
          health: yield* health.snapshot,
          stateVersion: yield* versions,
          uptimeMs: yield* state.uptimeMs,
          sessionDefaults: SESSION_DEFAULTS
        },
        auth: {
          method: admitted.method,
          role,
          scopes,
          ...(admitted.deviceToken ? { deviceToken: admitted.deviceToken, issuedAtMs: Date.now() } : {})
        },
        policy: { maxPayload: MAX_PAYLOAD, maxBufferedBytes: MAX_BUFFERED_BYTES, tickIntervalMs }
      }
      send(conn, { type: "res", id, ok: true, payload: hello })
      yield* Effect.logInfo(
        `connected ${conn.connId} ${role} ${params.client.id}/${params.client.mode} from ${conn.ip}${admitted.user ? ` as ${admitted.user} (${admitted.method})` : ""} scopes=${scopes.join(",") || "-"}`
      )
    })
    conn.registration = runFork(program)
  }

  const onConnect = (conn: Conn, id: string, rawParams: unknown) => {
    const decoded = decodeConnectParams(rawParams)
    if (decoded._tag === "Left") {
      return failHandshake(
        conn,
        id,
        GatewayError.invalidRequest(`invalid connect params: ${decoded.left.message.split("\n").slice(0, 6).join(" ")}`),
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
      if (conn.ws.readyState !== conn.ws.OPEN) return
      if (Exit.isSuccess(exit)) {
        conn.phase = "handshake"
        return completeHandshake(conn, id, params, protocol, exit.value)
      }
      const err = Cause.failureOption(exit.cause)
      const error = Option.isSome(err) ? err.value : GatewayError.unavailable("authentication failed unexpectedly")
      if (Option.isNone(err)) runFork(Effect.logError("connect failed unexpectedly", exit.cause))
      runFork(
        Effect.logWarning(`connect refused for ${conn.ip} (${params.client.id}/${role}): ${error.detailCode ?? error.code}`)
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
      let deviceId: string | undefined
      let publicKey: string | undefined
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
      } else if (role === "node") {
        return yield* GatewayError.of("NOT_PAIRED", "device identity required", {
          details: { code: "DEVICE_IDENTITY_REQUIRED" }
        })
      }
      const sharedPresented = Boolean(params.auth?.token || params.auth?.password)
      if (deviceId && params.auth?.deviceToken && !sharedPresented) {
        yield* devices.verifyToken({ deviceId, role, token: params.auth.deviceToken, scopes: operatorScopes })
        return { method: "device-token", scopes: operatorScopes, deviceId }
      }
      const grant = yield* auth.authenticate({
        auth: params.auth,
        clientIp: conn.ip,
        isLoopback: conn.isLoopback,
        hasOrigin: conn.hasOrigin,
        tailscale: conn.tailscale
      })
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
          deviceToken: admission.deviceToken
        }
      }
      // No device: the shared credential grants operator scopes to local clients only,
      // as on OpenClaw; a remote client without a paired device may only ask for health.
      // A Tailscale identity is never local, so it too needs a paired device for more.
      return { method: grant.method, user: grant.user, scopes: conn.local ? operatorScopes : [] }
    })

  const answer = (conn: Conn, id: string, method: string, exit: Exit.Exit<unknown, GatewayError>) => {
    if (Exit.isSuccess(exit)) return sendResult(conn, id, exit.value)
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure)) return send(conn, errorFrame(id, failure.value))
    if (Cause.isInterruptedOnly(exit.cause)) {
      return send(conn, errorFrame(id, GatewayError.unavailable("request interrupted: gateway shutting down")))
    }
    runFork(Effect.logError(`method ${method} crashed`, exit.cause))
    send(conn, errorFrame(id, GatewayError.unavailable(`internal error in ${method}`)))
  }

  const onRequest = (conn: Conn, id: string, method: string, params: unknown) => {
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
    if (conn.phase === "closed") return
    if (conn.phase === "authenticating") {
      return send(conn, errorFrame("", GatewayError.invalidRequest("handshake in progress: wait for the connect response")))
    }
    let frame: unknown
    try {
      if (isBinary) throw new Error("binary frames are not supported")
      frame = JSON.parse(data.toString())
    } catch {
      const error = GatewayError.invalidRequest("invalid frame: not a JSON text frame")
      if (conn.phase === "handshake") return failHandshake(conn, "", error, CloseCode.policy)
      return send(conn, errorFrame("", error))
    }
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
    if (conn.handshakeTimer) clearTimeout(conn.handshakeTimer)
    conns.delete(conn)
    for (const f of conn.inflight) runFork(Fiber.interrupt(f))
    runFork(
      Effect.gen(function* () {
        if (!wasReady) return yield* state.countConnection("pending", -1)
        // A connection that closes while it is still being registered is unregistered after it.
        if (conn.registration) yield* Fiber.await(conn.registration)
        yield* hub.unregister(conn.connId)
        if (conn.role === "node" && conn.deviceId) yield* nodes.unregister(conn.deviceId, conn.connId)
        yield* state.countConnection(conn.role === "node" ? "nodes" : "operators", -1)
        yield* presence.remove(presenceKey(conn))
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

  const onConnection = (ws: WebSocket, req: http.IncomingMessage) => {
    const remote = req.socket.remoteAddress
    const cfgNow = runSync(config.snapshot)
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
    const nonce = randomUUID()
    const conn: Conn = {
      connId: randomUUID(),
      ws,
      ip: address.ip,
      isLoopback: address.isLoopback,
      hasOrigin: req.headers.origin !== undefined,
      phase: "handshake",
      role: "operator",
      scopes: [],
      client: undefined,
      seq: 0,
      inflight: new Set(),
      handshakeTimer: undefined,
      ctx: undefined,
      nonce,
      local: address.isLoopback && !address.forwarded && req.headers.origin === undefined,
      tailscale: allowTailscale ? tailscaleClaim(remote, req.headers) : undefined,
      deviceId: undefined,
      registration: undefined
    }
    conns.add(conn)
    runFork(state.countConnection("pending", 1))
    conn.handshakeTimer = setTimeout(() => {
      if (conn.phase !== "ready") {
        conn.phase = "closed"
        closeConn(conn, CloseCode.policy, "handshake timeout")
      }
    }, handshakeTimeoutMs)
    ws.on("message", (data, isBinary) => onMessage(conn, data, isBinary))
    ws.on("close", () => onClose(conn))
    ws.on("error", () => {
      // ws closes the socket itself (1009 for an oversized frame, 1002 for a bad one).
    })
    send(conn, { type: "event", event: "connect.challenge", payload: { nonce, ts: Date.now() } })
  }

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body)
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
    res.end(text)
  }

  const onHttp = (req: http.IncomingMessage, res: http.ServerResponse) => {
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
        return shuttingDown
          ? json(res, 503, { ok: false, status: "shutting-down" })
          : json(res, 200, { ok: true, status: "ready" })
      default:
        return json(res, 404, { ok: false, error: "not found" })
    }
  }

  const onUpgrade = (req: http.IncomingMessage, socket: import("node:stream").Duplex, head: Buffer) => {
    const reject = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`)
    }
    if (shuttingDown) return reject(503, "gateway shutting down")
    if (hasTokenQuery(req.url)) return reject(400, "credentials are never accepted in a URL query string")
    // A browser's upgrade (any Origin, "null" included) is checked before the 101.
    const refused = checkOrigin(req.headers.origin, req.headers.host, {
      allowedOrigins: runSync(config.snapshot).gateway?.controlUi?.allowedOrigins
    })
    if (refused) {
      runFork(Effect.logWarning(`upgrade refused (403): ${refused}`))
      return reject(403, refused)
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req))
  }

  // Listen: the first host must bind; further ones (::1 beside 127.0.0.1) are best effort.
  const servers: Array<http.Server> = []
  const listeners: Array<Listener> = []
  let port = portChoice.port
  for (const [i, host] of plan.hosts.entries()) {
    const server: http.Server = tls
      ? https.createServer({ cert: tls.cert, key: tls.key, minVersion: "TLSv1.3", keepAliveTimeout: 5_000 }, onHttp)
      : http.createServer({ keepAliveTimeout: 5_000 }, onHttp)
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
      .pipe(
        Effect.mapError(
          (e) => new GatewayStartError({ message: `cannot store the generated gateway token: ${e.message}` })
        )
      )
    generatedToken = token
    resolvedAuth = yield* auth.resolved.pipe(Effect.mapError((e) => new GatewayStartError({ message: e.message })))
  }

  const primary = listeners[0]!
  const scheme = tls ? "wss" : "ws"
  const url = `${scheme}://${hostForUrl(primary.host === "0.0.0.0" ? "127.0.0.1" : primary.host)}:${port}`
  yield* state.setServing({ bind: bindMode, port, listeners, authMode: resolvedAuth.mode, tls: tls !== undefined, tailscale: tailscaleMode })

  // Events from services fan out to the connections allowed to see them.
  const subscription = yield* bus.subscribe
  yield* Effect.forkScoped(
    Effect.forever(
      Effect.gen(function* () {
        const ev: GatewayEvent = yield* Queue.take(subscription)
        const sv = yield* versions
        for (const conn of conns) {
          if (conn.phase !== "ready") continue
          if (ev.connId !== undefined && ev.connId !== conn.connId) continue
          const role = ev.role ?? "operator"
          if (role !== "all" && role !== conn.role) continue
          if (ev.scope !== undefined && (conn.role !== "operator" || !scopeSatisfies(conn.scopes, ev.scope))) continue
          sendEvent(conn, ev.event, ev.payload, sv)
        }
      })
    )
  )

  // One timer ticks every connection.
  yield* Effect.forkScoped(
    Effect.sync(() => {
      const ts = Date.now()
      for (const conn of conns) if (conn.phase === "ready") sendEvent(conn, "tick", { ts })
    }).pipe(Effect.repeat(Schedule.spaced(Duration.millis(tickIntervalMs))), Effect.delay(Duration.millis(tickIntervalMs)))
  )

  // Graceful shutdown: refuse new work, tell everyone, answer what is in flight, then close.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function* () {
      shuttingDown = true
      for (const server of servers) server.close()
      for (const conn of conns) if (conn.phase === "ready") sendEvent(conn, "shutdown", { reason: "gateway stopping", restartExpectedMs: null })
      const pending = () => [...conns].flatMap((c) => [...c.inflight])
      yield* Effect.forEach(pending(), (f) => Fiber.await(f), { discard: true, concurrency: "unbounded" }).pipe(
        Effect.timeout(Duration.millis(DRAIN_TIMEOUT_MS)),
        Effect.ignore
      )
      yield* Effect.forEach(pending(), (f) => Fiber.interrupt(f), { discard: true })
      // Let the answers leave before the close frame.
      for (const conn of conns) conn.phase = "closed"
      for (const conn of [...conns]) closeConn(conn, CloseCode.serviceRestart, "gateway shutting down")
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
      tailscale.serve({ funnel, target }).pipe(
        Effect.mapError(
          (e) => new GatewayStartError({ message: `gateway.tailscale.mode "${tailscaleMode}": ${e.message}` })
        )
      ),
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
