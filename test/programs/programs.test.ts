/**
 * The programs on the test layers: GatewayClientTest (scripted answers and events, every call
 * recorded, an unscripted call a defect), a scripted GatewayConnector for the node host, the config
 * in memory, TestClock. No Gateway, no socket: what a program decides, it decides here.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Queue, Redacted, Ref, Stream } from "effect"
import { ConfigMemory } from "../../src/layers/ConfigMemory.js"
import { GatewayClientCalls, GatewayClientTest } from "../../src/layers/GatewayClientTest.js"
import { defaultAllowlistPath, NodeCommandsLocal } from "../../src/layers/nodes/NodeCommandsLocal.js"
import { liveFacts, securityAudit } from "../../src/programs/audit.js"
import { gatewaySend } from "../../src/programs/channels.js"
import { runNodeHost } from "../../src/programs/nodeHost.js"
import { devicesRemove, nodesInvoke, resolveNode } from "../../src/programs/nodes.js"
import { resolveSessionKey } from "../../src/programs/sessions.js"
import { DeviceIdentity } from "../../src/services/DeviceIdentity.js"
import type { EventFrame } from "../../src/protocol/frames.js"
import { GatewayClientError, GatewayConnector, type RemoteConnection } from "../../src/services/GatewayClient.js"

const node = (nodeId: string, displayName?: string) => ({
  nodeId,
  commands: ["system.info"],
  paired: true,
  connected: true,
  ...(displayName ? { displayName } : {})
})
const NODES = {
  "node.list": () =>
    Effect.succeed({
      ts: 1,
      nodes: [node("a1b2c3d4e5f6a7b8", "kitchen"), node("a1b2c3ffffff0000", "Kitchen"), node("9f9f9f9f9f9f9f9f", "office")]
    }),
  "node.invoke": (params: unknown) =>
    Effect.succeed({ ok: true, nodeId: (params as { nodeId: string }).nodeId, command: "system.info", payload: {}, payloadJSON: null })
}

describe("nodes and devices: naming one on the command line", () => {
  it.effect("a node by its id, a unique id prefix of 6+ characters, or its display name (any case)", () =>
    Effect.gen(function* () {
      expect((yield* resolveNode("9f9f9f9f9f9f9f9f")).nodeId).toBe("9f9f9f9f9f9f9f9f")
      expect((yield* resolveNode("9f9f9f")).nodeId).toBe("9f9f9f9f9f9f9f9f")
      expect((yield* resolveNode("OFFICE")).nodeId).toBe("9f9f9f9f9f9f9f9f")
    }).pipe(Effect.provide(GatewayClientTest(NODES)))
  )

  it.effect("an ambiguous name or prefix says which nodes it matches; an unknown one lists the known ones; nothing is invoked", () =>
    Effect.gen(function* () {
      const byName = yield* Effect.flip(nodesInvoke("kitchen", "system.info"))
      expect(byName.message).toBe('"kitchen" matches 2 nodes (a1b2c3d4e5f6, a1b2c3ffffff); use a longer id')
      const byPrefix = yield* Effect.flip(resolveNode("a1b2c3"))
      expect(byPrefix.message).toContain('"a1b2c3" matches 2 nodes')
      const unknown = yield* Effect.flip(resolveNode("garage"))
      expect(unknown.message).toContain(
        'no node matches "garage" (known nodes: kitchen a1b2c3d4e5f6, Kitchen a1b2c3ffffff, office 9f9f9f9f9f9f)'
      )
      // A prefix shorter than 6 characters is not a prefix.
      expect((yield* Effect.flip(resolveNode("9f9f"))).message).toContain('no node matches "9f9f"')
      const calls = yield* Ref.get(yield* GatewayClientCalls)
      expect(calls.map((c) => c.method).filter((m) => m === "node.invoke")).toEqual([])
    }).pipe(Effect.provide(GatewayClientTest(NODES)))
  )

  it.effect("a device to remove by a unique prefix; an ambiguous one removes nothing", () =>
    Effect.gen(function* () {
      expect(yield* devicesRemove("cafe01")).toEqual({ deviceId: "cafe01aa" })
      const ambiguous = yield* Effect.flip(devicesRemove("beef00"))
      expect(ambiguous.message).toBe('"beef00" matches 2 devices; use a longer id')
      const calls = yield* Ref.get(yield* GatewayClientCalls)
      expect(calls.filter((c) => c.method === "device.pair.remove").map((c) => c.params)).toEqual([{ deviceId: "cafe01aa" }])
    }).pipe(
      Effect.provide(
        GatewayClientTest({
          "device.pair.list": () => Effect.succeed({ pending: [], paired: ["cafe01aa", "beef00aa", "beef00bb"].map(paired) }),
          "device.pair.remove": (p) => Effect.succeed({ deviceId: (p as { deviceId: string }).deviceId })
        })
      )
    )
  )
})

const paired = (deviceId: string) => ({
  deviceId,
  publicKey: "k",
  clientId: "cli",
  clientMode: "cli",
  role: "operator",
  roles: ["operator"],
  scopes: ["operator.read"],
  approvedVia: "owner",
  createdAtMs: 1,
  approvedAtMs: 1,
  connected: false,
  tokens: []
})

describe("sessions: naming one on the command line", () => {
  const sessions = (keys: Array<string>) =>
    GatewayClientTest({
      "sessions.list": () =>
        Effect.succeed({
          ts: 1,
          path: "x",
          count: keys.length,
          sessions: keys.map((key) => ({ key, sessionId: key, agentId: "main", updatedAt: 1, createdAt: 1, messageCount: 1 }))
        })
    })

  it.effect("a full key and `main` are used as they are, without asking; a unique ending is completed", () =>
    Effect.gen(function* () {
      expect(yield* resolveSessionKey("agent:main:whatever")).toBe("agent:main:whatever")
      expect(yield* resolveSessionKey("main")).toBe("agent:main:main")
      expect(yield* Ref.get(yield* GatewayClientCalls)).toEqual([])
      expect(yield* resolveSessionKey("4242")).toBe("agent:main:telegram:4242")
    }).pipe(Effect.provide(sessions(["agent:main:main", "agent:main:telegram:4242"])))
  )

  it.effect("an ending two sessions share is refused, naming both", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(resolveSessionKey("42"))
      expect(e.message).toBe('"42" matches 2 sessions (agent:main:telegram:42, agent:ops:telegram:42); use the full key')
    }).pipe(Effect.provide(sessions(["agent:main:telegram:42", "agent:ops:telegram:42"])))
  )
})

describe("gateway send", () => {
  it.effect("an empty recipient or message is a usage error before anything is sent", () =>
    Effect.gen(function* () {
      expect((yield* Effect.flip(gatewaySend({ to: " ", message: "hi" }))).message).toContain("--to must name a recipient")
      expect((yield* Effect.flip(gatewaySend({ to: "42", message: "" }))).message).toContain("--message must not be empty")
      expect(yield* Ref.get(yield* GatewayClientCalls)).toEqual([])
      const sent = yield* gatewaySend({ to: "42", message: "hi", idempotencyKey: "k1" })
      expect(sent).toEqual({ runId: "k1", messageId: "7", channel: "telegram", to: "42" })
    }).pipe(
      Effect.provide(
        GatewayClientTest({
          send: (p) =>
            Effect.succeed({ runId: (p as { idempotencyKey: string }).idempotencyKey, messageId: "7", channel: "telegram", to: "42" })
        })
      )
    )
  )

  it.effect("an answer that is not a send result is named, not passed on", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(gatewaySend({ to: "42", message: "hi" }))
      expect(e).toBeInstanceOf(GatewayClientError)
      expect(e.message).toContain("the Gateway's answer to send is not what this client reads: messageId: is missing")
    }).pipe(Effect.provide(GatewayClientTest({ send: () => Effect.succeed({ runId: "k", channel: "telegram", to: "42" }) })))
  )
})

describe("security audit", () => {
  const status = {
    gateway: { bind: "lan", listeners: [{ host: "0.0.0.0", port: 18789 }], authMode: "token", tls: false, tailscale: "off" },
    vitals: {
      memory: { rssBytes: 1, heapUsedBytes: 1, heapTotalBytes: 1 },
      eventLoopDelayMs: { p50: 0, p99: 0 },
      connections: { operators: 1, nodes: 0, pending: 900 },
      requestsInFlight: 0,
      agent: { runs: 0, sessions: 0 }
    },
    security: { untrustedProxyHeaders: { count: 3, lastFrom: "10.0.0.9", lastAt: 1 } }
  }
  const audit = securityAudit(liveFacts.pipe(Effect.provide(GatewayClientTest({ status: () => Effect.succeed(status) }))))

  it.effect("reads what the live Gateway says: where it listens, forwarded headers it ignored, a flood of unauthenticated sockets", () =>
    Effect.gen(function* () {
      const report = yield* audit
      expect(report.live).toBe(true)
      const ids = report.findings.map((f) => f.id)
      expect(ids).toContain("gateway.untrusted_proxy_headers")
      expect(ids).toContain("gateway.unauthenticated_flood")
      expect(report.findings.find((f) => f.id === "gateway.untrusted_proxy_headers")?.detail).toContain("10.0.0.9")
    }).pipe(
      Effect.provide(
        Layer.mergeAll(
          ConfigMemory({ gateway: { bind: "lan", auth: { token: "a-long-random-token-for-the-test-0001" } } }),
          NodeFileSystem.layer
        )
      )
    )
  )

  it.effect("an unreachable Gateway only skips the live checks, and says why", () =>
    Effect.gen(function* () {
      const report = yield* securityAudit(
        Effect.fail(new GatewayClientError({ reason: "Connect", message: "connect ECONNREFUSED 127.0.0.1:18789" }))
      )
      expect(report.live).toBe(false)
      expect(report.gateway).toMatchObject({ reachable: false, error: "connect ECONNREFUSED 127.0.0.1:18789" })
      expect(report.findings.map((f) => f.id)).toContain("gateway.bind_no_auth")
    }).pipe(Effect.provide(Layer.mergeAll(ConfigMemory({ gateway: { bind: "lan", auth: { mode: "none" } } }), NodeFileSystem.layer)))
  )
})

/** A GatewayConnector whose one connection is scripted: events pushed by the test, requests recorded. */
const scriptedConnector = Effect.gen(function* () {
  const events = yield* Queue.unbounded<EventFrame>()
  const requests = yield* Queue.unbounded<{ readonly method: string; readonly params: unknown }>()
  const closed = yield* Deferred.make<GatewayClientError>()
  const connection: RemoteConnection = {
    server: { version: "test", protocol: 4, connId: "c1", methods: [], scopes: [], tickIntervalMs: 30_000, connectMs: 0 },
    request: (method, params) => Effect.as(Queue.offer(requests, { method, params }), { ok: true }),
    events: Stream.fromQueue(events),
    closed: Deferred.await(closed)
  }
  let seq = 0
  return {
    layer: Layer.succeed(GatewayConnector, { connect: () => Effect.succeed(connection) }),
    push: (event: string, payload: unknown) => Queue.offer(events, { type: "event", event, payload, seq: ++seq }),
    next: Queue.take(requests)
  }
})

const device = Layer.succeed(DeviceIdentity, {
  deviceId: "d".repeat(64),
  publicKey: "k",
  sign: () => "s",
  tokenFor: () => Effect.succeed(undefined),
  storeToken: () => Effect.void,
  forgetToken: () => Effect.void
})

const stateWithAllowlist = (allow: Array<Array<string>>) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), "clawgate-nodehost-"))
      await fs.mkdir(path.dirname(defaultAllowlistPath(dir)), { recursive: true })
      await fs.writeFile(defaultAllowlistPath(dir), JSON.stringify({ version: 1, allow }))
      return dir
    }),
    (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
  )

describe("the node host", () => {
  const target = { url: "ws://gateway.test", urlSource: "test", mode: "remote" as const, token: Redacted.make("t") }

  it.scopedLive("answers an invoke with node.invoke.result, and a cancel stops exactly the invoke it names", () =>
    Effect.gen(function* () {
      const stateDir = yield* stateWithAllowlist([["sleep", "30"]])
      const script = yield* scriptedConnector
      const lines: Array<string> = []
      const logged = (text: string) =>
        Effect.gen(function* () {
          while (!lines.some((l) => l.includes(text))) yield* Effect.sleep("10 millis")
        })
      const console = yield* Effect.console
      const host = yield* Effect.fork(
        runNodeHost({ target, name: "test" }).pipe(
          Effect.provide(Layer.mergeAll(script.layer, device, NodeCommandsLocal({ allowlistPath: defaultAllowlistPath(stateDir) }))),
          Effect.withConsole({ ...console, error: (...args: ReadonlyArray<unknown>) => Effect.sync(() => void lines.push(args.join(" "))) })
        )
      )
      yield* script.push("node.invoke.request", { id: "i1", nodeId: "n", command: "system.info", paramsJSON: null })
      const first = yield* script.next
      expect(first.method).toBe("node.invoke.result")
      expect(first.params).toMatchObject({ id: "i1", nodeId: "n", ok: true })

      yield* script.push("node.invoke.request", {
        id: "slow",
        nodeId: "n",
        command: "system.run",
        paramsJSON: JSON.stringify({ command: ["sleep", "30"] })
      })
      yield* script.push("node.invoke.request", { id: "i2", nodeId: "n", command: "system.info", paramsJSON: null })
      // The quick one is answered while the slow one runs.
      expect((yield* script.next).params).toMatchObject({ id: "i2", ok: true })
      yield* script.push("node.invoke.cancel", { invokeId: "slow", nodeId: "n" })
      yield* logged("invoke slow cancelled by the Gateway")
      // Cancelled: no answer for it comes; the next request on the wire is the next invoke's.
      yield* script.push("node.invoke.request", { id: "i3", nodeId: "n", command: "system.info", paramsJSON: null })
      expect((yield* script.next).params).toMatchObject({ id: "i3", ok: true })
      yield* Fiber.interrupt(host)
      expect(Exit.isInterrupted(yield* Fiber.await(host))).toBe(true)
    })
  )
})
