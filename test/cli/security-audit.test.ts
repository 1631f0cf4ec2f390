import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnGateway } from "../support/cli.js"
import { tempDir, writeConfig } from "../support/gateway.js"
import { openPeer } from "../support/ws.js"

const STRONG = "Xq3v9Lr0pT7mKc2Wz8Yb5Nd1Hs6Gf4Ja0Qe3Ru9Vt2"

/** A loopback port nothing listens on (bound, then released), so the live probe is refused at once. */
const closedPort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const server = net.createServer()
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as net.AddressInfo).port
        server.close(() => resolve(port))
      })
    })
)

const auditJson = (env: Record<string, string>) =>
  Effect.map(runCli(["security", "audit", "--json"], env), (res) => ({ ...res, report: JSON.parse(res.stdout) }))

describe("clawgate security audit", () => {
  it.scopedLive("a LAN bind without auth is critical from the config alone: exit 5, live checks skipped", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { bind: "lan" } })
      const env = { CLAWGATE_STATE_DIR: dir, CLAWGATE_GATEWAY_PORT: String(yield* closedPort) }
      const { code, report } = yield* auditJson(env)
      expect(code).toBe(5)
      expect(report.live).toBe(false)
      expect(report.summary.critical).toBeGreaterThanOrEqual(1)
      const finding = report.findings.find((f: any) => f.id === "gateway.bind_no_auth")
      expect(finding).toMatchObject({ severity: "critical" })
      expect(finding.fix).toContain("gateway.auth.token")
      expect(report.findings.some((f: any) => f.id === "gateway.live_skipped" && f.severity === "info")).toBe(true)

      const human = yield* runCli(["security", "audit"], env)
      expect(human.code).toBe(5)
      expect(human.stdout).toMatch(/^CRITICAL {2}The Gateway is bound beyond loopback without authentication {2}\[gateway\.bind_no_auth\]/)
      expect(human.stdout).toContain("  fix: clawgate config set gateway.auth.token")
      expect(human.stdout).toMatch(/Summary: 2 critical · 0 warn · 1 info/)
    })
  )

  it.scopedLive("a default loopback config with 0600 files exits 0 with nothing to fix", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: STRONG } } })
      const { code, report, stderr } = yield* auditJson({ CLAWGATE_STATE_DIR: dir, CLAWGATE_GATEWAY_PORT: String(yield* closedPort) })
      expect(stderr).toBe("")
      expect(code).toBe(0)
      expect(report.summary).toEqual({ critical: 0, warn: 0, info: 1 })
      expect(report.findings.map((f: any) => f.id)).toEqual(["gateway.live_skipped"])
    })
  )

  it.scopedLive("a world-readable config holding a token is reported with its chmod", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: STRONG } } })
      const file = path.join(dir, "clawgate.json")
      yield* Effect.promise(() => fs.chmod(file, 0o644))
      const { code, report } = yield* auditJson({ CLAWGATE_STATE_DIR: dir, CLAWGATE_GATEWAY_PORT: String(yield* closedPort) })
      expect(code).toBe(5)
      expect(report.findings[0]).toMatchObject({ id: "fs.config.perms_world_readable", severity: "critical", fix: `chmod 600 ${file}` })
    })
  )

  it.scopedLive("a live Gateway that received forwarding headers from an untrusted peer is reported", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: STRONG } } })
      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      const env = { CLAWGATE_STATE_DIR: dir, CLAWGATE_GATEWAY_PORT: String(gw.port) }

      const clean = yield* auditJson(env)
      expect(clean.code).toBe(0)
      expect(clean.report.live).toBe(true)
      expect(clean.report.gateway).toEqual({ url: gw.url, reachable: true })
      expect(clean.report.findings).toEqual([])

      const spoofed = yield* openPeer(gw.url, { headers: { "X-Forwarded-For": "127.0.0.1" } })
      yield* Effect.promise(() => spoofed.waitFor((f) => f.event === "connect.challenge"))
      const { code, report } = yield* auditJson(env)
      expect(code).toBe(0)
      const finding = report.findings.find((f: any) => f.id === "gateway.untrusted_proxy_headers")
      expect(finding).toMatchObject({ severity: "warn" })
      expect(finding.detail).toContain("1 connection since it started")
      expect(finding.detail).toContain("the last from 127.0.0.1")
      expect(finding.detail).toContain("gateway.trustedProxies is empty")
      expect(finding.fix).toContain(`clawgate config set gateway.trustedProxies '["127.0.0.1"]'`)
    })
  )
})
