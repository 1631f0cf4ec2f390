/**
 * `clawgate security audit`: gathers the facts (the config file, the modes of
 * the files that hold secrets, the environment's credentials, and what the
 * Gateway it can reach says in `status`), then applies the rules of
 * security/audit.ts. The live part is optional: with no Gateway answering,
 * the audit runs on the config and the files alone and says so.
 */
import * as path from "node:path"
import { FileSystem } from "@effect/platform"
import { Effect, Either, Option } from "effect"
import {
  auditConfig,
  summarize,
  type AuditSummary,
  type FileFact,
  type FileKind,
  type Finding,
  type LiveFacts,
  type LiveGateway
} from "../security/audit.js"
import { ConfigStore } from "../services/Config.js"
import { GatewayError } from "../protocol/errors.js"
import { Core } from "../protocol/methods.js"
import { GatewayClient, GatewayClientError } from "../services/GatewayClient.js"

export interface AuditReport {
  readonly findings: ReadonlyArray<Finding>
  readonly summary: AuditSummary
  /** The live checks ran: a Gateway answered `status`. */
  readonly live: boolean
  readonly configPath: string
  readonly gateway: { readonly url: string | null; readonly reachable: boolean; readonly error?: string | undefined }
}

/** What the reachable Gateway says about itself. Needs `operator.read` (for `status`). */
export const liveFacts = Effect.gen(function* () {
  const client = yield* GatewayClient
  yield* client.connect
  const st = yield* client.call(Core.Status)
  const gw = st.gateway
  const c = st.vitals?.connections
  return {
    url: client.target.url,
    urlSource: client.target.urlSource,
    local: client.target.mode === "local",
    bind: gw?.bind,
    listeners: gw?.listeners,
    authMode: gw?.authMode,
    tls: gw?.tls,
    tailscale: gw?.tailscale,
    connections: c ? { operators: c.operators, nodes: c.nodes, pending: c.pending ?? 0 } : undefined,
    untrustedProxyHeaders: st.security?.untrustedProxyHeaders
  } satisfies LiveGateway
})

const describeLiveError = (e: unknown): { url?: string | undefined; reason: string } => {
  if (e instanceof GatewayClientError) return { url: e.target?.url, reason: e.message }
  if (e instanceof GatewayError) return { reason: `the Gateway answered status with ${e.code}: ${e.message}` }
  return { reason: e instanceof Error ? e.message : String(e) }
}

/**
 * The audit. `live` is the live probe with its client already provided (it
 * may fail: that only skips the live checks).
 */
export const securityAudit = <E, R>(live: Effect.Effect<LiveGateway, E, R>) =>
  Effect.gen(function* () {
    const config = yield* ConfigStore
    const fs = yield* FileSystem.FileSystem
    const file = yield* config.load
    const cfg = file.config
    const { configPath, stateDir } = config.paths

    const tlsKey = cfg.gateway?.tls?.keyPath ?? path.join(stateDir, "tls", "gateway-key.pem")
    const candidates: Array<readonly [FileKind, string]> = [
      ["config", configPath],
      ["stateDir", stateDir],
      ["deviceKey", path.join(stateDir, "identity", "device.json")],
      ["deviceTokens", path.join(stateDir, "identity", "device-tokens.json")],
      ["tlsKey", tlsKey],
      ["database", path.join(stateDir, "clawgate.sqlite")],
      ["database", path.join(stateDir, "clawgate.sqlite-wal")],
      ["log", path.join(stateDir, "logs", "gateway.log")]
    ]
    const files = yield* Effect.forEach(candidates, ([kind, p]) =>
      fs.stat(p).pipe(
        Effect.map((info) => Option.some<FileFact>({ kind, path: p, mode: info.mode & 0o777, isDirectory: info.type === "Directory" })),
        // A file that does not exist (or cannot be looked at) has no mode to judge.
        Effect.orElseSucceed(() => Option.none<FileFact>())
      )
    )

    const probed = yield* Effect.either(live)
    const liveResult: LiveFacts = Either.isRight(probed)
      ? { reachable: true, ...probed.right }
      : { reachable: false, ...describeLiveError(probed.left) }

    const findings = auditConfig(cfg, {
      configPath,
      env: config.env,
      platform: process.platform,
      files: files.flatMap((f) => (Option.isSome(f) ? [f.value] : [])),
      live: liveResult
    })
    return {
      findings,
      summary: summarize(findings),
      live: liveResult.reachable,
      configPath,
      gateway: liveResult.reachable
        ? { url: liveResult.url, reachable: true }
        : { url: liveResult.url ?? null, reachable: false, error: liveResult.reason }
    } satisfies AuditReport
  })
