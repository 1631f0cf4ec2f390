/**
 * What the Overview, Security and chat pages read about the Gateway itself, against a real Gateway through
 * the real client: `security.audit` (the CLI's findings, made in the Gateway), `status` with TLS and its
 * fingerprint, and `models.list`, `agents.list`, `agent.identity.get` from the config.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { ConfigFileLive } from "../../src/layers/ConfigFile.js"
import { GatewayClientRemote } from "../../src/layers/GatewayClientRemote.js"
import { fingerprintOf } from "../../src/layers/TlsIdentity.js"
import { liveFacts, securityAudit } from "../../src/programs/audit.js"
import { Catalog, Core, Security } from "../../src/protocol/methods.js"
import { connectOperator } from "../support/client.js"
import { startGateway, TOKEN } from "../support/gateway.js"

describe("security.audit", () => {
  it.scopedLive("gives the findings `clawgate security audit` prints, made in the Gateway, without a secret", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, controlUi: { allowedOrigins: ["*"] } } })
      // Loosened after start (the Gateway tightens the state dir when it starts): a critical finding.
      yield* Effect.promise(() => fs.chmod(gw.configPath, 0o644))
      const admin = yield* connectOperator(gw)
      const report = yield* admin.call(Security.SecurityAudit, { deep: true })
      const ids = report.findings.map((f) => f.id)
      expect(ids).toContain("fs.config.perms_world_readable")
      expect(report.findings.find((f) => f.id === "fs.config.perms_world_readable")).toMatchObject({
        severity: "critical",
        fix: `chmod 600 ${gw.configPath}`
      })
      expect(report.summary.critical).toBe(report.findings.filter((f) => f.severity === "critical").length)
      expect(report).toMatchObject({ live: true, configPath: gw.configPath })
      expect(JSON.stringify(report)).not.toContain(TOKEN)

      // The CLI's audit of the same Gateway (its own files, and `status` over the wire) finds the same.
      const cli = yield* securityAudit(
        liveFacts.pipe(
          Effect.provide(GatewayClientRemote({ target: { url: gw.url, urlSource: "local", mode: "local", token: Redacted.make(TOKEN) } })),
          Effect.scoped
        )
      ).pipe(Effect.provide(Layer.mergeAll(ConfigFileLive({ CLAWGATE_STATE_DIR: gw.stateDir }), NodeFileSystem.layer)))
      expect(report.findings).toEqual(cli.findings)
      expect(report.summary).toEqual(cli.summary)
    })
  )

  it.scopedLive("is operator.admin only, and its params are checked", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const reader = yield* connectOperator(gw, { scopes: ["operator.read", "operator.write"] })
      const refused = yield* reader.call(Security.SecurityAudit).pipe(Effect.flip)
      expect(refused).toMatchObject({ code: "FORBIDDEN", message: "missing scope: operator.admin" })
      const admin = yield* connectOperator(gw)
      const bad = yield* admin.connection.request("security.audit", { deep: "yes" }).pipe(Effect.flip)
      expect(bad).toMatchObject({ code: "INVALID_REQUEST", message: expect.stringContaining("invalid security.audit params: deep") })
    })
  )
})

describe("status for the Overview", () => {
  it.scopedLive("says where it listens, how it authenticates, and the TLS certificate's fingerprint", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, tls: { enabled: true } } })
      const cert = yield* Effect.promise(() => fs.readFile(path.join(gw.stateDir, "tls", "gateway-cert.pem"), "utf8"))
      const fingerprint = fingerprintOf(cert)
      const reader = yield* connectOperator(gw, { scopes: ["operator.read"], tlsFingerprint: fingerprint })
      const status = yield* reader.call(Core.Status)
      expect(status.gateway).toMatchObject({
        bind: "loopback",
        port: gw.port,
        authMode: "token",
        tls: true,
        tlsFingerprint: fingerprint,
        tailscale: "off"
      })
      expect(status.gateway?.listeners?.map((l) => l.host)).toContain("127.0.0.1")
      expect(status.version).toEqual(expect.any(String))
      expect(status.uptimeMs).toEqual(expect.any(Number))

      const plain = yield* startGateway()
      const plainStatus = yield* (yield* connectOperator(plain, { scopes: ["operator.read"] })).call(Core.Status)
      expect(plainStatus.gateway).toMatchObject({ tls: false, tlsFingerprint: null })
    })
  )
})

describe("models, agents and the agent's identity", () => {
  it.scopedLive("list what the config lets a run use, in OpenClaw's shapes", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({
        gateway: { auth: { token: TOKEN } },
        agents: { defaults: { model: { primary: "local/llama3.2" } } },
        models: {
          providers: {
            local: { api: "openai-completions", baseUrl: "http://127.0.0.1:9/v1" },
            claude: { api: "anthropic-messages", models: ["claude-a", "claude-b"] }
          }
        }
      })
      const reader = yield* connectOperator(gw, { scopes: ["operator.read"] })
      const { models } = yield* reader.call(Catalog.ModelsList)
      expect(models.map((m) => m.ref)).toEqual(["offline/clawgate-offline", "claude/claude-a", "claude/claude-b", "local/llama3.2"])
      expect(models.find((m) => m.default)).toMatchObject({
        id: "llama3.2",
        name: "llama3.2",
        provider: "local",
        api: "openai-completions"
      })
      expect(models[0]).toMatchObject({ provider: "offline", local: true, default: false })
      const claude = yield* reader.call(Catalog.ModelsList, { provider: "claude" })
      expect(claude.models.map((m) => m.id)).toEqual(["claude-a", "claude-b"])

      expect(yield* reader.call(Catalog.AgentsList)).toEqual({
        defaultId: "main",
        mainKey: "main",
        scope: "per-sender",
        agents: [{ id: "main", model: { primary: "local/llama3.2" } }]
      })
      expect(yield* reader.call(Catalog.AgentIdentityGet, { sessionKey: "agent:main:main" })).toMatchObject({
        agentId: "main",
        name: "Assistant",
        nameSource: "default"
      })
      const other = yield* reader.call(Catalog.AgentIdentityGet, { agentId: "ops" }).pipe(Effect.flip)
      expect(other).toMatchObject({ code: "INVALID_REQUEST", details: { code: "UNKNOWN_AGENT", agentId: "ops" } })
      const long = yield* reader.connection.request("models.list", { provider: "p".repeat(300) }).pipe(Effect.flip)
      expect(long).toMatchObject({ code: "INVALID_REQUEST", message: expect.stringContaining("provider") })
      const nobody = yield* connectOperator(gw, { scopes: [] })
      expect(yield* nobody.call(Catalog.AgentsList).pipe(Effect.flip)).toMatchObject({ code: "FORBIDDEN" })
    })
  )
})
