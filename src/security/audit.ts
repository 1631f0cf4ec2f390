/**
 * The rules of `clawgate security audit`: a pure function from the config and
 * the facts gathered about this host and the running Gateway to findings, each
 * with a severity and the fix. Ids follow OpenClaw's `checkId`s where OpenClaw
 * has the same check (`gateway.bind_no_auth`, `gateway.token_too_short`,
 * `gateway.tailscale_funnel`, `fs.config.perms_world_readable`, ...).
 * Gathering the facts (files, environment, the live Gateway) is in
 * programs/audit.ts; the rules are in audit/, one module per area (exposure
 * and binding, credentials, files and permissions, live facts), and this
 * module runs them in a fixed order.
 */
import type { ClawgateConfig } from "../config/schema.js"
import { reuseFindings, strengthFindings } from "./audit/credentials.js"
import { accessFindings, browserAndProxyFindings, tailscaleFindings, tlsFindings } from "./audit/exposure.js"
import { filesFindings } from "./audit/files.js"
import { reachFindings, trafficFindings } from "./audit/live.js"
import { surfaceOf } from "./audit/surface.js"
import type { AuditFacts, AuditSummary, Finding, Severity } from "./audit/types.js"

export type {
  AuditFacts,
  AuditSummary,
  FileFact,
  FileKind,
  Finding,
  LiveFacts,
  LiveGateway,
  Severity,
  UntrustedProxyHeadersFact
} from "./audit/types.js"
export { isWellKnownSecret, MIN_PASSWORD_LENGTH, MIN_TOKEN_LENGTH } from "./audit/credentials.js"
export { filesFindings, stateFiles } from "./audit/files.js"

const order: Record<Severity, number> = { critical: 0, warn: 1, info: 2 }

export const summarize = (findings: ReadonlyArray<Finding>): AuditSummary => ({
  critical: findings.filter((f) => f.severity === "critical").length,
  warn: findings.filter((f) => f.severity === "warn").length,
  info: findings.filter((f) => f.severity === "info").length
})

/**
 * The findings for `config` on this host, given `facts`. Sorted by severity
 * (critical first); the order within a severity is the order of the checks.
 */
export const auditConfig = (config: ClawgateConfig, facts: AuditFacts): Array<Finding> => {
  const s = surfaceOf(config, facts)
  const { gw } = s
  const remote = gw.remote
  const configHasSecret = [gw.auth?.token, gw.auth?.password, remote?.token, remote?.password].some((v) => v !== undefined)
  const findings: Array<Finding> = [
    ...accessFindings(s),
    ...tailscaleFindings(s),
    ...strengthFindings(config, s),
    ...reuseFindings(facts, s),
    ...tlsFindings(s),
    ...browserAndProxyFindings(gw, s.exposed),
    ...trafficFindings(s),
    ...filesFindings(facts, configHasSecret),
    ...reachFindings(facts)
  ]
  return findings.sort((a, b) => order[a.severity] - order[b.severity])
}
