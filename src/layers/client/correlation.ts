/**
 * GatewayClientRemote's request correlation: every frame the Gateway sends,
 * routed (the connect challenge to the handshake, events to the PubSub, a
 * response to the request waiting for its id, two-phase replies held until
 * the final one), requests sent with their timeout, and the end of the link
 * (a close, an error, a tick timeout) failing everything still waiting.
 */
import { randomUUID } from "node:crypto"
import { Deferred, Duration, Effect, PubSub } from "effect"
import WebSocket from "ws"
import type { Target } from "../../config/target.js"
import { decodeText } from "../../protocol/codec.js"
import { GatewayError } from "../../protocol/errors.js"
import { CloseCode, type EventFrame } from "../../protocol/frames.js"
import { GatewayClientError, type RequestOptions } from "../../services/GatewayClient.js"
import { connectError, describeWhere, targetInfo } from "./socket.js"

interface Pending {
  readonly deferred: Deferred.Deferred<unknown, GatewayError | GatewayClientError>
  readonly expectFinal: boolean
}

/** Attaches to `ws` and correlates its frames until it closes. */
export const correlate = (args: {
  readonly target: Target
  readonly ws: WebSocket
  readonly events: PubSub.PubSub<EventFrame>
  readonly defaultRequestTimeoutMs: number | undefined
}) =>
  Effect.gen(function* () {
    const { target, ws, events } = args
    const info = targetInfo(target)
    const pending = new Map<string, Pending>()
    const challenge = yield* Deferred.make<string | undefined, GatewayClientError>()
    // Until the handshake has its nonce; after that a connect.challenge is an ordinary event.
    let awaitingChallenge = true
    let lastMessageAt = Date.now()
    let closedError: GatewayClientError | undefined
    let counter = 0

    const closedSignal = yield* Deferred.make<never, GatewayClientError>()
    const failAll = (error: GatewayClientError) => {
      closedError ??= error
      Deferred.unsafeDone(closedSignal, Effect.fail(closedError))
      if (awaitingChallenge) Deferred.unsafeDone(challenge, Effect.fail(error))
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
        if (frame.event === "connect.challenge" && awaitingChallenge) {
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

    const request = (method: string, params: unknown, opts: RequestOptions) =>
      Effect.gen(function* () {
        if (closedError) return yield* closedError
        const id = `${method}-${++counter}-${randomUUID().slice(0, 8)}`
        const deferred = yield* Deferred.make<unknown, GatewayError | GatewayClientError>()
        pending.set(id, { deferred, expectFinal: opts.expectFinal ?? false })
        ws.send(JSON.stringify({ type: "req", id, method, ...(params === undefined ? {} : { params }) }))
        const timeoutMs = opts.timeoutMs ?? args.defaultRequestTimeoutMs ?? (opts.expectFinal ? 30_000 : 10_000)
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

    /** The connect challenge's nonce (the handshake waits for it once). */
    const awaitChallenge = (connectTimeoutMs: number) =>
      Effect.gen(function* () {
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
        awaitingChallenge = false
        return nonce
      })

    /** Tick watchdog: silence for twice the tick interval means the link is dead. Stopped with the scope. */
    const watch = (tickIntervalMs: number) =>
      Effect.gen(function* () {
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
      })

    return { request, awaitChallenge, watch, closed: Deferred.await(closedSignal).pipe(Effect.flip) }
  })
