import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { ClawgateConfig } from "../../src/config/schema.js"
import { auditConfig, summarize, type AuditFacts, type FileFact, type LiveFacts } from "../../src/security/audit.js"
import { connectParams, handshake, openPeer } from "../support/ws.js"
import { startGateway, TOKEN } from "../support/gateway.js"

const STRONG = "Xq3v9Lr0pT7mKc2Wz8Yb5Nd1Hs6Gf4Ja0Qe3Ru9Vt2" // 43 characters, like a generated token
const skipped: LiveFacts = { reachable: false, url: "ws://127.0.0.1:18789", reason: "ECONNREFUSED" }
const privateFiles: Array<FileFact> = [
  { kind: "config", path: "/home/me/.clawgate/clawgate.json", mode: 0o600, isDirectory: false },
  { kind: "stateDir", path: "/home/me/.clawgate", mode: 0o700, isDirectory: true },
  { kind: "deviceKey", path: "/home/me/.clawgate/identity/device.json", mode: 0o600, isDirectory: false }
]

const facts = (overrides: Partial<AuditFacts> = {}): AuditFacts => ({
  configPath: "/home/me/.clawgate/clawgate.json",
  env: {},
  platform: "linux",
  files: privateFiles,
  live: skipped,
  ...overrides
})

const audit = (config: unknown, overrides: Partial<AuditFacts> = {}) => auditConfig(config as ClawgateConfig, facts(overrides))
const ids = (config: unknown, overrides: Partial<AuditFacts> = {}) => audit(config, overrides).map((f) => `${f.severity} ${f.id}`)
const find = (config: unknown, id: string, overrides: Partial<AuditFacts> = {}) => audit(config, overrides).find((f) => f.id === id)

describe("auditConfig", () => {
  it("a default loopback Gateway with a generated token and private files has nothing to fix", () => {
    const findings = audit({ gateway: { auth: { token: STRONG } } })
    expect(findings.map((f) => f.id)).toEqual(["gateway.live_skipped"])
    expect(summarize(findings)).toEqual({ critical: 0, warn: 0, info: 1 })
  })

  it("a bind beyond loopback without a credential is critical, and so is the missing TLS with it", () => {
    expect(ids({ gateway: { bind: "lan" } })).toEqual(
      expect.arrayContaining(["critical gateway.bind_no_auth", "critical gateway.bind_no_tls"])
    )
    const custom = find({ gateway: { bind: "custom", customBindHost: "192.168.1.20" } }, "gateway.bind_no_auth")
    expect(custom?.detail).toContain("192.168.1.20")
    expect(custom?.fix).toContain("clawgate config set gateway.auth.token")
    // A custom loopback host is still loopback.
    expect(find({ gateway: { bind: "custom", customBindHost: "127.0.0.1" } }, "gateway.bind_no_auth")).toBeUndefined()
    // The environment's token counts, as it does for the Gateway.
    const env = { token: { value: STRONG, name: "CLAWGATE_GATEWAY_TOKEN" } }
    expect(find({ gateway: { bind: "lan" } }, "gateway.bind_no_auth", { env })).toBeUndefined()
  })

  it("auth mode none: critical beyond loopback, a warning on loopback", () => {
    expect(ids({ gateway: { bind: "lan", auth: { mode: "none", token: STRONG } } })).toContain("critical gateway.bind_no_auth")
    expect(ids({ gateway: { auth: { mode: "none" } } })).toContain("warn gateway.loopback_no_auth")
  })

  it("short and well-known credentials: a warning on loopback, critical when the Gateway is reachable from elsewhere", () => {
    expect(ids({ gateway: { auth: { token: "short-token-123" } } })).toContain("warn gateway.token_too_short")
    expect(ids({ gateway: { bind: "lan", auth: { token: "short-token-123" }, tls: { enabled: true } } })).toContain(
      "critical gateway.token_too_short"
    )
    expect(ids({ gateway: { auth: { token: "changeme" } } })).toEqual(["warn gateway.token_weak", "info gateway.live_skipped"])
    const weak = find({ gateway: { bind: "lan", auth: { token: "ChangeMe" } } }, "gateway.token_weak")
    expect(weak?.severity).toBe("critical")
    expect(weak?.detail).not.toContain("ChangeMe")
    expect(ids({ gateway: { auth: { mode: "password", password: "hunter2" } } })).toContain("warn gateway.password_too_short")
    // The credential in force may come from the environment: it is named as such.
    const env = find({ gateway: {} }, "gateway.token_too_short", { env: { token: { value: "abc123", name: "CLAWGATE_GATEWAY_TOKEN" } } })
    expect(env?.detail).toMatch(/^CLAWGATE_GATEWAY_TOKEN is 6 characters/)
    // A client credential for another Gateway: a warning.
    expect(ids({ gateway: { auth: { token: STRONG }, remote: { token: "password" } } })).toContain("warn gateway.remote.token_weak")
  })

  it("one secret in two roles is reported; the env token overriding the config with the same value is not", () => {
    const shared = find(
      { gateway: { auth: { token: STRONG }, remote: { url: "wss://gw.example", token: STRONG } } },
      "gateway.credential_reused"
    )
    expect(shared?.severity).toBe("warn")
    expect(shared?.detail).toContain("gateway.auth.token, gateway.remote.token")
    expect(find({ gateway: { auth: { token: STRONG, password: STRONG } } }, "gateway.credential_reused")).toBeDefined()
    expect(
      find({ gateway: { auth: { token: STRONG } } }, "gateway.credential_reused", {
        env: { token: { value: STRONG, name: "CLAWGATE_GATEWAY_TOKEN" } }
      })
    ).toBeUndefined()
  })

  it("Tailscale: Funnel without a password is critical, with one a warning; Serve is information; Serve without auth is critical", () => {
    expect(find({ gateway: { auth: { token: STRONG }, tailscale: { mode: "funnel" } } }, "gateway.tailscale_funnel")?.severity).toBe(
      "critical"
    )
    const withPassword = {
      gateway: { auth: { mode: "password", password: "correct-horse-battery-staple" }, tailscale: { mode: "funnel" } }
    }
    expect(find(withPassword, "gateway.tailscale_funnel")?.severity).toBe("warn")
    expect(ids({ gateway: { auth: { mode: "password", password: "hunter2hunter" }, tailscale: { mode: "funnel" } } })).not.toContain(
      "critical gateway.password_too_short"
    )
    expect(ids({ gateway: { auth: { mode: "password", password: "hunter2" }, tailscale: { mode: "funnel" } } })).toContain(
      "critical gateway.password_too_short"
    )
    const serve = find(
      { gateway: { auth: { token: STRONG, allowTailscale: true }, tailscale: { mode: "serve" } } },
      "gateway.tailscale_serve"
    )
    expect(serve?.severity).toBe("info")
    expect(serve?.detail).toContain("allowTailscale")
    expect(ids({ gateway: { auth: { mode: "none" }, tailscale: { mode: "serve" } } })).toContain("critical gateway.tailscale_no_auth")
    // Tailscale terminates TLS for Serve: no TLS finding for a loopback Gateway behind it.
    expect(find({ gateway: { auth: { token: STRONG }, tailscale: { mode: "serve" } } }, "gateway.bind_no_tls")).toBeUndefined()
  })

  it("TLS: a LAN bind without it is a warning, a tailnet bind without it only information, with it nothing", () => {
    expect(ids({ gateway: { bind: "lan", auth: { token: STRONG } } })).toContain("warn gateway.bind_no_tls")
    expect(ids({ gateway: { bind: "tailnet", auth: { token: STRONG } } })).toContain("info gateway.bind_no_tls")
    expect(find({ gateway: { bind: "lan", auth: { token: STRONG }, tls: { enabled: true } } }, "gateway.bind_no_tls")).toBeUndefined()
  })

  it("wildcard and null browser origins are reported", () => {
    expect(ids({ gateway: { auth: { token: STRONG }, controlUi: { allowedOrigins: ["*", "null", "https://app.example"] } } })).toEqual(
      expect.arrayContaining(["warn gateway.control_ui.allowed_origins_wildcard", "warn gateway.control_ui.allowed_origins_null"])
    )
    expect(
      find(
        { gateway: { auth: { token: STRONG }, controlUi: { allowedOrigins: ["https://app.example"] } } },
        "gateway.control_ui.allowed_origins_null"
      )
    ).toBeUndefined()
  })

  it("forwarding headers seen by the running Gateway from an untrusted peer are reported with the proxy to trust", () => {
    const live: LiveFacts = {
      reachable: true,
      url: "ws://127.0.0.1:18789",
      urlSource: "local (port from default port)",
      local: true,
      bind: "loopback",
      listeners: [{ host: "127.0.0.1", port: 18789 }],
      authMode: "token",
      tls: false,
      untrustedProxyHeaders: { count: 3, lastFrom: "10.0.0.7", lastAt: Date.UTC(2026, 10, 1) }
    }
    const f = find({ gateway: { auth: { token: STRONG }, trustedProxies: ["10.0.0.1"] } }, "gateway.untrusted_proxy_headers", { live })
    expect(f?.severity).toBe("warn")
    expect(f?.detail).toContain("3 connections")
    expect(f?.detail).toContain("10.0.0.7")
    expect(f?.detail).toContain('gateway.trustedProxies is ["10.0.0.1"]')
    expect(f?.fix).toContain(`clawgate config set gateway.trustedProxies '["10.0.0.1","10.0.0.7"]'`)
    expect(
      ids(
        { gateway: { auth: { token: STRONG } } },
        { live: { ...live, untrustedProxyHeaders: { count: 0, lastFrom: null, lastAt: null } } }
      )
    ).toEqual([])
  })

  it("half the unauthenticated budget held open is reported as a possible flood, from the Gateway's vital signs", () => {
    const live: LiveFacts = {
      reachable: true,
      url: "ws://127.0.0.1:18789",
      urlSource: "local (port from default port)",
      local: true,
      connections: { operators: 2, nodes: 1, pending: 600 }
    }
    const f = find({ gateway: { auth: { token: STRONG } } }, "gateway.unauthenticated_flood", { live })
    expect(f?.severity).toBe("warn")
    expect(f?.detail).toContain("600 connections have not logged in (the budget is 1024 in all")
    expect(
      find({ gateway: { auth: { token: STRONG }, limits: { unauthenticatedTotal: 5000 } } }, "gateway.unauthenticated_flood", { live })
    ).toBeUndefined()
    expect(
      find({ gateway: { auth: { token: STRONG } } }, "gateway.unauthenticated_flood", {
        live: { ...live, connections: { operators: 1, nodes: 0, pending: 3 } }
      })
    ).toBeUndefined()
  })

  it("the running Gateway's own bind wins over the config (it may have been started with --bind)", () => {
    const live: LiveFacts = {
      reachable: true,
      url: "ws://127.0.0.1:18789",
      urlSource: "local",
      local: true,
      bind: "lan",
      listeners: [{ host: "0.0.0.0", port: 18789 }],
      authMode: "token",
      tls: false
    }
    const f = find({ gateway: { auth: { token: STRONG } } }, "gateway.bind_no_tls", { live })
    expect(f?.severity).toBe("warn")
    expect(f?.detail).toContain("as the running Gateway reports")
    // It runs with a credential, even if the config has none (it came from its environment or --token).
    expect(find({ gateway: {} }, "gateway.bind_no_auth", { live })).toBeUndefined()
  })

  it("a remote Gateway's live facts are judged on their own", () => {
    const live: LiveFacts = {
      reachable: true,
      url: "wss://gw.example:18789",
      urlSource: "gateway.remote.url",
      local: false,
      bind: "lan",
      listeners: [{ host: "0.0.0.0", port: 18789 }],
      authMode: "token",
      tls: false
    }
    const config = { gateway: { mode: "remote", remote: { url: "wss://gw.example:18789", token: STRONG } } }
    expect(ids(config, { live })).toEqual(["warn gateway.remote.bind_no_tls"])
  })

  it("files others can read or write: critical for secrets and for what decides who may connect, a warning otherwise", () => {
    const files = (f: Partial<FileFact> & Pick<FileFact, "kind">): Array<FileFact> => [
      { path: `/s/${f.kind}`, mode: 0o600, isDirectory: false, ...f }
    ]
    const readable = find({ gateway: { auth: { token: STRONG } } }, "fs.config.perms_world_readable", {
      files: files({ kind: "config", mode: 0o644 })
    })
    expect(readable).toMatchObject({ severity: "critical", fix: "chmod 600 /s/config" })
    expect(readable?.detail).toContain("mode 0644")
    expect(find({}, "fs.config.perms_group_readable", { files: files({ kind: "config", mode: 0o640 }) })?.severity).toBe("warn")
    expect(find({}, "fs.device_key.perms_world_readable", { files: files({ kind: "deviceKey", mode: 0o644 }) })?.severity).toBe("critical")
    expect(find({}, "fs.tls_key.perms_group_readable", { files: files({ kind: "tlsKey", mode: 0o640 }) })?.severity).toBe("critical")
    expect(find({}, "fs.database.perms_world_readable", { files: files({ kind: "database", mode: 0o644 }) })?.severity).toBe("warn")
    const dir = find({}, "fs.state_dir.perms_writable", { files: files({ kind: "stateDir", mode: 0o777, isDirectory: true }) })
    expect(dir).toMatchObject({ severity: "critical", fix: "chmod 700 /s/stateDir" })
    expect(
      find({}, "fs.state_dir.perms_world_readable", { files: files({ kind: "stateDir", mode: 0o755, isDirectory: true }) })?.severity
    ).toBe("warn")
    expect(
      find({}, "fs.config.perms_writable", { files: [{ kind: "config", path: "/s/my config.json", mode: 0o620, isDirectory: false }] })?.fix
    ).toBe("chmod 600 '/s/my config.json'")
    expect(ids({}, { platform: "win32", files: files({ kind: "config", mode: 0o666 }) })).toContain("info fs.perms_skipped")
  })

  it("findings come critical first", () => {
    const severities = audit({ gateway: { bind: "lan", auth: { token: "changeme" }, controlUi: { allowedOrigins: ["*"] } } }).map(
      (f) => f.severity
    )
    expect(severities).toEqual(
      [...severities].sort((a, b) => ["critical", "warn", "info"].indexOf(a) - ["critical", "warn", "info"].indexOf(b))
    )
  })
})

describe("what the Gateway reports for the audit", () => {
  it.scopedLive("status counts connections whose forwarding headers came from an untrusted peer, and says whether it serves TLS", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const before = yield* handshake(gw.url, connectParams({ auth: { token: TOKEN }, scopes: ["operator.read"] }))
      const first = yield* Effect.promise(() => before.peer.call("status"))
      expect(first.payload.security).toEqual({ untrustedProxyHeaders: { count: 0, lastFrom: null, lastAt: null } })
      expect(first.payload.gateway.tls).toBe(false)

      const spoofed = yield* openPeer(gw.url, { headers: { "X-Forwarded-For": "203.0.113.9" } })
      yield* Effect.promise(() => spoofed.waitFor((f) => f.event === "connect.challenge"))
      const after = yield* Effect.promise(() => before.peer.call("status"))
      expect(after.payload.security.untrustedProxyHeaders).toMatchObject({ count: 1, lastFrom: "127.0.0.1" })
      expect(typeof after.payload.security.untrustedProxyHeaders.lastAt).toBe("number")
    })
  )
})
