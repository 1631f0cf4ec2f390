/**
 * GatewayClient over a WebSocket: challenge, connect, request/response
 * correlation, two-phase replies, tick-timeout detection, TLS pinning.
 */
import * as tls from "node:tls"
import { createHash, randomUUID } from "node:crypto"
import { Deferred, Duration, Effect, Layer, PubSub, Scope, Stream } from "effect"
import WebSocket from "ws"
import { normalizeFingerprint, type Target } from "../config/target.js"
import { signedText } from "../protocol/device.js"
import { GatewayError } from "../protocol/errors.js"
import { decodeText } from "../protocol/codec.js"
import {
  ALL_SCOPES,
  CloseCode,
  DEFAULT_TICK_INTERVAL_MS,
  MAX_PAYLOAD,
  PROTOCOL_VERSION,
  decodeHelloOk,
  type EventFrame
} from "../protocol/frames.js"
import {
  GatewayClient,
  GatewayClientError,
  GatewayConnector,
  type GatewayClientService,
  type RemoteClientOptions,
  type RemoteConnection,
  type RequestOptions,
  type TargetInfo
} from "../services/GatewayClient.js"
import { VERSION } from "../version.js"
import { callThrough } from "./clientCall.js"

export type { RemoteClientOptions } from "../services/GatewayClient.js"

interface Pending {
  readonly deferred: Deferred.Deferred<unknown, GatewayError | GatewayClientError>
  readonly expectFinal: boolean
}

const targetInfo = (t: Target): TargetInfo => ({
  url: t.url,
  urlSource: t.urlSource,
  mode: t.mode,
  authSource: t.authSource
})

/** The SHA-256 of the certificate's DER, as normalised hex. */
export const certFingerprint = (cert: tls.PeerCertificate): string => createHash("sha256").update(cert.raw).digest("hex")

const deviceFamily = () =>
  process.platform === "darwin"
    ? "Mac"
    : process.platform === "win32"
      ? "Windows"
      : process.platform === "linux"
        ? "Linux"
        : process.platform

const describeWhere = (t: Target) => `${t.url} (from ${t.urlSource})`

/**
 * For a pinned wss:// URL, finish the TLS handshake ourselves and compare the
 * certificate before handing the socket to `ws`: nothing (no HTTP byte, no
 * credential) is written to a server whose certificate does not match.
 */
const pinnedTlsSocket = (target: Target, fingerprint: string, url: URL, timeoutMs: number) =>
  Effect.async<tls.TLSSocket, GatewayClientError>((resume) => {
    const expected = normalizeFingerprint(fingerprint)
    const host = url.hostname.replace(/^\[|\]$/g, "")
    const socket = tls.connect({
      host,
      port: Number(url.port || 443),
      servername: /^[\d.:]+$/.test(host) ? undefined : host,
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
      ALPNProtocols: ["http/1.1"]
    } as tls.ConnectionOptions)
    const timer = setTimeout(() => {
      socket.destroy()
      resume(
        Effect.fail(
          new GatewayClientError({
            reason: "Connect",
            target: targetInfo(target),
            message: `TLS handshake with ${describeWhere(target)} timed out after ${timeoutMs} ms`
          })
        )
      )
    }, timeoutMs)
    socket.once("secureConnect", () => {
      clearTimeout(timer)
      const cert = socket.getPeerCertificate(false)
      const presented = cert?.raw ? certFingerprint(cert) : "(none)"
      if (presented !== expected) {
        socket.destroy()
        return resume(
          Effect.fail(
            new GatewayClientError({
              reason: "TlsPin",
              target: targetInfo(target),
              message:
                `TLS certificate fingerprint mismatch for ${describeWhere(target)}: expected sha256:${expected} ` +
                `(from ${target.tlsFingerprintSource}), server presented sha256:${presented}. Nothing was sent. ` +
                `If the Gateway's certificate changed on purpose, update the pin (clawgate gateway tls fingerprint on the Gateway host).`
            })
          )
        )
      }
      resume(Effect.succeed(socket))
    })
    socket.once("error", (e) => {
      clearTimeout(timer)
      resume(
        Effect.fail(
          new GatewayClientError({
            reason: "Connect",
            target: targetInfo(target),
            message: `cannot reach ${describeWhere(target)}: ${e.message}`
          })
        )
      )
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      socket.destroy()
    })
  })

const connectError = (target: Target, e: unknown): GatewayClientError => {
  const err = e as NodeJS.ErrnoException
  const hint =
    err.code === "ECONNREFUSED"
      ? target.mode === "local"
        ? "is the Gateway running? Start it with `clawgate gateway run` (or `npm start`)"
        : "is the Gateway running and reachable there? (an SSH tunnel may be down)"
      : err.code === "ENOTFOUND"
        ? "the host name does not resolve"
        : err.code === "ETIMEDOUT"
          ? "the host did not answer"
          : undefined
  return new GatewayClientError({
    reason: "Connect",
    target: targetInfo(target),
    message: `cannot reach the Gateway at ${describeWhere(target)}: ${err.code ?? err.message ?? String(e)}${hint ? ` — ${hint}` : ""}`
  })
}

const authFailure = (target: Target, error: GatewayError): GatewayClientError => {
  const code = error.detailCode ?? ""
  const fix =
    code === "AUTH_TOKEN_MISSING" || code === "AUTH_PASSWORD_MISSING"
      ? target.mode === "remote"
        ? "pass --token (or --password), or set gateway.remote.token"
        : "pass --token, set CLAWGATE_GATEWAY_TOKEN, or check gateway.auth.token in the config"
      : code === "AUTH_TOKEN_MISMATCH" || code === "AUTH_PASSWORD_MISMATCH"
        ? `the credential from ${target.authSource ?? "(none)"} is not the Gateway's; fix it there`
        : code === "AUTH_RATE_LIMITED"
          ? `too many failures from this address; wait ${Math.ceil((error.retryAfterMs ?? 0) / 1000)} s`
          : code === "PAIRING_REQUIRED"
            ? `approve it on the Gateway host: clawgate devices approve ${(error.details as { requestId?: string }).requestId ?? "<requestId>"}`
            : code === "AUTH_DEVICE_TOKEN_MISMATCH"
              ? "this device's token was rotated or revoked; connect once with the shared token to re-pair"
              : undefined
  return new GatewayClientError({
    reason: code === "PAIRING_REQUIRED" ? "NotPaired" : code.startsWith("AUTH_") ? "Auth" : "Handshake",
    target: targetInfo(target),
    error,
    message: `${describeWhere(target)} refused the connection: ${error.message}${fix ? ` — ${fix}` : ""}`
  })
}

export type { RemoteConnection } from "../services/GatewayClient.js"

/** Opens one connection and completes the handshake; closed with the scope. */
export const connectRemote = (options: RemoteClientOptions): Effect.Effect<RemoteConnection, GatewayClientError, Scope.Scope> =>
  Effect.gen(function* () {
    const target = options.target
    const info = targetInfo(target)
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
    const pending = new Map<string, Pending>()
    let challenge: Deferred.Deferred<string | undefined, GatewayClientError> | undefined = yield* Deferred.make<
      string | undefined,
      GatewayClientError
    >()
    let lastMessageAt = Date.now()
    let closedError: GatewayClientError | undefined
    let counter = 0

    const ws = yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new WebSocket(target.url, {
            maxPayload: MAX_PAYLOAD,
            perMessageDeflate: false,
            handshakeTimeout: connectTimeoutMs,
            ...(preconnected ? { createConnection: () => preconnected } : {})
          } as WebSocket.ClientOptions)
      ),
      (ws) =>
        Effect.async<void>((resume) => {
          if (ws.readyState === WebSocket.CLOSED) return resume(Effect.void)
          const t = setTimeout(() => {
            ws.terminate()
            resume(Effect.void)
          }, 1000)
          ws.once("close", () => {
            clearTimeout(t)
            resume(Effect.void)
          })
          if (ws.readyState === WebSocket.CONNECTING) ws.terminate()
          else ws.close(CloseCode.normal)
        })
    )

    const closedSignal = yield* Deferred.make<never, GatewayClientError>()
    const failAll = (error: GatewayClientError) => {
      closedError ??= error
      Deferred.unsafeDone(closedSignal, Effect.fail(closedError))
      if (challenge) Deferred.unsafeDone(challenge, Effect.fail(error))
      for (const [, p] of pending) Deferred.unsafeDone(p.deferred, Effect.fail(error))
      pending.clear()
    }

    ws.on("error", (e) => failAll(connectError(target, e)))
    ws.on("unexpected-response", (_req, res) => {
      failAll(
        new GatewayClientError({
          reason: "Connect",
          target: info,
          message: `${describeWhere(target)} answered HTTP ${res.statusCode} instead of a WebSocket upgrade (is that a Gateway?)`
        })
      )
      ws.terminate()
    })
    ws.on("close", (code, reasonBuf) => {
      const reason = reasonBuf.toString()
      failAll(
        new GatewayClientError({
          reason: code === CloseCode.tickTimeout ? "Timeout" : "Closed",
          target: info,
          message: `connection to ${describeWhere(target)} closed (${code}${reason ? ` ${reason}` : ""})`
        })
      )
    })
    ws.on("message", (data) => {
      lastMessageAt = Date.now()
      // A Gateway's frames are bounded like a client's: one nested too deep is dropped before it is parsed.
      const decoded = decodeText(data.toString())
      if (!decoded.ok || typeof decoded.value !== "object" || decoded.value === null) return
      const frame = decoded.value as { type?: unknown; id?: unknown; event?: unknown; ok?: unknown; payload?: unknown; error?: unknown }
      if (frame.type === "event") {
        if (frame.event === "connect.challenge" && challenge) {
          const nonce = (frame.payload as { nonce?: unknown } | undefined)?.nonce
          Deferred.unsafeDone(challenge, Effect.succeed(typeof nonce === "string" ? nonce : undefined))
          return
        }
        try {
          Effect.runSync(PubSub.publish(events, frame as EventFrame))
        } catch {
          // closed while the socket was still delivering
        }
        return
      }
      if (frame.type !== "res" || typeof frame.id !== "string") return
      const p = pending.get(frame.id)
      if (!p) return
      if (frame.ok === true) {
        const status = (frame.payload as { status?: unknown } | undefined)?.status
        if (p.expectFinal && status === "accepted") return
        pending.delete(frame.id)
        Deferred.unsafeDone(p.deferred, Effect.succeed(frame.payload))
      } else {
        pending.delete(frame.id)
        const shape = frame.error as { code?: unknown; message?: unknown } | undefined
        Deferred.unsafeDone(
          p.deferred,
          Effect.fail(
            typeof shape?.code === "string" && typeof shape.message === "string"
              ? GatewayError.fromShape(shape as never)
              : GatewayError.invalidRequest("the Gateway sent a malformed error")
          )
        )
      }
    })

    const rawRequest = (method: string, params: unknown, opts: RequestOptions) =>
      Effect.gen(function* () {
        if (closedError) return yield* closedError
        const id = `${method}-${++counter}-${randomUUID().slice(0, 8)}`
        const deferred = yield* Deferred.make<unknown, GatewayError | GatewayClientError>()
        pending.set(id, { deferred, expectFinal: opts.expectFinal ?? false })
        ws.send(JSON.stringify({ type: "req", id, method, ...(params === undefined ? {} : { params }) }))
        const timeoutMs = opts.timeoutMs ?? options.defaultRequestTimeoutMs ?? (opts.expectFinal ? 30_000 : 10_000)
        return yield* Deferred.await(deferred).pipe(
          Effect.timeoutFail({
            duration: Duration.millis(timeoutMs),
            onTimeout: () =>
              new GatewayClientError({
                reason: "Timeout",
                target: info,
                message: `${method} got no answer from ${describeWhere(target)} within ${timeoutMs} ms (raise it with --timeout)`
              })
          }),
          Effect.ensuring(Effect.sync(() => pending.delete(id)))
        )
      })

    // Handshake: wait for the challenge, send connect, read hello-ok.
    const nonce = yield* Deferred.await(challenge).pipe(
      Effect.timeoutFail({
        duration: Duration.millis(connectTimeoutMs),
        onTimeout: () =>
          new GatewayClientError({
            reason: "Connect",
            target: info,
            message: `no connect.challenge from ${describeWhere(target)} within ${connectTimeoutMs} ms (is that a Gateway?)`
          })
      })
    )
    challenge = undefined
    const role = options.role ?? "operator"
    const scopes = options.scopes ?? (role === "operator" ? ALL_SCOPES : [])
    const device = options.device
    const stored = device && !target.token && !target.password ? yield* device.tokenFor(target.url, role) : undefined
    const auth = {
      ...(target.token ? { token: target.token } : {}),
      ...(target.password ? { password: target.password } : {}),
      ...(stored ? { deviceToken: stored.token } : {})
    }
    const client = {
      id: options.client?.id ?? "cli",
      version: VERSION,
      platform: process.platform,
      deviceFamily: deviceFamily(),
      mode: options.client?.mode ?? "cli",
      ...(options.client?.displayName ? { displayName: options.client.displayName } : {}),
      instanceId: options.client?.instanceId ?? randomUUID()
    }
    const signedAt = Date.now()
    const deviceProof = device
      ? {
          id: device.deviceId,
          publicKey: device.publicKey,
          signedAt,
          nonce: nonce ?? "",
          signature: device.sign(
            signedText("v3", {
              deviceId: device.deviceId,
              clientId: client.id,
              clientMode: client.mode,
              role,
              scopes,
              signedAtMs: signedAt,
              token: auth.token ?? auth.deviceToken ?? "",
              nonce: nonce ?? "",
              platform: client.platform,
              deviceFamily: client.deviceFamily
            })
          )
        }
      : undefined
    const connectParams = {
      minProtocol: PROTOCOL_VERSION,
      maxProtocol: PROTOCOL_VERSION,
      // Only the fields OpenClaw's own CLI sends: its Gateway rejects unknown ones.
      client,
      role,
      scopes,
      caps: options.caps ?? [],
      ...(options.commands ? { commands: options.commands } : {}),
      auth,
      ...(deviceProof ? { device: deviceProof } : {})
    }
    const helloRaw = yield* rawRequest("connect", connectParams, { timeoutMs: connectTimeoutMs }).pipe(
      Effect.catchTag("GatewayError", (e) => Effect.fail(authFailure(target, e)))
    )
    const hello = decodeHelloOk(helloRaw)
    if (hello._tag === "Left") {
      return yield* new GatewayClientError({
        reason: "Handshake",
        target: info,
        message: `${describeWhere(target)} answered connect with something that is not hello-ok`
      })
    }
    const tickIntervalMs = hello.right.policy?.tickIntervalMs ?? DEFAULT_TICK_INTERVAL_MS
    const issued = hello.right.auth?.deviceToken
    if (device && issued) {
      yield* device.storeToken(target.url, {
        token: issued,
        role,
        scopes: hello.right.auth?.scopes ?? [],
        issuedAtMs: Date.now()
      })
    }

    // Tick watchdog: silence for twice the tick interval means the link is dead.
    const watchdog = setInterval(
      () => {
        if (Date.now() - lastMessageAt > tickIntervalMs * 2 && ws.readyState === WebSocket.OPEN) {
          ws.close(CloseCode.tickTimeout, "tick timeout")
          failAll(
            new GatewayClientError({
              reason: "Timeout",
              target: info,
              message: `tick timeout: no frame from ${describeWhere(target)} for ${tickIntervalMs * 2} ms`
            })
          )
        }
      },
      Math.min(tickIntervalMs, 5_000)
    )
    watchdog.unref()
    yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(watchdog)))

    const server = {
      version: hello.right.server.version,
      protocol: hello.right.protocol,
      connId: hello.right.server.connId,
      methods: hello.right.features?.methods ?? [],
      authMethod: hello.right.auth?.method,
      scopes: hello.right.auth?.scopes ?? [],
      tickIntervalMs,
      connectMs: Date.now() - started
    }

    return {
      server,
      request: (method, params, opts = {}) => rawRequest(method, params, opts),
      events: Stream.fromPubSub(events),
      closed: Deferred.await(closedSignal).pipe(Effect.flip),
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
