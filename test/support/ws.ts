/**
 * A raw WebSocket peer for protocol tests: sends exactly the frames a test
 * writes and exposes every frame and the close code it receives.
 */
import WebSocket from "ws"
import { Effect, type Scope } from "effect"

export interface Frame {
  readonly type: string
  readonly id?: string
  readonly ok?: boolean
  readonly event?: string
  readonly payload?: any
  readonly error?: { code: string; message: string; details?: any; retryAfterMs?: number; retryable?: boolean }
  readonly seq?: number
}

export class RawPeer {
  readonly frames: Array<Frame> = []
  private waiters: Array<() => void> = []
  readonly closed: Promise<{ code: number; reason: string }>
  readonly opened: Promise<void>

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      this.frames.push(JSON.parse(data.toString()))
      this.wake()
    })
    this.closed = new Promise((resolve) =>
      ws.on("close", (code, reason) => {
        this.wake()
        resolve({ code, reason: reason.toString() })
      })
    )
    this.opened = new Promise((resolve, reject) => {
      ws.once("open", () => resolve())
      ws.once("error", reject)
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    })
  }

  private wake() {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame))
  }

  /** The first frame (after `from`) matching `pred`, waiting up to `timeoutMs`. */
  async waitFor(pred: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const hit = this.frames.find(pred)
      if (hit) return hit
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`closed before a matching frame; got ${JSON.stringify(this.frames)}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames)}`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }

  response(id: string, timeoutMs?: number): Promise<Frame> {
    return this.waitFor((f) => f.type === "res" && f.id === id, timeoutMs)
  }

  /** Sends a request and waits for its response. */
  async call(method: string, params?: unknown, id = `${method}-${Math.random().toString(36).slice(2)}`): Promise<Frame> {
    this.send({ type: "req", id, method, ...(params === undefined ? {} : { params }) })
    return this.response(id)
  }
}

export const connectParams = (overrides: Record<string, unknown> = {}) => ({
  minProtocol: 4,
  maxProtocol: 4,
  client: { id: "test", version: "0.0.0", platform: "linux", mode: "cli" },
  role: "operator",
  scopes: ["operator.admin"],
  caps: [],
  ...overrides
})

/** Opens a socket (no handshake yet); closed with the scope. */
export const openPeer = (url: string, options: WebSocket.ClientOptions = {}): Effect.Effect<RawPeer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new RawPeer(new WebSocket(url, { perMessageDeflate: false, ...options }))),
    (peer) => Effect.sync(() => peer.ws.terminate())
  )

/** Opens a socket and completes the handshake with `params`. */
export const handshake = (url: string, params: Record<string, unknown>, options: WebSocket.ClientOptions = {}) =>
  Effect.gen(function* () {
    const peer = yield* openPeer(url, options)
    yield* Effect.promise(() => peer.opened)
    yield* Effect.promise(() => peer.waitFor((f) => f.event === "connect.challenge"))
    const res = yield* Effect.promise(() => peer.call("connect", params, "c1"))
    return { peer, res }
  })
