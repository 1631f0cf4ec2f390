/**
 * `health` and `status` tell the truth: counts from the sessions store and
 * the transport, the snapshot taken again when they change, uptime computed
 * when the answer is sent, `probe: true` taking a snapshot now, and the
 * Gateway's vital signs in `status`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { connectParams, handshake } from "../support/ws.js"
import { startGateway, TOKEN } from "../support/gateway.js"
import { runCli } from "../support/cli.js"
import { renderHealth } from "../../src/programs/render.js"

const admin = connectParams({ auth: { token: TOKEN }, scopes: ["operator.admin"] })

describe("the health snapshot", () => {
  it.scopedLive("counts sessions from the store, per agent and in all, with the most recent; refreshed when they are written", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer } = yield* handshake(gw.url, admin)
      const before = (yield* Effect.promise(() => peer.call("health"))).payload
      expect(before.sessions.count).toBe(0)
      expect(before.agents).toEqual([{ agentId: "main", isDefault: true, sessions: expect.objectContaining({ count: 0, recent: [] }) }])
      for (const key of ["agent:main:main", "agent:main:telegram:42", "agent:helper:main"]) {
        const agentId = key.split(":")[1]
        const r = yield* Effect.promise(() => peer.call("agent", { message: "hi", idempotencyKey: `k-${key}`, sessionKey: key, agentId }))
        expect(r.ok).toBe(true)
      }
      // The positive signal: a health event that counts all three, sent on the change (not on the minute's timer).
      const event = yield* Effect.promise(() => peer.waitFor((f) => f.event === "health" && f.payload.sessions.count === 3, 5_000))
      const h = (yield* Effect.promise(() => peer.call("health"))).payload
      expect(h.ts).toBeGreaterThanOrEqual(event.payload.ts)
      expect(h.sessions.count).toBe(3)
      expect(h.sessions.recent.map((s: { key: string }) => s.key).sort()).toEqual([
        "agent:helper:main",
        "agent:main:main",
        "agent:main:telegram:42"
      ])
      expect(h.sessions.recent[0]).toMatchObject({ key: expect.any(String), updatedAt: expect.any(Number), age: expect.any(Number) })
      const byAgent = Object.fromEntries(
        h.agents.map((a: { agentId: string; sessions: { count: number } }) => [a.agentId, a.sessions.count])
      )
      expect(byAgent).toEqual({ main: 2, helper: 1 })
      expect(h.gateway.connections).toEqual({ operators: 1, nodes: 0, pending: 0 })
      expect(h.gateway.presence).toBe(2)
      // status counts the same sessions, and its vital signs are there.
      const st = (yield* Effect.promise(() => peer.call("status"))).payload
      expect(st.sessions.count).toBe(3)
      expect(st.sessions.byAgent.map((a: { agentId: string; count: number }) => [a.agentId, a.count])).toEqual([
        ["main", 2],
        ["helper", 1]
      ])
      expect(st.vitals.memory.rssBytes).toBeGreaterThan(10 * 1024 * 1024)
      expect(st.vitals.memory.heapUsedBytes).toBeGreaterThan(0)
      expect(st.vitals.eventLoopDelayMs).toEqual({
        p50: expect.any(Number),
        p99: expect.any(Number),
        max: expect.any(Number),
        windowMs: expect.any(Number)
      })
      expect(st.vitals.connections).toEqual({ operators: 1, nodes: 0, pending: 0 })
      // The status request itself is in flight while it is answered.
      expect(st.vitals.requestsInFlight).toBeGreaterThanOrEqual(1)
      expect(st.vitals.agent).toEqual({ runs: expect.any(Number), sessions: expect.any(Number) })
    })
  )

  it.scoped("uptime is computed when the answer is sent; a plain health keeps its snapshot, probe: true takes one now", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer } = yield* handshake(gw.url, admin)
      const first = (yield* Effect.promise(() => peer.call("health"))).payload
      yield* TestClock.adjust("5 seconds")
      const second = (yield* Effect.promise(() => peer.call("health"))).payload
      expect(second.gateway.uptimeMs - first.gateway.uptimeMs).toBe(5_000)
      // A session written now: the kept snapshot is taken again only once the settle time has passed
      // on the clock, so a plain health still shows 0; a probe sees it at once.
      yield* Effect.promise(() => peer.call("agent", { message: "hi", idempotencyKey: "probe-1" }))
      expect((yield* Effect.promise(() => peer.call("health"))).payload.sessions.count).toBe(0)
      const probed = (yield* Effect.promise(() => peer.call("health", { probe: true }))).payload
      expect(probed.probe).toBe(true)
      expect(probed.sessions.count).toBe(1)
      expect(probed.sessions.recent[0].key).toBe("agent:main:main")
      // It was kept: a plain health now answers with it.
      expect((yield* Effect.promise(() => peer.call("health"))).payload.ts).toBe(probed.ts)
    })
  )
})

describe("the health CLI", () => {
  it("shows how old a kept snapshot is, and what a fresh one found", () => {
    const target = { url: "ws://127.0.0.1:18789", urlSource: "local", mode: "local" as const }
    const health = {
      ok: true,
      ts: 1_000_000,
      channelOrder: ["telegram"],
      channels: { telegram: { id: "telegram", label: "Telegram", state: "running", account: "@bot", probe: { ok: true, ms: 42 } } },
      agents: [{ agentId: "main", isDefault: true, sessions: { count: 1, recent: [{ key: "agent:main:main", age: 120_000 }] } }],
      sessions: { count: 1 },
      gateway: { version: "0.1.0", uptimeMs: 65_000, connections: { operators: 2, nodes: 1 }, presence: 3 }
    }
    const stale = renderHealth({ target, latencyMs: 1.2, health, probed: false, receivedAt: 1_012_000 })
    expect(stale.split("\n")[0]).toBe(
      "Gateway ws://127.0.0.1:18789 (local): healthy (1.2 ms, snapshot from 12s ago; --verbose takes a fresh one)"
    )
    expect(stale).toContain("uptime 1m 5s · operators 2 · nodes 1 · presence 3 · sessions 1")
    const fresh = renderHealth({ target, latencyMs: 3.4, health, probed: true, receivedAt: 1_000_010 })
    expect(fresh).toContain("healthy (3.4 ms, taken now)")
    expect(fresh).toContain("    Telegram: running (@bot) · answered in 42 ms")
    expect(fresh).toContain("  agent main (default): 1 session, most recent:\n    agent:main:main · 2m 0s ago")
  })

  it("a snapshot with nulls in its lists (a buggy or hostile Gateway) renders instead of crashing the CLI", () => {
    const target = { url: "ws://127.0.0.1:18789", urlSource: "local", mode: "local" as const }
    const health = { ok: true, channelOrder: [null, "telegram"], agents: [null, { agentId: "main", sessions: { recent: [null] } }] }
    const rendered = renderHealth({ target, latencyMs: 1, health: health as never, probed: true, receivedAt: 0 })
    // One channel line: the null id is skipped; telegram has no entry in `channels`, so it says nothing about it.
    expect(rendered).toContain("  channels:\n    undefined: ?\n  agent undefined: 0 sessions\n")
    expect(rendered).toContain("  agent main: 0 sessions, most recent:\n    undefined · ?")
  })

  it.scopedLive("clawgate health, health --verbose and status --deep against a Gateway with a session", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const { peer } = yield* handshake(gw.url, admin)
      yield* Effect.promise(() => peer.call("agent", { message: "hi", idempotencyKey: "cli-1" }))
      const env = { CLAWGATE_STATE_DIR: gw.stateDir }
      const flags = ["--url", gw.url, "--token", TOKEN]
      const verbose = yield* runCli(["health", "--verbose", ...flags], env)
      expect(verbose.code).toBe(0)
      expect(verbose.stdout).toContain("taken now")
      expect(verbose.stdout).toMatch(/agent main \(default\): 1 session, most recent:\n {4}agent:main:main \[operator\] · \ds ago/)
      const json = JSON.parse((yield* runCli(["health", "--verbose", "--json", ...flags], env)).stdout)
      expect(json.health.probe).toBe(true)
      const deep = yield* runCli(["status", "--deep", ...flags], env)
      expect(deep.code).toBe(0)
      expect(deep.stdout).toMatch(
        /Vitals: {4}RSS \d+\.\d MB · heap [\d.]+ MB of [\d.]+ MB · event loop delay p50 [\d.]+ ms \/ p99 [\d.]+ ms/
      )
      expect(deep.stdout).toMatch(/connections: 2 operators, 0 nodes, \d+ connecting · \d+ requests in flight · \d+ agent runs/)
      expect(deep.stdout).toMatch(/Health: {4}ok \([\d.]+ ms, taken now\) · sessions 1 · channels: none/)
    })
  )
})
