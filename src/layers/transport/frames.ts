/**
 * The per-connection frame loop: every text frame bounded in depth before it
 * is parsed, the first one required to be `connect` (handshake.ts), every
 * later one a `req` handed to the Dispatcher, within the connection's budgets
 * for requests in flight and for refused calls.
 *
 * Frames are read in plain socket callbacks. A request runs as a fiber on the
 * layer's runtime, tracked per connection so shutdown can answer it before the
 * socket closes; `node.invoke` and `node.invoke.result` take the Dispatcher's
 * fiberless path (`unsafeDispatch`) and are answered through a callback.
 */
import { Cause, type Context, Effect, Exit, Option } from "effect"
import type { RawData } from "ws"
import { decodeText, printable } from "../../protocol/codec.js"
import { GatewayError } from "../../protocol/errors.js"
import { CloseCode, asRequestFrame } from "../../protocol/frames.js"
import type { CallContext, Dispatcher } from "../../services/Dispatcher.js"
import { DeniedCalls, type Limits } from "./budgets.js"
import { type Conn, type Connections, type RunFork, errorFrame } from "./connection.js"
import type { Handshake } from "./handshake.js"

/** Request ids longer than this are refused (OpenClaw's are about 40 characters). */
const MAX_REQUEST_ID = 256

/** A refusal for a missing scope or role: what the denied-calls budget counts. */
const isDenial = (error: GatewayError) =>
  error.code === "FORBIDDEN" && (error.detailCode === "MISSING_SCOPE" || error.detailCode === "ROLE_NOT_ALLOWED")

export interface FramesDeps {
  readonly connections: Connections
  readonly handshake: Handshake
  readonly dispatcher: Context.Tag.Service<typeof Dispatcher>
  readonly limits: Limits
  readonly runFork: RunFork
  readonly now: () => number
}

export const makeFrames = ({ connections: c, handshake, dispatcher, limits, runFork, now }: FramesDeps) => {
  const { send } = c

  const answer = (conn: Conn, id: string, method: string, exit: Exit.Exit<unknown, GatewayError>) => {
    conn.inflightCount -= 1
    c.status.inflightTotal -= 1
    if (Exit.isSuccess(exit)) return c.sendResult(conn, id, exit.value)
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

  const onRequest = (conn: Conn, ctxBase: CallContext, id: string, method: string, params: unknown) => {
    const denied = conn.denied
    const verdict = denied?.check(now())
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
        runFork(Effect.logWarning(`closing ${conn.connId} from ${conn.ip}: ${denied?.inWindow} denied or throttled calls within a minute`))
        limited("too many denied calls: closing the connection", "DENIED_CALLS_LIMIT", limit)
        return c.closeConn(conn, CloseCode.policy, `too many denied calls (gateway.limits.deniedCallsPerMinute ${limit})`)
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
    c.status.inflightTotal += 1
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
      if (conn.phase === "handshake") return c.failHandshake(conn, "", error, CloseCode.policy)
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
      if (conn.phase === "handshake") return c.failHandshake(conn, rawId, error, CloseCode.policy)
      return send(conn, errorFrame(rawId, error))
    }
    // Ids are echoed in every answer to the request: bounded, like every name a peer sends.
    if (req.id.length > MAX_REQUEST_ID) {
      const error = GatewayError.invalidRequest(`invalid frame: id must be at most ${MAX_REQUEST_ID} characters`, { code: "INVALID_FRAME" })
      if (conn.phase === "handshake") return c.failHandshake(conn, "", error, CloseCode.policy)
      return send(conn, errorFrame("", error))
    }
    if (conn.phase === "handshake") {
      if (req.method !== "connect") {
        return c.failHandshake(
          conn,
          req.id,
          GatewayError.invalidRequest("invalid handshake: first request must be connect"),
          CloseCode.policy
        )
      }
      return handshake.onConnect(conn, req.id, req.params)
    }
    if (req.method === "connect") {
      return send(conn, errorFrame(req.id, GatewayError.invalidRequest("already connected: connect is sent once")))
    }
    if (c.status.shuttingDown) {
      return send(conn, errorFrame(req.id, GatewayError.unavailable("gateway shutting down")))
    }
    // Ready, so its context is set (completeHandshake sets it before the phase).
    if (conn.ctx !== undefined) onRequest(conn, conn.ctx, req.id, req.method, req.params)
  }

  /*
   * The socket's listeners hold the connection and nothing else (see handleOf in handshake.ts): they live as
   * long as the connection does.
   */
  const attach = (conn: Conn) => {
    conn.ws.on("message", (data, isBinary) => {
      try {
        onMessage(conn, data, isBinary)
      } catch (e) {
        c.failed(conn, "a frame", e)
      }
    })
    conn.ws.on("pong", () => void (conn.missedPongs = 0))
    conn.ws.on("close", () => handshake.onClose(conn))
    conn.ws.on("error", () => {
      // ws closes the socket itself (1009 for an oversized frame, 1002 for a bad one).
    })
  }

  return { attach }
}

export type Frames = ReturnType<typeof makeFrames>
