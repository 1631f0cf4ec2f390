/** The Security page: findings read and grouped, and the commands inside the real audit's fixes, each offered to copy. */
import { describe, expect, it } from "@effect/vitest"
import type { ClawgateConfig } from "../../src/config/schema.js"
import { auditConfig, summarize, type AuditFacts } from "../../src/security/audit.js"
import { fixCommands, groupBySeverity, readAudit } from "../../src/ui/pages/lib/audit.js"

const facts: AuditFacts = {
  configPath: "/home/me/.clawgate/clawgate.json",
  env: {},
  platform: "linux",
  files: [
    { kind: "config", path: "/home/me/.clawgate/clawgate.json", mode: 0o644, isDirectory: false },
    { kind: "stateDir", path: "/home/me/.clawgate", mode: 0o755, isDirectory: true }
  ],
  live: { reachable: false, url: "ws://127.0.0.1:18789", reason: "ECONNREFUSED" }
}

describe("fixCommands", () => {
  it("finds the commands in the fixes the real audit writes", () => {
    const configs: Array<unknown> = [
      { gateway: { bind: "lan" } },
      { gateway: { bind: "lan", auth: { mode: "none" } } },
      { gateway: { auth: { token: "short" } } },
      { gateway: { tailscale: { mode: "funnel" }, auth: { mode: "password", password: "pw" } } },
      { gateway: { controlUi: { allowedOrigins: ["*", "null"] }, allowRealIpFallback: true } }
    ]
    const findings = configs.flatMap((c) => auditConfig(c as ClawgateConfig, facts))
    const withFix = findings.filter((f) => f.fix !== "")
    expect(withFix.length).toBeGreaterThan(5)
    const all = withFix.flatMap((f) => fixCommands(f.fix))
    for (const c of all) {
      expect(c, c).toMatch(/^(clawgate|chmod) /)
      // No prose after a command, and quotes stay whole.
      expect(c, c).not.toMatch(/ (and|or|then|unless|shows|again)( |$)/)
      expect((c.match(/'/g) ?? []).length % 2, c).toBe(0)
      expect((c.match(/"/g) ?? []).length % 2, c).toBe(0)
    }
    expect(all).toContain("chmod 600 /home/me/.clawgate/clawgate.json")
    expect(all).toContain("chmod 700 /home/me/.clawgate")
    expect(all).toContain("clawgate config set gateway.bind loopback")
  })

  it("splits a sentence into its commands and leaves the prose", () => {
    expect(
      fixCommands(
        'clawgate config unset gateway.auth.mode && clawgate config set gateway.auth.token "$(openssl rand -base64 32)", or keep the default loopback bind: clawgate config set gateway.bind loopback'
      )
    ).toEqual([
      'clawgate config unset gateway.auth.mode && clawgate config set gateway.auth.token "$(openssl rand -base64 32)"',
      "clawgate config set gateway.bind loopback"
    ])
    expect(
      fixCommands(
        "clawgate config set gateway.tls.enabled true, restart the Gateway, and pin `clawgate gateway tls fingerprint` on clients"
      )
    ).toEqual(["clawgate config set gateway.tls.enabled true", "clawgate gateway tls fingerprint"])
    expect(fixCommands("Start the Gateway (clawgate gateway run) or point the CLI at it, then run clawgate security audit again.")).toEqual(
      ["clawgate gateway run", "clawgate security audit"]
    )
    expect(fixCommands("clawgate status --deep shows the counts; the Gateway's log names the addresses it refused")).toEqual([
      "clawgate status --deep"
    ])
    expect(fixCommands('clawgate config set gateway.trustedProxies \'["10.0.0.1", "10.0.0.2"]\'; otherwise find out who')).toEqual([
      'clawgate config set gateway.trustedProxies \'["10.0.0.1", "10.0.0.2"]\''
    ])
    expect(fixCommands("chmod 600 /tmp/a,b/clawgate.json")).toEqual(["chmod 600 /tmp/a,b/clawgate.json"])
    expect(fixCommands("Make sure only your account can read the state directory (icacls).")).toEqual([])
    expect(fixCommands("")).toEqual([])
  })
})

describe("readAudit", () => {
  it("reads the answer, summary included, and groups critical first", () => {
    const findings = auditConfig({ gateway: { bind: "lan" } } as ClawgateConfig, facts)
    const view = readAudit({ findings, summary: summarize(findings) })
    expect(view.findings).toHaveLength(findings.length)
    expect(view.summary).toEqual(summarize(findings))
    const groups = groupBySeverity(view.findings)
    expect(groups[0]?.severity).toBe("critical")
    expect(groups.map((g) => g.severity)).toEqual([...new Set(findings.map((f) => f.severity))])
  })

  it("drops what is not a finding and counts when the summary is missing", () => {
    const view = readAudit({
      findings: [{ id: "a", severity: "warn", title: "A", detail: "d" }, { id: "b", severity: "bogus" }, "x", { severity: "info" }]
    })
    expect(view.findings).toEqual([{ id: "a", severity: "warn", title: "A", detail: "d", fix: "" }])
    expect(view.summary).toEqual({ critical: 0, warn: 1, info: 0 })
    expect(readAudit(null).findings).toEqual([])
  })
})
