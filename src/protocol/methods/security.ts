/**
 * `security.audit` (operator.admin): the findings of `clawgate security audit`,
 * made by the Gateway itself from its own config, files and live state.
 * Admin only: a finding says how strong the Gateway's credential is (its
 * length, or that it is one of the well-known values people type), which
 * would tell a read-only caller what to guess. No finding carries a secret.
 * OpenClaw has no such method (its audit is CLI-only).
 */
import { Schema } from "effect"
import { method, requiresScope } from "../method.js"
import { opt } from "./common.js"

export const AuditFinding = Schema.Struct({
  /** OpenClaw's `checkId` where OpenClaw has the same check (`gateway.bind_no_auth`, `fs.config.perms_world_readable`, ...). */
  id: Schema.String,
  severity: Schema.Literal("critical", "warn", "info"),
  title: Schema.String,
  detail: Schema.String,
  /** What to do about it: a command where there is one; empty when nothing needs doing. */
  fix: Schema.String
})
export type AuditFinding = typeof AuditFinding.Type

export const AuditSummary = Schema.Struct({ critical: Schema.Number, warn: Schema.Number, info: Schema.Number })

export const SecurityAudit = method("security.audit", {
  requires: requiresScope("operator.admin"),
  // OpenClaw's CLI flag; the Gateway's live checks always run (it reads its own state), so it changes nothing.
  params: Schema.Struct({ deep: opt(Schema.Boolean) }),
  result: Schema.Struct({
    ts: Schema.Number,
    /** Critical first, then warn, then info; as `clawgate security audit --json` prints them. */
    findings: Schema.Array(AuditFinding),
    summary: AuditSummary,
    /** The live checks ran (always, in the Gateway). */
    live: Schema.Boolean,
    configPath: Schema.String
  })
})
