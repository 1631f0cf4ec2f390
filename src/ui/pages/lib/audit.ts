/**
 * `security.audit`'s answer, read and grouped for the Security page, and the
 * commands inside a finding's fix, each of which the page offers to copy.
 *
 * A finding is `{id, severity, title, detail, fix}` as src/security/audit/types.ts
 * has it (`fix` is "" when nothing needs doing). A fix is a sentence that
 * names commands ("clawgate config unset gateway.auth.mode, then clawgate
 * config set gateway.auth.token ..."): `fixCommands` finds them.
 */
import { clip, isRecord, num, records, str } from "./read.js"

export const SEVERITIES = ["critical", "warn", "info"] as const
export type Severity = (typeof SEVERITIES)[number]

export interface FindingView {
  readonly id: string
  readonly severity: Severity
  readonly title: string
  readonly detail: string
  readonly fix: string
}

export interface AuditView {
  readonly findings: ReadonlyArray<FindingView>
  readonly summary: Readonly<Record<Severity, number>>
}

const severityOf = (v: unknown): Severity | undefined =>
  v === "critical" || v === "warn" || v === "info" ? v : v === "warning" ? "warn" : v === "error" ? "critical" : undefined

/** Reads the answer; a finding without an id and a severity it knows is dropped. */
export const readAudit = (v: unknown): AuditView => {
  const findings: Array<FindingView> = []
  for (const f of records(isRecord(v) ? v.findings : undefined, 500)) {
    const severity = severityOf(f.severity)
    const id = str(f.id ?? f.checkId, 200)
    if (severity === undefined || id === undefined) continue
    findings.push({
      id,
      severity,
      title: str(f.title, 500) ?? id,
      detail: str(f.detail) ?? "",
      fix: str(f.fix ?? f.remediation) ?? ""
    })
  }
  const s = isRecord(v) && isRecord(v.summary) ? v.summary : undefined
  const count = (sev: Severity) => num(s?.[sev]) ?? findings.filter((f) => f.severity === sev).length
  return { findings, summary: { critical: count("critical"), warn: count("warn"), info: count("info") } }
}

/** The findings of each severity, critical first, in the Gateway's order within each. */
export const groupBySeverity = (findings: ReadonlyArray<FindingView>): Array<{ severity: Severity; findings: Array<FindingView> }> =>
  SEVERITIES.map((severity) => ({ severity, findings: findings.filter((f) => f.severity === severity) })).filter(
    (g) => g.findings.length > 0
  )

/** Programs a fix may tell a person to run. */
const STARTS = ["clawgate", "chmod", "chown", "icacls", "tailscale", "openclaw"]
/** Words that end a command inside a sentence ("... true and restart", "... --deep shows the counts"). */
const STOP_WORDS = new Set(["and", "or", "then", "unless", "otherwise", "if", "on", "here", "shows", "again", "to", "for", "when", "the"])

/**
 * The commands in a fix, in order: each begins with one of the programs above
 * (at the start, after a space, "(", ":" or a backquote) and ends at a comma or
 * semicolon followed by a space, a closing ")" or backquote, " (", a full stop
 * at the end, or a word of prose. Quotes and `$(...)` are kept whole.
 */
export const fixCommands = (fix: string): Array<string> => {
  const text = clip(fix, 4000)
  const out: Array<string> = []
  let i = 0
  while (i < text.length) {
    const start = STARTS.map((p) => ({ p, at: findWord(text, p, i) }))
      .filter((x) => x.at !== -1)
      .sort((a, b) => a.at - b.at)[0]
    if (start === undefined) break
    const end = commandEnd(text, start.at)
    const cmd = text.slice(start.at, end).trim()
    if (cmd.length > start.p.length) out.push(cmd)
    i = Math.max(end, start.at + start.p.length)
  }
  return out
}

const findWord = (text: string, word: string, from: number): number => {
  for (let at = text.indexOf(word, from); at !== -1; at = text.indexOf(word, at + 1)) {
    const before = at === 0 ? " " : (text[at - 1] ?? " ")
    const after = text[at + word.length]
    if (/[\s(:`]/.test(before) && (after === " " || after === undefined)) return at
  }
  return -1
}

const commandEnd = (text: string, from: number): number => {
  let i = from
  let quote: string | undefined
  let subshell = 0
  while (i < text.length) {
    const c = text[i] ?? ""
    if (quote !== undefined) {
      if (c === quote) quote = undefined
      i++
      continue
    }
    if (c === '"' || c === "'") {
      quote = c
      i++
      continue
    }
    if (c === "$" && text[i + 1] === "(") {
      subshell++
      i += 2
      continue
    }
    if (c === ")" && subshell > 0) {
      subshell--
      i++
      continue
    }
    if (subshell === 0) {
      const next = text[i + 1]
      if (c === "`" || c === ")") return i
      if ((c === "," || c === ";") && (next === " " || next === undefined)) return i
      if (c === "." && (next === undefined || next === " ")) return i
      if (c === " " && next === "(") return i
      if (c === " ") {
        const word = /^[A-Za-z]+/.exec(text.slice(i + 1))?.[0]
        if (word !== undefined && STOP_WORDS.has(word)) return i
      }
    }
    i++
  }
  return text.length
}
