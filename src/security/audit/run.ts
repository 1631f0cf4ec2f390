/**
 * The audit as a whole: the facts gathered (the config file, the modes of the
 * files that hold secrets, the environment's credentials, and the live
 * Gateway's view of itself, best effort) and the rules of security/audit.ts
 * applied to them. `clawgate security audit` (programs/audit.ts) runs it with
 * what the Gateway it reaches says in `status`; the Gateway's `security.audit`
 * runs it with its own state.
 */
import { FileSystem } from "@effect/platform"
import { Effect, Either, Option } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { ConfigStore } from "../../services/Config.js"
import { GatewayClientError } from "../../services/GatewayClient.js"
import { auditConfig, summarize } from "../audit.js"
import { stateFiles } from "./files.js"
import type { AuditSummary, FileFact, Finding, LiveFacts, LiveGateway } from "./types.js"

export interface AuditReport {
  readonly findings: ReadonlyArray<Finding>
  readonly summary: AuditSummary
  /** The live checks ran: a Gateway answered `status`. */
  readonly live: boolean
  readonly configPath: string
  readonly gateway: { readonly url: string | null; readonly reachable: boolean; readonly error?: string | undefined }
}

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

    const candidates = stateFiles(cfg, configPath, stateDir)
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
