/**
 * The connect handshake after the first frame was read: the params decoded,
 * the protocol negotiated (4, or 3 for probes and nodes), the peer admitted
 * (services/Admission), then registration (ConnectionHub, NodeRegistry,
 * Presence) and `hello-ok`. The registration's undoing is the finalizer of
 * the connection's own Scope, so closing the socket (or stopping the server,
 * which closes the scope every connection's is forked from) undoes it once.
 *
 * hello-ok is assembled from pieces whose bytes are kept (the presence and
 * health snapshots), so a connect storm costs each connection its own few
 * fields, not a fresh copy of everyone else.
 */
import { Cause, type Context, Effect, ExecutionStrategy, Exit, Fiber, Option, Scope } from "effect"
import { printable } from "../../protocol/codec.js"
import { GatewayError } from "../../protocol/errors.js"
import { issuesText } from "../../protocol/issues.js"
import {
  CloseCode,
  MAX_BUFFERED_BYTES,
  MAX_PAYLOAD,
  MIN_LEGACY_PROTOCOL,
  PROTOCOL_VERSION,
  decodeConnectParams,
  type ConnectParams,
  type Role
} from "../../protocol/frames.js"
import { scopeSatisfies } from "../../protocol/methods.js"
import type { Admission, Admitted } from "../../services/Admission.js"
import type { ConnectionHubService } from "../../services/ConnectionHub.js"
import type { Devices } from "../../services/Devices.js"
import type { Dispatcher } from "../../services/Dispatcher.js"
import type { GatewayStateService } from "../../services/GatewayState.js"
import type { HealthService } from "../../services/Health.js"
import type { NodeRegistryService } from "../../services/NodeRegistry.js"
import type { PresenceService } from "../../services/Presence.js"
import { SESSION_DEFAULTS } from "../../services/Sessions.js"
import type { Conn, Connections, RunFork } from "./connection.js"
import { sendParts } from "./outbound.js"

export interface HandshakeDeps {
  readonly connections: Connections
  readonly runFork: RunFork
  readonly admission: Context.Tag.Service<typeof Admission>
  readonly dispatcher: Context.Tag.Service<typeof Dispatcher>
  readonly state: GatewayStateService
  readonly hub: ConnectionHubService
  readonly devices: Context.Tag.Service<typeof Devices>
  readonly nodes: NodeRegistryService
  readonly presence: PresenceService
  readonly health: HealthService
  readonly tickIntervalMs: number
  /** The server's scope of connections: each connected one forks its own from it, and its close releases them all. */
  readonly connectionsScope: Scope.Scope
}

/** The interim answer of a connection's context: the real one is made per request. */
const noInterim = () => Effect.void

/**
 * Whose entry a connection's presence is: a device's instance (so a reconnect replaces its own entry, as
 * OpenClaw's keys by instanceId do), else the connection itself. A client cannot name another's key, nor
 * the Gateway's own.
 */
const presenceKey = (conn: Conn) =>
  conn.deviceId !== undefined ? `device:${conn.deviceId}:${conn.client?.instanceId ?? conn.connId}` : `conn:${conn.connId}`

export const makeHandshake = (deps: HandshakeDeps) => {
  const { connections: c, runFork, admission, dispatcher, state, hub, devices, nodes, presence, health } = deps
  const featuresJson = JSON.stringify({ methods: dispatcher.methods, events: dispatcher.events })
  const sessionDefaultsJson = JSON.stringify(SESSION_DEFAULTS)
  const policyJson = JSON.stringify({ maxPayload: MAX_PAYLOAD, maxBufferedBytes: MAX_BUFFERED_BYTES, tickIntervalMs: deps.tickIntervalMs })

  /*
   * What lives as long as a connection is built in scopes of its own (handleOf here, the socket listeners in
   * frames.ts), holding the connection and nothing else: a closure made inside the handshake would keep the
   * whole handshake (its params, its fibers) alive for the life of the connection, kilobytes each in a crowd.
   */
  const handleOf = (conn: Conn, clientId: string) => ({
    connId: conn.connId,
    role: conn.role,
    deviceId: conn.deviceId,
    clientId,
    sendEvent: (event: string, payload: unknown) => c.sendEvent(conn, event, payload),
    close: (code: number, reason: string) => c.closeConn(conn, code, reason)
  })

  /**
   * What the close of a connected connection's scope undoes: the registration below, in reverse. Made here, not
   * in the handshake, so the finalizer each connection keeps for days holds the connection only (see handleOf).
   */
  const unregistration = (conn: Conn) =>
    Effect.suspend(() => {
      const kind = conn.role === "node" ? "nodes" : "operators"
      return Effect.all(
        [
          presence.remove(presenceKey(conn), conn.connId),
          conn.role === "node" && conn.deviceId !== undefined ? nodes.unregister(conn.deviceId, conn.connId) : Effect.void,
          hub.unregister(conn.connId),
          state.countConnection(kind, -1),
          health.connectionsChanged,
          Effect.annotateLogs(Effect.logInfo("disconnected"), { connId: conn.connId, role: conn.role })
        ],
        { discard: true }
      )
    })

  const completeHandshake = (conn: Conn, id: string, params: ConnectParams, protocol: number, admitted: Admitted) => {
    const role: Role = params.role ?? "operator"
    const scopes = admitted.scopes
    conn.deviceId = admitted.deviceId
    conn.role = role
    conn.scopes = scopes
    conn.client = params.client
    conn.credential = admitted.credential
    conn.phase = "ready"
    c.leavePreAuth(conn)
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
    const kind = role === "node" ? "nodes" : "operators"
    const program = Effect.gen(function* () {
      yield* state.countConnection(kind, 1)
      yield* hub.register(handleOf(conn, params.client.id))
      const scope = yield* Scope.fork(deps.connectionsScope, ExecutionStrategy.sequential)
      conn.scope = scope
      // Calls from now on may hold things for as long as the connection lasts (subscriptions).
      if (conn.ctx !== undefined) conn.ctx = { ...conn.ctx, scope }
      yield* Scope.addFinalizer(scope, unregistration(conn))
      // Removed, rotated or revoked while this connect was being checked: closed now that it can be found.
      if (admitted.deviceId !== undefined && devices.epochOf(admitted.deviceId) !== admitted.deviceEpoch) {
        yield* Effect.logInfo(`closing ${conn.connId}: device ${admitted.deviceId.slice(0, 12)} changed while it connected`)
        return c.closeConn(conn, CloseCode.deviceRemoved, "the device was removed, or its token rotated or revoked, while it connected")
      }
      const nodeId = admitted.deviceId
      if (role === "node" && nodeId !== undefined) {
        yield* nodes.register({
          nodeId,
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
      // The presence list, the big piece, is sent as a fragment of the message, shared by every newcomer.
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
        `,"health":${c.jsonOf(yield* health.snapshot)},` +
        `"stateVersion":{"presence":${shared?.version ?? (yield* presence.version)},"health":${yield* health.version}},` +
        `"uptimeMs":${yield* state.uptimeMs},"sessionDefaults":${sessionDefaultsJson}},"auth":${JSON.stringify(authPart)},"policy":${policyJson}}}`
      if (c.writable(conn)) sendParts(conn.ws, shared === undefined ? [`${head}[]${tail}`] : [head, shared.bytes, tail])
      yield* Effect.logInfo("connected").pipe(
        Effect.annotateLogs({
          connId: conn.connId,
          role,
          client: printable(params.client.id, 64),
          mode: printable(params.client.mode, 32),
          ip: conn.ip,
          auth: admitted.method,
          ...(admitted.user ? { user: printable(admitted.user, 128) } : {}),
          ...(admitted.deviceId ? { device: admitted.deviceId.slice(0, 12) } : {}),
          scopes: scopes.join(",")
        })
      )
    })
    const registration = runFork(program)
    conn.registration = registration
    // Once done it is forgotten: a finished fiber is kilobytes, and a connection may live for days.
    registration.addObserver(() => {
      if (conn.registration === registration) conn.registration = undefined
    })
  }

  /** The first frame was `req connect` with id `id`: negotiate, admit, then hello-ok or a refusal and a close. */
  const onConnect = (conn: Conn, id: string, rawParams: unknown) => {
    const decoded = decodeConnectParams(rawParams)
    if (decoded._tag === "Left") {
      return c.failHandshake(
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
      return c.failHandshake(
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
    const peer = {
      ip: conn.ip,
      isLoopback: conn.isLoopback,
      forwarded: conn.forwarded,
      hasOrigin: conn.hasOrigin,
      local: conn.local,
      tailscale: conn.tailscale
    }
    const fiber = runFork(admission.admit({ params, peer, nonce: conn.nonce }))
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
        Effect.annotateLogs(Effect.logWarning("connect refused"), {
          connId: conn.connId,
          ip: conn.ip,
          client: printable(params.client.id, 64),
          role,
          code: printable(error.detailCode ?? error.code, 64)
        })
      )
      c.failHandshake(conn, id, error, CloseCode.policy)
    })
  }

  /** The socket closed: out of the table and the budgets, its requests interrupted, and its scope closed if it was connected. */
  const onClose = (conn: Conn) => {
    const wasReady = conn.ctx !== undefined
    conn.phase = "closed"
    c.conns.delete(conn.connId)
    c.leavePreAuth(conn)
    for (const f of conn.inflight) runFork(Fiber.interrupt(f))
    if (!wasReady) return
    runFork(
      Effect.gen(function* () {
        // A connection that closes while it is still being registered is unregistered after it.
        if (conn.registration) yield* Fiber.await(conn.registration)
        const scope = conn.scope
        conn.scope = undefined
        if (scope !== undefined) yield* Scope.close(scope, Exit.void)
      })
    )
  }

  return { onConnect, onClose }
}

export type Handshake = ReturnType<typeof makeHandshake>
