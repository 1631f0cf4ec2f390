/**
 * No frame crashes or stalls the Gateway: deep nesting, huge wrong values and
 * wrong kinds of frames are answered with a bounded error (and, before
 * connect, a close), and another client's `health` still answers.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { connectParams, handshake, openPeer } from "../support/ws.js"
import { deviceHandshake, makeTestDevice, nodeParams } from "../support/device.js"
import { startGateway, TOKEN } from "../support/gateway.js"
import { jsonNestedDeeperThan, decodeText, escapeControl } from "../../src/protocol/codec.js"
import { spawnGateway } from "../support/cli.js"
import { tempDir, writeConfig } from "../support/gateway.js"

const auth = { auth: { token: TOKEN } }
/** A JSON array nested `depth` deep, as text (JSON.stringify itself would overflow the test's stack). */
const nestedText = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}`

/** Another client can still connect and read health. */
const stillServes = (url: string) =>
  Effect.gen(function* () {
    const probe = yield* handshake(url, connectParams({ ...auth, scopes: ["operator.read"] }))
    const health = yield* Effect.promise(() => probe.peer.call("health"))
    expect(health.ok).toBe(true)
  })

describe("the frame codec", () => {
  it("measures nesting on the text, ignoring brackets inside strings, and never throws", () => {
    expect(jsonNestedDeeperThan(nestedText(64), 64)).toBe(false)
    expect(jsonNestedDeeperThan(nestedText(65), 64)).toBe(true)
    expect(jsonNestedDeeperThan(JSON.stringify({ s: '[[[[[[[[[[[[[[[[[[[[\\"[[[[' }), 3)).toBe(false)
    expect(decodeText(nestedText(100_000))).toMatchObject({ ok: false, message: "invalid frame: nested deeper than 64 levels" })
    expect(decodeText("{not json")).toMatchObject({ ok: false, message: "invalid frame: not a JSON text frame" })
    expect(escapeControl("a\nb\u001b[2Jc\u2028")).toBe("a\\nb\\u001b[2Jc\\u2028")
  })
})

describe("frames a peer may send", () => {
  it.scopedLive("an unauthenticated connect nested 3,000 deep is refused as too deep, closed, and the Gateway serves on", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const peer = yield* openPeer(gw.url)
      yield* Effect.promise(() => peer.waitFor((f) => f.event === "connect.challenge"))
      const frame = `{"type":"req","id":"c1","method":"connect","params":${nestedText(3_000)}}`
      expect(frame.length).toBeLessThan(64 * 1024)
      peer.send(frame)
      const res = yield* Effect.promise(() => peer.waitFor((f) => f.type === "res"))
      expect(res.error).toMatchObject({
        code: "INVALID_REQUEST",
        message: "invalid frame: nested deeper than 64 levels",
        details: { code: "FRAME_TOO_DEEP", maxDepth: 64 }
      })
      expect((yield* Effect.promise(() => peer.closed)).code).toBe(1008)
      yield* stillServes(gw.url)
    })
  )

  it.scopedLive("connect params with a huge wrong value: the error names the field, stays short, and the socket closes", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const peer = yield* openPeer(gw.url)
      yield* Effect.promise(() => peer.waitFor((f) => f.event === "connect.challenge"))
      const big: Record<string, string> = {}
      for (let i = 0; i < 1_000; i++) big[`k${i}`] = "v".repeat(20)
      const params = connectParams({
        ...auth,
        client: { id: big, version: "1", platform: "linux", mode: "cli" },
        scopes: new Array(3_000).fill(7)
      })
      peer.send({ type: "req", id: "c1", method: "connect", params })
      const res = yield* Effect.promise(() => peer.waitFor((f) => f.type === "res"))
      expect(res.error?.code).toBe("INVALID_REQUEST")
      expect(res.error?.message).toMatch(/^invalid connect params: client\.id: /)
      expect(res.error!.message.length).toBeLessThan(1_000)
      expect(JSON.stringify(res.error).length).toBeLessThan(4_000)
      expect((yield* Effect.promise(() => peer.closed)).code).toBe(1008)
      yield* stillServes(gw.url)
    })
  )

  it.scopedLive("connect strings and lists are bounded: a 300-character client id or 600 commands name the limit", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const long = yield* handshake(
        gw.url,
        connectParams({ ...auth, client: { id: "x".repeat(300), version: "1", platform: "linux", mode: "cli" } })
      )
      expect(long.res.error?.message).toBe("invalid connect params: client.id: must be at most 256 characters")
      const many = yield* deviceHandshake(
        gw.url,
        makeTestDevice(),
        nodeParams(TOKEN, { commands: Array.from({ length: 600 }, (_, i) => `c${i}`) })
      )
      expect(many.res.error?.message).toBe("invalid connect params: commands: must have at most 512 entries")
    })
  )

  it.scopedLive("after connect: node.invoke params nested 20,000 deep get an error frame, the connection stays open", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer } = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.write"] }))
      peer.send(
        `{"type":"req","id":"deep","method":"node.invoke","params":{"nodeId":"n","command":"system.run","idempotencyKey":"k","params":${nestedText(20_000)}}}`
      )
      const res = yield* Effect.promise(() => peer.waitFor((f) => f.type === "res" && f.id === ""))
      expect(res.error).toMatchObject({ code: "INVALID_REQUEST", message: "invalid frame: nested deeper than 64 levels" })
      const health = yield* Effect.promise(() => peer.call("health"))
      expect(health.ok).toBe(true)
      yield* stillServes(gw.url)
    })
  )

  it.scopedLive("a million wrong items in one param is explained by its first, at once", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer } = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.admin"] }))
      const res = yield* Effect.promise(() =>
        peer.call("device.token.rotate", { deviceId: "d", role: "operator", scopes: new Array(1_000_000).fill(1) })
      )
      expect(res.error?.message).toBe("invalid device.token.rotate params: scopes.0: Expected string, actual 1")
      expect(res.error?.details?.issues).toHaveLength(1)
      // A small value still gets every issue.
      const small = yield* Effect.promise(() => peer.call("device.token.rotate", { deviceId: 5, role: "admin" }))
      expect(new Set(small.error?.details?.issues.map((i: { path: Array<string> }) => i.path.join(".")))).toEqual(
        new Set(["deviceId", "role"])
      )
      yield* stillServes(gw.url)
    })
  )

  it.scopedLive("a wrong value is shown as a short preview, not printed in full", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer } = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.admin"] }))
      const huge: Record<string, string> = {}
      for (let i = 0; i < 200_000; i++) huge[`k${i}`] = "value"
      const res = yield* Effect.promise(() => peer.call("device.pair.approve", { requestId: huge }))
      expect(res.error?.message).toBe("invalid device.pair.approve params: requestId: Expected string, actual an object")
      const long = yield* Effect.promise(() => peer.call("device.pair.approve", { requestId: 1, extra: "x" }))
      expect(long.error?.message).toBe("invalid device.pair.approve params: requestId: Expected string, actual 1")
    })
  )

  it.scopedLive("binary and non-JSON frames: an error before connect closes, after connect does not", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const pre = yield* openPeer(gw.url)
      yield* Effect.promise(() => pre.waitFor((f) => f.event === "connect.challenge"))
      pre.ws.send(Buffer.from([1, 2, 3]))
      expect((yield* Effect.promise(() => pre.waitFor((f) => f.type === "res"))).error?.message).toBe(
        "invalid frame: binary frames are not supported"
      )
      expect((yield* Effect.promise(() => pre.closed)).code).toBe(1008)
      const { peer } = yield* handshake(gw.url, connectParams(auth))
      peer.send("{]")
      expect((yield* Effect.promise(() => peer.waitFor((f) => f.type === "res" && f.id === ""))).error?.message).toBe(
        "invalid frame: not a JSON text frame"
      )
      expect((yield* Effect.promise(() => peer.call("health"))).ok).toBe(true)
    })
  )
})

describe("what peers say reaches the log escaped", () => {
  it.scopedLive("a client id with a newline and terminal escapes cannot forge a console line", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: TOKEN } } })
      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      const forged = "2026-01-01T00:00:00Z info FORGED"
      const { res } = yield* handshake(
        gw.url,
        connectParams({ ...auth, client: { id: `evil\n${forged}\u001b[2K`, version: "1", platform: "linux", mode: "cli" } })
      )
      expect(res.ok).toBe(true)
      yield* handshake(
        gw.url,
        connectParams({ ...auth, scopes: ["operator.read"], client: { id: "probe", version: "1", platform: "linux", mode: "cli" } })
      )
      // The probe's connect line comes after the evil one: once it is there, so is the evil one.
      yield* Effect.promise(async () => {
        for (let i = 0; i < 200 && !gw.output().includes(`"client":"probe"`); i++) await new Promise((r) => setTimeout(r, 25))
      })
      const lines = gw.output().split("\n")
      expect(lines.some((l) => l.startsWith(forged))).toBe(false)
      // The evil id is a field of the connect line, its newline and escape quoted.
      const evil = lines.find((l) => l.includes(" connected ") && l.includes("FORGED"))
      expect(evil).toBeDefined()
      expect(evil).not.toMatch(/[\n\u001b]/)
      expect(evil).toContain(`"client":"evil\\\\n${forged}\\\\u001b[2K"`)
    })
  )
})

describe("peers that reach past the frame: close reasons, payloads inside strings, ids and presence keys", () => {
  it.scopedLive("a close reason longer than 123 bytes of UTF-8 (the peer's emoji quoted in the error) closes cleanly", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer, res } = yield* handshake(gw.url, connectParams({ ...auth, role: "😀".repeat(60) }))
      expect(res.error?.message).toMatch(/^invalid connect params: role: /)
      const closed = yield* Effect.promise(() => peer.closed)
      expect(closed.code).toBe(1008)
      expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123)
      yield* stillServes(gw.url)
    })
  )

  it.scopedLive("a node's payloadJSON nested 200,000 deep is refused like a deep frame; events go on reaching operators", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const node = yield* deviceHandshake(gw.url, makeTestDevice(), nodeParams(TOKEN, { commands: ["test.deep"] }))
      const op = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.write"] }))
      const nodeId = (yield* Effect.promise(() => op.peer.call("node.list"))).payload.nodes[0].nodeId
      op.peer.send({ type: "req", id: "inv", method: "node.invoke", params: { nodeId, command: "test.deep", idempotencyKey: "k" } })
      const request = yield* Effect.promise(() => node.peer.waitFor((f) => f.event === "node.invoke.request"))
      const deep = nestedText(200_000)
      const ack = yield* Effect.promise(() =>
        node.peer.call("node.invoke.result", { id: request.payload.id, nodeId, ok: true, payloadJSON: deep })
      )
      expect(ack.error).toMatchObject({ code: "INVALID_REQUEST", details: { code: "FRAME_TOO_DEEP" } })
      const answer = yield* Effect.promise(() => op.peer.response("inv"))
      expect(answer.error?.message).toMatch(/INVALID_RESULT: the node answered with a payload nested deeper than 64 levels/)
      const event = yield* Effect.promise(() => node.peer.call("node.event", { event: "x", payloadJSON: deep }))
      expect(event.error?.details?.code).toBe("FRAME_TOO_DEEP")
      // The fan-out is alive: a newcomer's presence reaches the operator.
      yield* handshake(
        gw.url,
        connectParams({
          ...auth,
          scopes: ["operator.read"],
          client: { id: "late", version: "1", platform: "linux", mode: "ui", instanceId: "late-1" }
        })
      )
      yield* Effect.promise(() =>
        op.peer.waitFor((f) => f.event === "presence" && f.payload.presence.some((p: { clientId?: string }) => p.clientId === "late"))
      )
      yield* stillServes(gw.url)
    })
  )

  it.scopedLive(
    "a request id over 256 characters is refused; a presence instanceId cannot take the Gateway's entry or another client's",
    () =>
      Effect.gen(function* () {
        const gw = yield* startGateway()
        const { peer } = yield* handshake(
          gw.url,
          connectParams({
            ...auth,
            scopes: ["operator.read"],
            client: { id: "a", version: "1", platform: "linux", mode: "ui", instanceId: "gateway" }
          })
        )
        peer.send({ type: "req", id: "x".repeat(300), method: "health" })
        const refused = yield* Effect.promise(() => peer.waitFor((f) => f.type === "res" && f.id === ""))
        expect(refused.error?.message).toBe("invalid frame: id must be at most 256 characters")
        yield* handshake(
          gw.url,
          connectParams({
            ...auth,
            scopes: ["operator.read"],
            client: { id: "b", version: "1", platform: "linux", mode: "ui", instanceId: "gateway" }
          })
        )
        const list = (yield* Effect.promise(() => peer.call("system-presence"))).payload as Array<{ mode: string; clientId?: string }>
        expect(list.filter((p) => p.mode === "gateway")).toHaveLength(1)
        expect(
          list
            .filter((p) => p.clientId === "a" || p.clientId === "b")
            .map((p) => p.clientId)
            .sort()
        ).toEqual(["a", "b"])
      })
  )
})
