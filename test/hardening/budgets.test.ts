/**
 * Budgets before and after connect, over real sockets: the handshake deadline
 * from TCP accept (silent sockets, trickled headers, no connect), the caps on
 * unauthenticated connections, pings, the denied-calls throttle and the
 * in-flight bound. Deadlines and pings run on the TestClock.
 */
import * as net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, TestClock } from "effect"
import WebSocket from "ws"
import { connectParams, handshake, openPeer, RawPeer } from "../support/ws.js"
import { deviceHandshake, makeTestDevice, nodeParams } from "../support/device.js"
import { startGateway, TOKEN } from "../support/gateway.js"
import { GatewayState } from "../../src/services/GatewayState.js"

const auth = { auth: { token: TOKEN } }
const withLimits = (gateway: Record<string, unknown>) => ({ gateway: { auth: { token: TOKEN }, ...gateway } })

/** Waits (on the wall clock, up to 5 s) until `check` holds: the positive signal a test moves on from. */
const eventually = (check: () => boolean | Promise<boolean>, what: string) =>
  Effect.promise(async () => {
    for (let i = 0; i < 500; i++) {
      if (await check()) return
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new Error(`never happened: ${what}`)
  })

const pendingOf = (gw: { context: Context.Context<unknown> }) =>
  Effect.runPromise(Context.get(gw.context as Context.Context<GatewayState>, GatewayState).connections).then((c) => c.pending)

const rawSocket = (port: number, localAddress = "127.0.0.1") => {
  const socket = net.connect({ port, host: "127.0.0.1", localAddress })
  let data = ""
  socket.on("data", (d) => (data += d.toString()))
  socket.on("error", () => {})
  const closed = new Promise<void>((r) => socket.on("close", () => r()))
  return { socket, closed, data: () => data }
}

describe("the handshake deadline counts from TCP accept", () => {
  it.scoped("a TCP connection that never sends a byte is cut at gateway.handshakeTimeoutMs", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway(withLimits({ handshakeTimeoutMs: 2_000 }))
      const silent = rawSocket(gw.port)
      yield* eventually(async () => (await pendingOf(gw)) === 1, "the Gateway counts the socket as unauthenticated")
      yield* TestClock.adjust("1900 millis")
      expect(yield* Effect.promise(() => pendingOf(gw))).toBe(1)
      yield* TestClock.adjust("200 millis")
      yield* Effect.promise(() => silent.closed)
      expect(silent.data()).toBe("")
      yield* eventually(async () => (await pendingOf(gw)) === 0, "the socket is no longer counted")
    })
  )

  it.scoped("headers trickled byte by byte do not extend it", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway(withLimits({ handshakeTimeoutMs: 2_000 }))
      const slow = rawSocket(gw.port)
      yield* eventually(async () => (await pendingOf(gw)) === 1, "the Gateway counts the socket")
      for (const chunk of ["GET / HTTP/1.1\r\n", "Host: 127.0.0.1\r\n", "Upgrade: websocket\r\n"]) {
        yield* Effect.promise(() => new Promise<void>((r) => slow.socket.write(chunk, () => r())))
        yield* TestClock.adjust("700 millis")
      }
      yield* Effect.promise(() => slow.closed)
      expect(slow.data()).toBe("")
    })
  )

  it.scoped("an upgraded WebSocket without connect is closed 1008 at the deadline; a connected one is not", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway(withLimits({ handshakeTimeoutMs: 2_000 }))
      const idle = yield* openPeer(gw.url)
      yield* Effect.promise(() => idle.waitFor((f) => f.event === "connect.challenge"))
      const connected = yield* handshake(gw.url, connectParams(auth))
      yield* TestClock.adjust("2100 millis")
      const closed = yield* Effect.promise(() => idle.closed)
      expect(closed).toEqual({ code: 1008, reason: "handshake timeout (gateway.handshakeTimeoutMs 2000)" })
      expect((yield* Effect.promise(() => connected.peer.call("health"))).ok).toBe(true)
    })
  )
})

describe("unauthenticated connections are capped", () => {
  it.scopedLive(
    "per client address: the one over gateway.limits.unauthenticatedPerAddress is closed 1013 with why; other addresses are not affected",
    () =>
      Effect.gen(function* () {
        const gw = yield* startGateway(withLimits({ limits: { unauthenticatedPerAddress: 3 } }))
        const first: Array<RawPeer> = []
        for (let i = 0; i < 3; i++) {
          const peer = yield* openPeer(gw.url)
          yield* Effect.promise(() => peer.waitFor((f) => f.event === "connect.challenge"))
          first.push(peer)
        }
        const over = yield* openPeer(gw.url)
        expect(yield* Effect.promise(() => over.closed)).toEqual({
          code: 1013,
          reason: "too many unauthenticated connections from 127.0.0.1 (gateway.limits.unauthenticatedPerAddress 3)"
        })
        expect(over.frames).toEqual([])
        // Another loopback address has its own budget.
        const elsewhere = yield* openPeer(gw.url, { localAddress: "127.0.0.2" })
        yield* Effect.promise(() => elsewhere.waitFor((f) => f.event === "connect.challenge"))
        // A connection that finishes connect leaves the budget: there is room again.
        first[0]!.send({ type: "req", id: "c1", method: "connect", params: connectParams(auth) })
        expect((yield* Effect.promise(() => first[0]!.response("c1"))).ok).toBe(true)
        const again = yield* openPeer(gw.url)
        yield* Effect.promise(() => again.waitFor((f) => f.event === "connect.challenge"))
      })
  )

  it.scopedLive(
    "in all: past gateway.limits.unauthenticatedTotal (and the 64 kept for loopback) new TCP connections are refused until some finish",
    () =>
      Effect.gen(function* () {
        const gw = yield* startGateway(withLimits({ limits: { unauthenticatedTotal: 4 } }))
        // Every test address is loopback, which may use the 64 connections kept for the host beyond the total.
        const silent = Array.from({ length: 4 + 64 }, (_, i) => rawSocket(gw.port, `127.0.${2 + (i % 17)}.1`))
        yield* eventually(async () => (await pendingOf(gw)) === 68, "68 sockets are counted")
        const refused = rawSocket(gw.port, "127.0.0.9")
        yield* Effect.promise(() => refused.closed)
        expect(refused.data()).toBe("")
        for (const s of silent) s.socket.destroy()
        yield* eventually(async () => (await pendingOf(gw)) === 0, "the silent sockets are gone")
        const { res } = yield* handshake(gw.url, connectParams(auth))
        expect(res.ok).toBe(true)
      })
  )
})

describe("pings", () => {
  it.scoped("a peer that stops answering pings is dropped after gateway.limits.maxMissedPongs; one that answers stays", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway(withLimits({ limits: { pingIntervalMs: 1_000, maxMissedPongs: 2 } }))
      const mute = yield* Effect.acquireRelease(
        Effect.sync(() => new RawPeer(new WebSocket(gw.url, { perMessageDeflate: false, autoPong: false }))),
        (p) => Effect.sync(() => p.ws.terminate())
      )
      yield* Effect.promise(() => mute.waitFor((f) => f.event === "connect.challenge"))
      expect((yield* Effect.promise(() => mute.call("connect", connectParams(auth), "c1"))).ok).toBe(true)
      const alive = yield* handshake(gw.url, connectParams(auth))
      let pings = 0
      alive.peer.ws.on("ping", () => pings++)
      for (let round = 1; round <= 3; round++) {
        yield* TestClock.adjust("1 second")
        // The pong leaves before the request; once health is answered the Gateway has seen it.
        yield* eventually(() => pings >= Math.min(round, 2), `ping ${round} reached the peer that answers`)
        expect((yield* Effect.promise(() => alive.peer.call("health"))).ok).toBe(true)
      }
      expect((yield* Effect.promise(() => mute.closed)).code).toBe(1006)
      expect((yield* Effect.promise(() => alive.peer.call("health"))).ok).toBe(true)
    })
  )
})

describe("calls a connection may not make", () => {
  it.scopedLive("are answered FORBIDDEN, then RATE_LIMITED past gateway.limits.deniedCallsPerMinute, then the connection is closed", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway(withLimits({ limits: { deniedCallsPerMinute: 3 } }))
      const { peer } = yield* handshake(gw.url, connectParams({ ...auth, scopes: [] }))
      const codes: Array<string | undefined> = []
      for (let i = 0; i < 5; i++) codes.push((yield* Effect.promise(() => peer.call("status"))).error?.code)
      expect(codes).toEqual(["FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "RATE_LIMITED", "RATE_LIMITED"])
      const throttled = peer.frames.filter((f) => f.error?.code === "RATE_LIMITED")[0]!
      expect(throttled.error).toMatchObject({ details: { code: "DENIED_CALLS_LIMIT", limit: 3 }, retryable: true })
      expect(throttled.error!.retryAfterMs).toBeGreaterThan(0)
      // Throttled means every call, not only the refused ones.
      peer.send({ type: "req", id: "h", method: "health" })
      expect(yield* Effect.promise(() => peer.closed)).toEqual({
        code: 1008,
        reason: "too many denied calls (gateway.limits.deniedCallsPerMinute 3)"
      })
      // Others are not affected.
      const other = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.read"] }))
      expect((yield* Effect.promise(() => other.peer.call("status"))).ok).toBe(true)
    })
  )

  it.scopedLive(
    "past gateway.limits.maxInflightPerConnection a request is answered RATE_LIMITED at once; room frees up as answers come",
    () =>
      Effect.gen(function* () {
        const gw = yield* startGateway(withLimits({ limits: { maxInflightPerConnection: 2 } }))
        const node = yield* deviceHandshake(gw.url, makeTestDevice(), nodeParams(TOKEN, { commands: ["test.hold"] }))
        expect(node.res.ok).toBe(true)
        const { peer } = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.write"] }))
        const list = yield* Effect.promise(() => peer.call("node.list"))
        const id = list.payload.nodes[0].nodeId as string
        const invoke = (n: number) => ({
          type: "req",
          id: `i${n}`,
          method: "node.invoke",
          params: { nodeId: id, command: "test.hold", idempotencyKey: `k${n}` }
        })
        peer.send(invoke(1))
        peer.send(invoke(2))
        peer.send(invoke(3))
        const third = yield* Effect.promise(() => peer.response("i3"))
        expect(third.error).toMatchObject({ code: "RATE_LIMITED", details: { code: "INFLIGHT_LIMIT", limit: 2 }, retryable: true })
        const request = yield* Effect.promise(() => node.peer.waitFor((f) => f.event === "node.invoke.request"))
        node.peer.send({
          type: "req",
          id: "r1",
          method: "node.invoke.result",
          params: { id: request.payload.id, nodeId: id, ok: true, payload: { done: true } }
        })
        expect((yield* Effect.promise(() => peer.response(request.payload.idempotencyKey === "k1" ? "i1" : "i2"))).ok).toBe(true)
        peer.send(invoke(4))
        yield* Effect.promise(() => node.peer.waitFor((f) => f.event === "node.invoke.request" && f.payload.idempotencyKey === "k4"))
      })
  )
})

describe("unauthenticated connections per peer address, at the TCP level", () => {
  it.scopedLive("one address holds at most twice the per-address budget of raw sockets, and HTTP keep-alive sockets count", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway(withLimits({ limits: { unauthenticatedPerAddress: 3 } }))
      // An HTTP client that keeps its connection open is still an unauthenticated connection.
      const keepAlive = rawSocket(gw.port, "127.0.3.1")
      keepAlive.socket.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
      yield* eventually(() => keepAlive.data().includes("200 OK"), "the keep-alive request is answered")
      const raw = Array.from({ length: 5 }, () => rawSocket(gw.port, "127.0.3.1"))
      yield* eventually(async () => (await pendingOf(gw)) === 6, "six sockets from 127.0.3.1 are counted")
      const seventh = rawSocket(gw.port, "127.0.3.1")
      yield* Effect.promise(() => seventh.closed)
      expect(seventh.data()).toBe("")
      // Another address is not affected.
      const { res } = yield* handshake(gw.url, connectParams(auth), { localAddress: "127.0.3.2" })
      expect(res.ok).toBe(true)
      void raw
    })
  )
})
