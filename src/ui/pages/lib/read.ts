/**
 * Defensive readers for Gateway answers and events. Every value the pages show
 * came from a peer (a node's name, a channel's error, a log line): it is read
 * as `unknown`, checked field by field, and clipped before it is stored or
 * rendered, so an answer of an unexpected shape (an older Gateway, OpenClaw's)
 * shows as "not given" rather than breaking the page.
 */

/** The longest text a page keeps of one peer-controlled field. */
export const MAX_TEXT = 2000

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** `s`, cut to `max` characters with an ellipsis when longer. */
export const clip = (s: string, max: number = MAX_TEXT): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s)

export const str = (v: unknown, max: number = MAX_TEXT): string | undefined => (typeof v === "string" ? clip(v, max) : undefined)

export const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined)

export const bool = (v: unknown): boolean | undefined => (typeof v === "boolean" ? v : undefined)

/** The strings of an array (others dropped), at most `maxItems` of them. */
export const strs = (v: unknown, maxItems = 256, max = 256): Array<string> =>
  Array.isArray(v) ? v.slice(0, maxItems).flatMap((x) => (typeof x === "string" ? [clip(x, max)] : [])) : []

/** The records of an array (others dropped), at most `maxItems` of them. */
export const records = (v: unknown, maxItems = 1000): Array<Record<string, unknown>> =>
  Array.isArray(v) ? v.slice(0, maxItems).filter(isRecord) : []

export const field = (v: unknown, key: string): unknown => (isRecord(v) ? v[key] : undefined)

/**
 * `value` as pretty JSON text, cut to `max` characters (a node's answer can be
 * megabytes; the page shows the start and says it was cut).
 */
export const prettyJson = (value: unknown, max = 200_000): { readonly text: string; readonly cut: boolean } => {
  let text: string
  try {
    text = value === undefined ? "(no payload)" : (JSON.stringify(value, null, 2) ?? String(value))
  } catch {
    text = String(value)
  }
  return text.length > max ? { text: text.slice(0, max), cut: true } : { text, cut: false }
}
