/**
 * The WebSocket + HTTP transport on Node's `http` server and `ws`, composed
 * from its parts in `transport/`:
 *
 *   startup.ts    what the Gateway refuses to start with; the generated token; Tailscale Serve
 *   listen.ts     the listeners, each a resource of this layer's scope
 *   upgrade.ts    TCP accept to connect.challenge: pre-auth budgets, HTTP routes, origin, query tokens
 *   frames.ts     the per-connection frame loop, in-flight and denied-call budgets, the Dispatcher
 *   handshake.ts  connect negotiation, Admission (services/Admission), registration, hello-ok
 *   fanout.ts     EventBus events to connections, serialised once, coalesced
 *   timers.ts     ticks, the handshake deadline, pings, the rotated-credential check (on the Clock)
 *   connection.ts the table of connections and the writes and closes every part shares
 *
 * Every peer is held to the budgets of `transport/budgets.ts` from the moment
 * its TCP connection is accepted. Shutdown, here, refuses new work, tells
 * everyone, answers what is in flight and then closes.
 */
import { Duration, Effect, ExecutionStrategy, Fiber, Layer, Option, Runtime, Scope } from "effect"
import { CloseCode } from "../protocol/frames.js"
import { Admission } from "../services/Admission.js"
import { Auth } from "../services/Auth.js"
import { ConfigStore } from "../services/Config.js"
import { ConnectionHub } from "../services/ConnectionHub.js"
import { Devices } from "../services/Devices.js"
import { Dispatcher } from "../services/Dispatcher.js"
import { EventBus } from "../services/EventBus.js"
import { GatewayRunFlags, GatewayServer } from "../services/GatewayServer.js"
import { GatewayState } from "../services/GatewayState.js"
import { Health } from "../services/Health.js"
import { HttpRoutes } from "../services/HttpRoutes.js"
import { NodeRegistry } from "../services/NodeRegistry.js"
import { Presence } from "../services/Presence.js"
import { CheckStatus, Readiness } from "../services/Readiness.js"
import { Tailscale } from "../services/Tailscale.js"
import { AdmissionLive } from "./admission/AdmissionLive.js"
import { StatePermissions } from "./StatePermissions.js"
import { makeConnections } from "./transport/connection.js"
import { makeFanout } from "./transport/fanout.js"
import { makeFrames } from "./transport/frames.js"
import { makeHandshake } from "./transport/handshake.js"
import { closeServer, listenAll } from "./transport/listen.js"
import { generateToken, hostForUrl, planStart, serveTailscale } from "./transport/startup.js"
import { runTimers } from "./transport/timers.js"
import { makeUpgrade } from "./transport/upgrade.js"

/** How long shutdown waits for in-flight requests before closing sockets. */
const DRAIN_TIMEOUT_MS = 5_000

export const makeGatewayServer = Effect.gen(function* () {
  const flags = yield* GatewayRunFlags
  const config = yield* ConfigStore
  const auth = yield* Auth
  const admission = yield* Admission
  const dispatcher = yield* Dispatcher
  const presence = yield* Presence
  const health = yield* Health
  const state = yield* GatewayState
  const bus = yield* EventBus
  const hub = yield* ConnectionHub
  const devices = yield* Devices
  const nodes = yield* NodeRegistry
  const tailscale = yield* Tailscale
  // What the probes answer (/startupz, /readyz): this layer marks "listeners" once it serves.
  const readiness = yield* Readiness
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

  const { cfg, portChoice, bindMode, plan, tls, limits, tickIntervalMs, tailscaleMode, ...start } = yield* planStart(flags, config, auth)

  const connections = makeConnections({ runFork, now })
  const { conns, status } = connections
  yield* state.countPendingWith(() => connections.pendingSockets.size)
  yield* state.countInflightWith(() => status.inflightTotal)

  // Every connected connection's scope is forked from this one. Made before the shutdown finalizer below, it is
  // closed after it: what a connection registered is released even if its socket's close never arrives.
  const connectionsScope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)

  const fanout = makeFanout(connections, Effect.all({ presence: presence.version, health: health.version }))
  const handshake = makeHandshake({
    connections,
    runFork,
    admission,
    dispatcher,
    state,
    hub,
    devices,
    nodes,
    presence,
    health,
    tickIntervalMs,
    connectionsScope
  })
  const frames = makeFrames({ connections, handshake, dispatcher, limits, runFork, now })
  const upgrade = makeUpgrade({
    connections,
    attach: frames.attach,
    config,
    state,
    routes,
    readiness,
    limits,
    runFork,
    runSync,
    now
  })

  const { servers, listeners, port } = yield* listenAll(
    { hosts: plan.hosts, port: portChoice.port, portSource: portChoice.source, tls, limits },
    upgrade
  )
  const { generatedToken, resolvedAuth } = yield* generateToken(start.resolvedAuth, config, auth)

  const primary = listeners[0]
  if (primary === undefined) return yield* Effect.dieMessage("listenAll returned without a listener")
  const scheme = tls ? "wss" : "ws"
  const url = `${scheme}://${hostForUrl(primary.host === "0.0.0.0" ? "127.0.0.1" : primary.host)}:${port}`
  yield* state.setServing({
    bind: bindMode,
    port,
    listeners,
    authMode: resolvedAuth.mode,
    tls: tls !== undefined,
    tlsFingerprint: tls?.fingerprint,
    tailscale: tailscaleMode
  })

  yield* fanout.run(bus)
  yield* runTimers({ connections, fanout, auth, limits, tickIntervalMs, runFork, now })

  // Graceful shutdown: refuse new work, tell everyone, answer what is in flight, then close.
  yield* Effect.addFinalizer(() =>
    Effect.gen(function* () {
      status.shuttingDown = true
      for (const server of servers) server.close()
      yield* fanout.broadcast({ event: "shutdown", payload: { reason: "gateway stopping", restartExpectedMs: null }, role: "all" })
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
      upgrade.wss.close()
      yield* Effect.logInfo("gateway stopped")
    })
  )

  if (tailscaleMode !== "off") {
    yield* serveTailscale(tailscale, {
      mode: tailscaleMode,
      target: `${tls ? "https+insecure" : "http"}://${hostForUrl(primary.host)}:${port}`,
      resetOnExit: cfg.gateway?.tailscale?.resetOnExit === true
    })
  }

  yield* Effect.logInfo(
    `gateway listening on ${listeners.map((l) => `${scheme}://${hostForUrl(l.host)}:${l.port}`).join(", ")} (bind ${bindMode}, auth ${resolvedAuth.mode}, port from ${portChoice.source})`
  )
  if (tls) {
    yield* Effect.logInfo(
      `TLS 1.3 with ${tls.generated ? "a newly generated" : "the"} certificate ${tls.certPath}; clients pin sha256:${tls.fingerprint}`
    )
  }

  // Bound, the token stored, Tailscale pointed here: start-up's last stage.
  yield* readiness.mark("listeners", CheckStatus.up)

  return GatewayServer.of({ bind: bindMode, port, listeners, url, generatedToken, tlsFingerprint: tls?.fingerprint })
})

/** The transport, with its Admission built on the Auth and Devices of the Gateway it is given. */
export const GatewayServerLive = Layer.scoped(GatewayServer, makeGatewayServer).pipe(Layer.provide(AdmissionLive))
