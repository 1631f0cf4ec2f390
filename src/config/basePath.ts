/**
 * `gateway.controlUi.basePath`: the path the Control UI is served under on the
 * Gateway's port. Checked when the config is read (schema.ts) and normalised
 * once to the form the server matches on: `/`, or `/seg/.../` with a trailing
 * slash. Pure.
 */

export const DEFAULT_BASE_PATH = "/"
/** Long enough for any sensible prefix; a path past it is a mistake, not a prefix. */
export const MAX_BASE_PATH_LENGTH = 128
/** Unreserved URL characters only: no query, fragment, percent-escape, backslash or space to be read two ways. */
const SEGMENT = /^[A-Za-z0-9._~-]+$/
/** The Gateway's own probes answer at these paths whatever the basePath, so the UI cannot live there. */
const PROBES = new Set(["/health", "/healthz", "/ready", "/readyz", "/startup", "/startupz"])

const quoted = (value: string) => JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)

/** What is wrong with a basePath, in words that say what to write instead; undefined when it is fine. */
export const basePathProblem = (value: string): string | undefined => {
  if (value.length > MAX_BASE_PATH_LENGTH) return `must be at most ${MAX_BASE_PATH_LENGTH} characters (got ${value.length})`
  if (!value.startsWith("/")) return `must start with "/", such as "/ui" (got ${quoted(value)})`
  if (/[?#]/.test(value)) return `must be a path without a query or fragment ("?" or "#"), such as "/ui" (got ${quoted(value)})`
  if (value === "/") return undefined
  const segments = value.replace(/\/$/, "").slice(1).split("/")
  for (const segment of segments) {
    if (segment === "") return `must not contain an empty segment ("//") (got ${quoted(value)})`
    if (segment === "." || segment === "..") return `must not contain "." or ".." segments (got ${quoted(value)})`
    if (!SEGMENT.test(segment)) {
      return `may use only letters, digits and . _ ~ - between the slashes, such as "/ui" or "/clawgate/ui" (got ${quoted(value)})`
    }
  }
  const bare = `/${segments.join("/")}`
  if (PROBES.has(bare)) return `must not be ${bare}: the Gateway's health probe answers there (got ${quoted(value)})`
  return undefined
}

/** `/ui` and `/ui/` both become `/ui/`; unset is `/`. Assumes basePathProblem found nothing. */
export const normalizeBasePath = (value: string | undefined): string => {
  if (value === undefined || value === "" || value === "/") return DEFAULT_BASE_PATH
  return value.endsWith("/") ? value : `${value}/`
}
