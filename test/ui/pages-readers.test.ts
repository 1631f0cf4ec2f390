/**
 * What the pages show, read from a real Gateway's answers and events: the
 * Overview's status, health and presence, the Nodes page's list, the Devices
 * page's requests and paired devices (live from device.pair.* events) and the
 * Channels page's table; and the relative times they all use.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { readChannels, stateTone } from "../../src/ui/pages/lib/channels.js"
import { deviceName, readDeviceLists, tokenRoles, withRequested, withResolved } from "../../src/ui/pages/lib/devices.js"
import { bytes, duration, hostPort, relativeTime, shortId } from "../../src/ui/pages/lib/format.js"
import { readNodeList } from "../../src/ui/pages/lib/nodes.js"
import { readHealth, readPresence, readStatus, tickLate } from "../../src/ui/pages/lib/overview.js"
import { deviceHandshake, makeTestDevice, nodeParams } from "../support/device.js"
import { startGateway, TOKEN } from "../support/gateway.js"
import { connectParams, handshake } from "../support/ws.js"

describe("format", () => {
  it("relative times count in the largest unit, both ways", () => {
    const now = 1_700_000_000_000
    expect(relativeTime(now, now)).toBe("just now")
    expect(relativeTime(now - 12_400, now)).toBe("12s ago")
    expect(relativeTime(now - 5 * 60_000, now)).toBe("5m ago")
    expect(relativeTime(now - 3 * 3_600_000, now)).toBe("3h ago")
    expect(relativeTime(now - 2 * 86_400_000, now)).toBe("2d ago")
    expect(relativeTime(now + 20_000, now)).toBe("in 20s")
    expect(relativeTime(Number.NaN, now)).toBe("–")
  })

  it("durations, sizes, listeners and ids", () => {
    expect([42_000, 303_000, 7_500_000, 3 * 86_400_000 + 4 * 3_600_000, 60_000, -1].map(duration)).toEqual([
      "42s",
      "5m 3s",
      "2h 5m",
      "3d 4h",
      "1m",
      "–"
    ])
    expect([512, 1536, 3.2 * 1024 * 1024].map(bytes)).toEqual(["512 B", "1.5 KB", "3.2 MB"])
    expect([hostPort("127.0.0.1", 18789), hostPort("::1", 18789)]).toEqual(["127.0.0.1:18789", "[::1]:18789"])
    expect(shortId("a".repeat(64))).toBe(`${"a".repeat(12)}…`)
  })

  it("a tick is late after one and a half intervals", () => {
    expect(tickLate(31_000, 30_000)).toBe(false)
    expect(tickLate(46_000, 30_000)).toBe(true)
    expect(tickLate(99_000, undefined)).toBe(false)
  })
})

describe("against a real Gateway", () => {
  it.scopedLive(
    "the Overview, Nodes, Devices and Channels pages read what the Gateway answers and announces",
    () =>
      Effect.gen(function* () {
        const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, nodes: { pairing: { autoApproveLocal: false } } } })
        const { peer: op, res } = yield* handshake(gw.url, connectParams({ auth: { token: TOKEN } }))
        expect(res.ok).toBe(true)
        const call = (method: string, params?: unknown) =>
          Effect.promise(async () => {
            const r = await op.call(method, params)
            if (!r.ok) throw new Error(`${method}: ${JSON.stringify(r.error)}`)
            return r.payload as unknown
          })

        // Overview: status, health and presence.
        const status = readStatus(yield* call("status"))
        expect(status.version).toBe(res.payload.server.version)
        expect(status.bind).toBe("loopback")
        expect(status.listeners.some((l) => l.endsWith(`:${gw.port}`))).toBe(true)
        expect(status.authMode).toBe("token")
        expect(status.tls).toBe(false)
        expect(status.tailscale).toBe("off")
        expect(status.uptimeMs).toBeGreaterThanOrEqual(0)
        expect(status.connections?.operators).toBe(1)
        const health = readHealth(yield* call("health"))
        expect(health.ok).toBe(true)
        expect(health.agents.map((a) => a.agentId)).toContain("main")
        expect(health.sessionCount).toBe(0)
        expect(readHealth(res.payload.snapshot.health).ok).toBe(true)
        const presence = readPresence(yield* call("system-presence"))
        expect(presence[0]?.roles).toEqual(["gateway"])
        expect(presence.some((p) => p.client === "test" && p.mode === "cli" && p.ip !== undefined && p.since !== undefined)).toBe(true)

        // A node asks to pair: the Devices page hears the request as it is made.
        let lists = readDeviceLists(yield* call("device.pair.list"))
        expect(lists).toEqual({ pending: [], paired: [] })
        const node = makeTestDevice()
        const refused = yield* deviceHandshake(gw.url, node, nodeParams(TOKEN))
        expect(refused.res.error?.code).toBe("NOT_PAIRED")
        const requested = yield* Effect.promise(() => op.waitFor((f) => f.event === "device.pair.requested"))
        lists = withRequested(lists, requested.payload)
        expect(lists.pending).toHaveLength(1)
        const request = lists.pending[0]
        expect(request?.deviceId).toBe(node.deviceId)
        expect(request?.roles).toEqual(["node"])
        expect(request?.reason).toBe("not-paired")
        expect(request?.commands).toEqual(["system.info"])
        expect(deviceName(request ?? lists.pending[0]!)).toBe("test-node")
        // The same event twice is one request.
        expect(withRequested(lists, requested.payload).pending).toHaveLength(1)
        // And what device.pair.list says is the same request.
        expect(readDeviceLists(yield* call("device.pair.list")).pending).toEqual(lists.pending)

        // Approved: the request goes (event), the device is paired (list), and it runs as a node.
        yield* call("device.pair.approve", { requestId: request?.requestId })
        const resolved = yield* Effect.promise(() => op.waitFor((f) => f.event === "device.pair.resolved"))
        expect(withResolved(lists, resolved.payload).pending).toEqual([])
        lists = readDeviceLists(yield* call("device.pair.list"))
        const paired = lists.paired.find((d) => d.deviceId === node.deviceId)
        expect(paired?.roles).toEqual(["node"])
        expect(paired?.approvedVia).toBe("owner")
        expect(paired?.createdAtMs).toBeGreaterThan(0)
        expect(paired?.clientId).toBe("node-host")
        expect(paired && tokenRoles(paired)).toEqual(["node"])
        const online = yield* deviceHandshake(gw.url, node, nodeParams(TOKEN))
        expect(online.res.ok).toBe(true)

        const nodes = readNodeList(yield* call("node.list"))
        expect(nodes).toHaveLength(1)
        expect(nodes[0]).toMatchObject({
          nodeId: node.deviceId,
          displayName: "test-node",
          connected: true,
          paired: true,
          platform: "linux"
        })
        expect(nodes[0]?.commands).toEqual(["system.info"])
        expect(nodes[0]?.connectedAtMs).toBeGreaterThan(0)

        // Presence events carry the whole list: the node is in it.
        const withNode = yield* Effect.promise(() =>
          op.waitFor((f) => f.event === "presence" && JSON.stringify(f.payload).includes(node.deviceId))
        )
        expect(readPresence(withNode.payload).some((p) => p.deviceId === node.deviceId && p.roles.includes("node"))).toBe(true)

        // Channels: the table reads each channel as the Gateway lists it.
        const channels = readChannels(yield* call("channels.status"))
        expect(channels.length).toBeGreaterThanOrEqual(1)
        for (const c of channels) expect(typeof c.state).toBe("string")
      }),
    30_000
  )
})

describe("readers without a Gateway", () => {
  it("channels: a last error with its time, a probe, and a state's tone", () => {
    const [c] = readChannels({
      ts: 1,
      channels: [
        {
          id: "telegram",
          label: "Telegram",
          configured: true,
          enabled: true,
          state: "error",
          mode: "polling",
          account: "@bot",
          lastError: { message: "401 Unauthorized", at: 5 },
          probe: { ok: false, ms: 12, error: "401", at: 6 }
        },
        { label: "no id" }
      ]
    })
    expect(c).toMatchObject({ id: "telegram", mode: "polling", account: "@bot", lastError: { message: "401 Unauthorized", at: 5 } })
    expect(c?.probe).toEqual({ ok: false, ms: 12, error: "401" })
    expect([stateTone("running"), stateTone("error"), stateTone("stopped")]).toEqual(["ok", "bad", "muted"])
  })

  it("anything of the wrong shape reads as empty, never as a crash", () => {
    for (const v of [null, 7, "x", [], { nodes: "x" }, { pending: [1, null], paired: {} }]) {
      expect(readNodeList(v)).toEqual([])
      expect(readDeviceLists(v)).toEqual({ pending: [], paired: [] })
      expect(readChannels(v)).toEqual([])
      expect(readPresence(v)).toEqual([])
      expect(readStatus(v).listeners).toEqual([])
      expect(readHealth(v).channels).toEqual([])
    }
    // A peer's long name is clipped.
    const [n] = readNodeList({ nodes: [{ nodeId: "n", displayName: "x".repeat(10_000), commands: [] }] })
    expect(n?.displayName?.length).toBeLessThanOrEqual(200)
  })
})
