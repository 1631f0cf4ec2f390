/**
 * The audit's rules about credentials: the Gateway's own token or password
 * and the client ones in the config (gateway.remote.*) checked for
 * well-known values and length, more severely when the Gateway is exposed,
 * and one secret reused in two roles.
 */
import { Redacted, String as Str } from "effect"
import type { ClawgateConfig } from "../../config/schema.js"
import { setToken, type Surface } from "./surface.js"
import type { AuditFacts, Finding, Severity } from "./types.js"

export const MIN_TOKEN_LENGTH = 24
export const MIN_PASSWORD_LENGTH = 12

/** Values people type when they mean "I'll change it later". Compared case-insensitively. */
const WELL_KNOWN = new Set([
  "changeme",
  "change-me",
  "change_me",
  "token",
  "password",
  "passw0rd",
  "secret",
  "admin",
  "default",
  "test",
  "example",
  "letmein",
  "qwerty",
  "12345678",
  "123456",
  "1234",
  "clawgate",
  "openclaw",
  "your-token",
  "your-password",
  "mytoken",
  "mypassword"
])

/**
 * Fewer different characters than this reads as a pattern, not a random value ("aaaa…",
 * "abcabc…"): a generated token of 43 characters has about 30.
 */
export const MIN_DISTINCT_TOKEN_CHARS = 8
export const MIN_DISTINCT_PASSWORD_CHARS = 6

/** The distinct characters of a secret, a cheap stand-in for its entropy. */
export const distinctChars = (value: string): number => new Set(value.trim()).size

export const isWellKnownSecret = (value: string): boolean => WELL_KNOWN.has(value.trim().toLowerCase())

/** Credential strength, for the credential the server uses and for the client ones in the config. */
export const strengthFindings = (config: ClawgateConfig, s: Surface): Array<Finding> => {
  const findings: Array<Finding> = []
  const { exposed, exposure } = s
  const strength = (value: string, source: string, kind: "token" | "password", server: boolean) => {
    const min = kind === "token" ? MIN_TOKEN_LENGTH : MIN_PASSWORD_LENGTH
    const severity: Severity = server && exposed ? "critical" : "warn"
    const configKey = source.startsWith("gateway.") ? source : undefined
    const fixText =
      kind === "token"
        ? configKey
          ? `clawgate config set ${configKey} "$(openssl rand -base64 32)"${server ? " (then update every client that uses it)" : " (after rotating it on that Gateway)"}`
          : `set ${source} to a long random value, e.g. $(openssl rand -base64 32)`
        : configKey
          ? `clawgate config set ${configKey} "$(openssl rand -base64 24)"`
          : `set ${source} to a long random value, e.g. $(openssl rand -base64 24)`
    const whose = server ? `the Gateway's ${kind}` : `the ${kind} for ${config.gateway?.remote?.url ?? "the remote Gateway"}`
    const whoseTitle = Str.capitalize(whose)
    if (isWellKnownSecret(value)) {
      findings.push({
        id: `gateway.${server ? "" : "remote."}${kind}_weak`,
        severity,
        title: `${whoseTitle} is a well-known value`,
        detail: `${source} is one of the values attackers try first ("changeme", "password", ...)${server && exposed ? `, on a Gateway reachable from ${exposure === "public" ? "the internet" : exposure === "tailnet" ? "your tailnet" : "the network"}` : ""}.`,
        fix: fixText
      })
    } else if (value.trim().length < min) {
      findings.push({
        id: `gateway.${server ? "" : "remote."}${kind}_too_short`,
        severity,
        title: `${whoseTitle} is short`,
        detail: `${source} is ${value.trim().length} characters; use at least ${min}${kind === "token" ? " (a generated token has 43)" : ""}${server && exposed ? `. The Gateway is reachable from ${exposure === "public" ? "the internet" : exposure === "tailnet" ? "your tailnet" : "the network"}, and the failed-attempt limit is per address` : ""}.`,
        fix: fixText
      })
    } else if (distinctChars(value) < (kind === "token" ? MIN_DISTINCT_TOKEN_CHARS : MIN_DISTINCT_PASSWORD_CHARS)) {
      findings.push({
        id: `gateway.${server ? "" : "remote."}${kind}_low_entropy`,
        severity,
        title: `${whoseTitle} is a pattern, not a random value`,
        detail: `${source} uses only ${distinctChars(value)} different character${distinctChars(value) === 1 ? "" : "s"}: it is long enough but easy to guess.`,
        fix: fixText
      })
    }
  }
  const { auth } = s
  if (auth.mode === "token" && auth.token !== undefined)
    strength(Redacted.value(auth.token), auth.tokenSource ?? "gateway.auth.token", "token", true)
  if (auth.mode === "password" && auth.password !== undefined) {
    strength(Redacted.value(auth.password), auth.passwordSource ?? "gateway.auth.password", "password", true)
  }
  const remote = s.gw.remote
  if (remote?.token !== undefined) strength(remote.token, "gateway.remote.token", "token", false)
  if (remote?.password !== undefined) strength(remote.password, "gateway.remote.password", "password", false)
  return findings
}

/** Reuse: one secret in two roles means losing one loses both. */
export const reuseFindings = (facts: AuditFacts, surface: Surface): Array<Finding> => {
  const findings: Array<Finding> = []
  const { gw } = surface
  const remote = gw.remote
  const secrets: Array<{ value: string | undefined; source: string }> = [
    { value: facts.env.token?.value, source: facts.env.token?.name ?? "" },
    { value: facts.env.password?.value, source: facts.env.password?.name ?? "" },
    { value: gw.auth?.token, source: "gateway.auth.token" },
    { value: gw.auth?.password, source: "gateway.auth.password" },
    { value: remote?.token, source: "gateway.remote.token" },
    { value: remote?.password, source: "gateway.remote.password" }
  ]
  const seen = new Map<string, Array<string>>()
  for (const s of secrets) if (s.value) seen.set(s.value, [...(seen.get(s.value) ?? []), s.source])
  for (const sources of seen.values()) {
    const serverSide = sources.filter((s) => !s.startsWith("gateway.remote."))
    const clientSide = sources.filter((s) => s.startsWith("gateway.remote."))
    const tokenLike = (s: string) => /token/i.test(s)
    const passwordLike = (s: string) => /password/i.test(s)
    const crossKind = sources.some(tokenLike) && sources.some(passwordLike)
    // The env token overriding gateway.auth.token with the same value is one credential, not reuse.
    if (!(crossKind || (serverSide.length > 0 && clientSide.length > 0))) continue
    findings.push({
      id: "gateway.credential_reused",
      severity: "warn",
      title: "One secret is used for more than one credential",
      detail: `${sources.join(", ")} hold the same value${clientSide.length > 0 && serverSide.length > 0 ? ": this Gateway and the remote one accept the same secret, so whoever learns it from one has both" : ": a token and a password are meant to be different secrets"}.`,
      fix:
        clientSide.length > 0 && serverSide.length > 0
          ? `Give this Gateway its own: ${setToken}`
          : "Keep only the one gateway.auth.mode uses: clawgate config unset gateway.auth.password (or gateway.auth.token)"
    })
  }
  return findings
}
