/**
 * A config text a client submits (the Control UI's editor, OpenClaw's
 * `config.set`): parsed as JSON5 within bounds, and the secrets `config.get`
 * redacted put back from the stored file, so a text loaded, edited and sent
 * back keeps every secret nobody retyped. A placeholder is never written, and
 * no issue repeats a secret's value.
 */
import JSON5 from "json5"
import { Either, Predicate } from "effect"
import { isSecretPath, REDACTED, type ConfigIssue } from "./schema.js"

/** How deep a submitted config may nest (the real one nests five levels). */
export const MAX_CONFIG_DEPTH = 32
/** At most this many issues are reported; the last says how many more there were. */
export const MAX_CONFIG_ISSUES = 50

export interface TextIssue extends ConfigIssue {
  readonly line?: number
  readonly column?: number
}

/** True when `value` nests objects and arrays deeper than `limit` (iterative: a hostile text cannot overflow the stack). */
const deeperThan = (value: unknown, limit: number): boolean => {
  const stack: Array<readonly [unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as readonly [unknown, number]
    if (typeof v !== "object" || v === null) continue
    if (depth >= limit) return true
    for (const child of Object.values(v)) if (typeof child === "object" && child !== null) stack.push([child, depth + 1])
  }
  return false
}

/** Parses a config text: a JSON object at the top, nested at most MAX_CONFIG_DEPTH deep. */
export const parseConfigText = (text: string): Either.Either<Record<string, unknown>, ReadonlyArray<TextIssue>> => {
  let value: unknown
  try {
    value = text.trim() === "" ? {} : JSON5.parse(text)
  } catch (e) {
    const err = e as { message?: string; lineNumber?: number; columnNumber?: number }
    const message = (err.message ?? String(e)).replace(/^JSON5: /, "")
    return Either.left([
      {
        path: "(root)",
        message: `is not valid JSON5: ${message}`,
        ...(typeof err.lineNumber === "number" ? { line: err.lineNumber } : {}),
        ...(typeof err.columnNumber === "number" ? { column: err.columnNumber } : {})
      }
    ])
  }
  if (!Predicate.isRecord(value) || Array.isArray(value)) {
    return Either.left([{ path: "(root)", message: "must be a JSON object ({ ... }) at the top level" }])
  }
  if (deeperThan(value, MAX_CONFIG_DEPTH)) {
    return Either.left([{ path: "(root)", message: `nests deeper than ${MAX_CONFIG_DEPTH} levels` }])
  }
  return Either.right(value)
}

const formatPath = (path: ReadonlyArray<string | number>): string =>
  path.reduce<string>((out, key) => (typeof key === "number" ? `${out}[${key}]` : out === "" ? key : `${out}.${key}`), "")

/** Keys that say where the secrets beside them are sent (a model's server, a remote Gateway, a bot API). */
const DESTINATION_KEYS = ["baseUrl", "url", "sshTarget", "apiRoot", "webhookUrl"] as const

/**
 * `submitted` with every REDACTED placeholder replaced by the string at the
 * same path of `stored`; a placeholder where `stored` has no string is an
 * issue (the secret must be typed), never written.
 */
export const restoreSecrets = (
  submitted: Record<string, unknown>,
  stored: unknown
): Either.Either<Record<string, unknown>, ReadonlyArray<ConfigIssue>> => {
  const issues: Array<ConfigIssue> = []
  const walk = (value: unknown, original: unknown, path: Array<string | number>, moved?: string): unknown => {
    if (value === REDACTED) {
      // A kept secret goes where it went before, or is typed again: never to a new URL or host.
      if (moved !== undefined && typeof original === "string") {
        issues.push({
          path: formatPath(path),
          message: `keeps the stored secret, but ${moved} beside it changed: type the secret again to send it to the new destination`
        })
        return value
      }
      if (typeof original === "string") return original
      issues.push({
        path: formatPath(path),
        message: `is the redacted placeholder ${REDACTED}, but no secret is stored there to keep: type the value`
      })
      return value
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, Array.isArray(original) ? original[i] : undefined, [...path, i], moved))
    if (Predicate.isRecord(value)) {
      const before = Predicate.isRecord(original) ? original : undefined
      const changed = DESTINATION_KEYS.find((k) => k in value && value[k] !== before?.[k])
      const here = changed !== undefined ? formatPath([...path, changed]) : moved
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(value)) out[k] = walk(v, before?.[k], [...path, k], here)
      return out
    }
    return value
  }
  const restored = walk(submitted, stored, []) as Record<string, unknown>
  return issues.length > 0 ? Either.left(issues) : Either.right(restored)
}

/**
 * Issues as they may be shown: at a secret's path the value is never repeated
 * (`must be a string (got ...)` loses its `got`), and the list is bounded.
 */
export const showableIssues = <I extends ConfigIssue>(issues: ReadonlyArray<I>): Array<I> => {
  const scrubbed = issues.map((i) => {
    const keys = i.path.split(/[.[\]]/).filter((k) => k !== "")
    return isSecretPath(keys) ? { ...i, message: i.message.replace(/\s*\(got [\s\S]*\)$/, "") } : i
  })
  if (scrubbed.length <= MAX_CONFIG_ISSUES) return scrubbed
  const shown = scrubbed.slice(0, MAX_CONFIG_ISSUES - 1)
  return [...shown, { path: "(root)", message: `and ${scrubbed.length - shown.length} more issues` } as I]
}
