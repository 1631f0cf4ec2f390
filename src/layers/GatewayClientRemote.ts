/**
 * GatewayClient over a WebSocket: one connection opened in the caller's
 * scope, its parts in client/ (the socket and TLS pinning, request
 * correlation with two-phase replies and tick-timeout detection, the
 * handshake), composed here in the order they happen.
 */
import { Effect, Layer, PubSub, Scope, Stream } from "effect"
import type { EventFrame } from "../protocol/frames.js"
import {
  GatewayClient,
  type GatewayClientError,
  GatewayConnector,
  type GatewayClientService,
  type RemoteClientOptions,
  type RemoteConnection
} from "../services/GatewayClient.js"
import { correlate } from "./client/correlation.js"
import { handshake } from "./client/handshake.js"
import { openSocket, pinnedTlsSocket, targetInfo } from "./client/socket.js"
import { callThrough } from "./clientCall.js"

export type { RemoteClientOptions, RemoteConnection } from "../services/GatewayClient.js"
export { certFingerprint } from "./client/socket.js"

/** Opens one connection and completes the handshake; closed with the scope. */
export const connectRemote = (options: RemoteClientOptions): Effect.Effect<RemoteConnection, GatewayClientError, Scope.Scope> =>
  Effect.gen(function* () {
    const target = options.target
    const connectTimeoutMs = options.connectTimeoutMs ?? 10_000
    const url = new URL(target.url)
    const started = Date.now()

    const preconnected =
      url.protocol === "wss:" && target.tlsFingerprint
        ? yield* pinnedTlsSocket(target, target.tlsFingerprint, url, connectTimeoutMs)
        : undefined

    // Events that arrive with hello-ok, before anyone subscribed, are replayed to the first subscribers
    // (a node must not miss an invoke sent the moment it connects).
    const events = yield* Effect.acquireRelease(PubSub.unbounded<EventFrame>({ replay: 64 }), PubSub.shutdown)
    const ws = yield* openSocket(target, connectTimeoutMs, preconnected)
    const link = yield* correlate({ target, ws, events, defaultRequestTimeoutMs: options.defaultRequestTimeoutMs })
    const rawRequest = link.request

    // Handshake: wait for the challenge, send connect, read hello-ok.
    const nonce = yield* link.awaitChallenge(connectTimeoutMs)
    const { hello, tickIntervalMs, issued } = yield* handshake(options, nonce, connectTimeoutMs, rawRequest)
    yield* link.watch(tickIntervalMs)

    const server = {
      version: hello.server.version,
      protocol: hello.protocol,
      connId: hello.server.connId,
      methods: hello.features?.methods ?? [],
      authMethod: hello.auth?.method,
      scopes: hello.auth?.scopes ?? [],
      tickIntervalMs,
      connectMs: Date.now() - started
    }

    return {
      server,
      request: (method, params, opts = {}) => rawRequest(method, params, opts),
      events: Stream.fromPubSub(events),
      closed: link.closed,
      deviceToken: issued
    } satisfies RemoteConnection
  })

/** Connects lazily, on the first `connect` or `request`, and once only. */
export const makeGatewayClientRemote = (options: RemoteClientOptions) =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const connection = yield* Effect.cached(Scope.extend(connectRemote(options), scope))
    const request: GatewayClientService["request"] = (method, params, opts) =>
      Effect.flatMap(connection, (c) => c.request(method, params, opts))
    return {
      target: targetInfo(options.target),
      connect: Effect.map(connection, (c) => c.server),
      request,
      call: callThrough(request),
      events: Stream.unwrap(Effect.map(Effect.orDie(connection), (c) => c.events))
    } satisfies GatewayClientService
  })

export const GatewayClientRemote = (options: RemoteClientOptions) => Layer.scoped(GatewayClient, makeGatewayClientRemote(options))

/** Connections opened one at a time by the program (the node host, which reconnects by itself). */
export const GatewayConnectorRemote = Layer.succeed(GatewayConnector, { connect: connectRemote })
