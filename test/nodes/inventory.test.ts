/**
 * What a node publishes about itself (node.skills/pluginTools/runnerInventory.update),
 * unknown methods for every caller, and the pairing answer a node acts on — all
 * on the wire, against a real Gateway on port 0.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { connectParams, handshake } from "../support/ws.js"
import { deviceHandshake, makeTestDevice, nodeParams } from "../support/device.js"
import { startGateway, TOKEN } from "../support/gateway.js"

const auth = { auth: { token: TOKEN } }
const call = (peer: { call: (m: string, p?: unknown) => Promise<any> }, method: string, params?: unknown) =>
  Effect.promise(() => peer.call(method, params))

const skills = [
  { name: "git-helper", description: "Helps with git", content: "# Git helper\nUse git carefully." },
  { name: "deploy", description: "Deploys the app", content: "x".repeat(1000) }
]
const tools = [
  { pluginId: "files", name: "read_file", description: "Reads a file", parameters: { type: "object" }, command: "files.read" },
  { pluginId: "mcp", name: "search", description: "Searches", mcp: { server: "web", tool: "search" } }
]
/** What OpenClaw 2026.9.6's node host sends when it hosts no worker sessions. */
const runner = { protocolFeatures: ["node-worker-supervisor-v6"], workerHost: { enabled: false } }

describe("unknown methods", () => {
  it.scopedLive("are INVALID_REQUEST 'unknown method: <m>' for a node, an admin, a reader and a connection with no scopes", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const node = yield* deviceHandshake(gw.url, makeTestDevice(), nodeParams(TOKEN))
      expect(node.res.ok).toBe(true)
      const admin = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.admin"] }))
      const reader = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.read"] }))
      const none = yield* handshake(
        gw.url,
        connectParams({ ...auth, scopes: [], client: { id: "openclaw-probe", version: "1", platform: "linux", mode: "probe" } })
      )
      for (const [who, peer] of [
        ["node", node.peer],
        ["admin", admin.peer],
        ["reader", reader.peer],
        ["no scopes", none.peer]
      ] as const) {
        for (const m of ["node.someday.update", "does.not.exist", "constructor", "__proto__", "hasOwnProperty"]) {
          const res = yield* call(peer, m, { x: 1 })
          expect([who, res.error?.code, res.error?.message, res.error?.details?.code]).toEqual([
            who,
            "INVALID_REQUEST",
            `unknown method: ${m}`,
            "UNKNOWN_METHOD"
          ])
        }
      }
      // A known method the caller may not call stays FORBIDDEN, with the code that says why.
      const status = yield* call(node.peer, "status")
      expect(status.error).toMatchObject({ code: "FORBIDDEN", details: { code: "MISSING_SCOPE", missingScope: "operator.read" } })
      const byOperator = yield* call(admin.peer, "node.skills.update", { skills: [] })
      expect(byOperator.error).toMatchObject({ code: "FORBIDDEN", details: { code: "ROLE_NOT_ALLOWED", requiredRole: "node" } })
      const noScope = yield* call(none.peer, "status")
      expect(noScope.error).toMatchObject({ code: "FORBIDDEN", details: { code: "MISSING_SCOPE" } })
    })
  )
})

describe("what a node publishes", () => {
  it.scopedLive("skills, plugin tools and runner inventory are accepted, kept for the connection and shown by node.describe", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const device = makeTestDevice()
      const node = yield* deviceHandshake(gw.url, device, nodeParams(TOKEN))
      expect(node.res.ok).toBe(true)
      const op = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.read"] }))

      const before = yield* call(op.peer, "node.describe", { nodeId: device.deviceId })
      expect(before.payload.published).toBeUndefined()

      const s = yield* call(node.peer, "node.skills.update", { skills })
      expect(s.ok).toBe(true)
      expect(s.payload).toEqual({
        nodeId: device.deviceId,
        skills: [
          { name: "git-helper", description: "Helps with git", contentChars: skills[0]!.content.length },
          { name: "deploy", description: "Deploys the app", contentChars: 1000 }
        ]
      })
      const t = yield* call(node.peer, "node.pluginTools.update", { tools })
      expect(t.ok).toBe(true)
      expect(t.payload.tools).toEqual([
        { pluginId: "files", name: "read_file", description: "Reads a file", command: "files.read" },
        { pluginId: "mcp", name: "search", description: "Searches", mcp: { server: "web", tool: "search" } }
      ])
      const r = yield* call(node.peer, "node.runnerInventory.update", runner)
      expect(r).toMatchObject({ ok: true, payload: { nodeId: device.deviceId } })
      // The latest of each kind replaces the one before.
      yield* call(node.peer, "node.skills.update", { skills: [skills[0]] })

      const d = yield* call(op.peer, "node.describe", { nodeId: device.deviceId })
      expect(d.payload.published).toMatchObject({
        skills: [{ name: "git-helper", description: "Helps with git" }],
        pluginTools: [{ name: "read_file" }, { name: "search" }],
        runnerInventory: runner,
        updates: { skills: 2, pluginTools: 1, runnerInventory: 1 }
      })
      expect(typeof d.payload.published.updatedAtMs).toBe("number")
      const listed = yield* call(op.peer, "node.list")
      // node.list stays small: what a node published is node.describe's.
      expect(listed.payload.nodes[0].nodeId).toBe(device.deviceId)
      expect(listed.payload.nodes[0].published).toBeUndefined()

      // A new connection of the node starts with nothing published.
      const again = yield* deviceHandshake(gw.url, device, nodeParams(TOKEN))
      expect(again.res.ok).toBe(true)
      const fresh = yield* call(op.peer, "node.describe", { nodeId: device.deviceId })
      expect(fresh.payload.published).toBeUndefined()
      // The replaced connection is no longer the node's: what it sends is not kept.
      const stale = yield* call(node.peer, "node.skills.update", { skills })
      expect(stale.error).toMatchObject({ code: "INVALID_REQUEST", message: "unknown nodeId" })
      yield* call(again.peer, "node.pluginTools.update", { tools: [] })
      const after = yield* call(op.peer, "node.describe", { nodeId: device.deviceId })
      expect(after.payload.published).toEqual({
        pluginTools: [],
        updates: { skills: 0, pluginTools: 1, runnerInventory: 0 },
        updatedAtMs: expect.any(Number)
      })
    })
  )

  it.scopedLive("bad publications are INVALID_REQUEST naming what to fix (OpenClaw's node host then stops resending them)", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const node = yield* deviceHandshake(gw.url, makeTestDevice(), nodeParams(TOKEN))
      const bad = async (method: string, params: unknown) => (await node.peer.call(method, params)).error
      const cases: Array<[string, unknown, RegExp]> = [
        ["node.skills.update", { skills: [{ ...skills[0], name: "Git Helper" }] }, /skills.*name.*lowercase/s],
        ["node.skills.update", { skills: Array.from({ length: 65 }, (_, i) => ({ ...skills[0], name: `s${i}` })) }, /at most 64 skills/],
        ["node.skills.update", { skills: [{ ...skills[0], description: "d".repeat(1025) }] }, /description.*at most 1024/s],
        ["node.skills.update", { skills: [{ ...skills[0], content: "c".repeat(65_537) }] }, /content.*at most 65536/s],
        ["node.skills.update", {}, /skills/],
        ["node.pluginTools.update", { tools: [{ ...tools[0], name: "1bad" }] }, /tools.*name/s],
        ["node.pluginTools.update", { tools: [{ ...tools[0], parameters: { big: "p".repeat(20_000) } }] }, /parameters.*at most 16384/s],
        [
          "node.pluginTools.update",
          { tools: Array.from({ length: 129 }, (_, i) => ({ ...tools[0], name: `t${i}` })) },
          /at most 128 tools/
        ],
        ["node.runnerInventory.update", { protocolFeatures: "v6" }, /protocolFeatures/],
        [
          "node.runnerInventory.update",
          { protocolFeatures: [], workerHost: { enabled: true, capacity: { total: 2, available: 3 } } },
          /available must not exceed total/
        ]
      ]
      for (const [method, params, message] of cases) {
        const error = yield* Effect.promise(() => bad(method, params))
        expect(error?.code, `${method} ${JSON.stringify(params).slice(0, 80)}`).toBe("INVALID_REQUEST")
        expect(error?.message).toMatch(message)
      }
      // The connection stays usable.
      expect((yield* call(node.peer, "node.runnerInventory.update", runner)).ok).toBe(true)
    })
  )
})

describe("pairing required, as a node reads it", () => {
  it.scopedLive("a node waiting for approval is told to wait and retry; an operator device is not", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, nodes: { pairing: { autoApproveLocal: false } } } })
      const device = makeTestDevice()
      const first = yield* deviceHandshake(gw.url, device, nodeParams(TOKEN))
      expect(first.res.error).toMatchObject({
        code: "NOT_PAIRED",
        details: {
          code: "PAIRING_REQUIRED",
          reason: "not-paired",
          requestId: expect.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/),
          recommendedNextStep: "wait_then_retry",
          retryable: true,
          pauseReconnect: false,
          deviceId: device.deviceId,
          requestedRole: "node"
        }
      })
      const operatorDevice = yield* deviceHandshake(gw.url, makeTestDevice(), connectParams({ ...auth, scopes: ["operator.read"] }))
      expect(operatorDevice.res.error?.details).toMatchObject({ code: "PAIRING_REQUIRED", requestedRole: "operator" })
      expect(operatorDevice.res.error?.details.recommendedNextStep).toBeUndefined()
      expect(operatorDevice.res.error?.details.pauseReconnect).toBeUndefined()
      // Approved, the same node connects on its next try, and publishes.
      const op = yield* handshake(gw.url, connectParams({ ...auth, scopes: ["operator.admin"] }))
      const approved = yield* call(op.peer, "device.pair.approve", { requestId: first.res.error?.details.requestId })
      expect(approved.ok).toBe(true)
      const next = yield* deviceHandshake(gw.url, device, nodeParams(TOKEN))
      expect(next.res.ok).toBe(true)
      expect((yield* call(next.peer, "node.runnerInventory.update", runner)).ok).toBe(true)
    })
  )
})
