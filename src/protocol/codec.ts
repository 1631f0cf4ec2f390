/**
 * Text frames to values, with every peer-controlled dimension bounded before
 * anything recursive touches it. `JSON.parse` itself is iterative in V8, but
 * nearly everything after it (Schema decoding and its error messages,
 * `JSON.stringify`, structured logging) recurses once per level, so a frame
 * nested a few thousand levels deep would overflow the stack wherever it went
 * next. The depth is therefore measured on the text, before it is parsed.
 *
 * Shared by the Gateway (frames from clients and nodes) and every client
 * (frames from a Gateway that may not be ours).
 */

/** How deep objects and arrays may nest in one frame (OpenClaw's frames use fewer than 10 levels). */
export const DEFAULT_MAX_FRAME_DEPTH = 64

const OPEN_BRACE = 0x7b
const OPEN_BRACKET = 0x5b
const CLOSE_BRACE = 0x7d
const CLOSE_BRACKET = 0x5d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * True when the JSON text nests objects and arrays deeper than `limit`.
 * One pass over the characters, no allocation; brackets inside strings do not
 * count. It does not validate the JSON: `JSON.parse` does that next.
 */
export const jsonNestedDeeperThan = (text: string, limit: number): boolean => {
  // A text shorter than the limit cannot hold that many brackets.
  if (text.length <= limit) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) inString = true
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > limit) return true
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--
  }
  return false
}

export type DecodedText =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly reason: "depth" | "json"; readonly message: string }

/** Parses one text frame: depth first, then JSON. Never throws. */
export const decodeText = (text: string, maxDepth: number = DEFAULT_MAX_FRAME_DEPTH): DecodedText => {
  if (jsonNestedDeeperThan(text, maxDepth)) {
    return { ok: false, reason: "depth", message: `invalid frame: nested deeper than ${maxDepth} levels` }
  }
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false, reason: "json", message: "invalid frame: not a JSON text frame" }
  }
}

/** WebSocket close reasons are at most 123 bytes of UTF-8 (RFC 6455); ws throws on a longer one. */
export const MAX_CLOSE_REASON_BYTES = 123

/** `reason` cut to what a close frame can carry, never splitting a character. */
export const closeReason = (reason: string): string => {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason
  let out = ""
  let bytes = 0
  for (const ch of reason) {
    const n = Buffer.byteLength(ch)
    if (bytes + n > MAX_CLOSE_REASON_BYTES - 3) break
    out += ch
    bytes += n
  }
  return `${out}…`
}

/**
 * A peer-supplied value as it may appear in a message or a log line: at most
 * `max` characters, control characters escaped so it cannot start a line of
 * its own or move the terminal's cursor.
 */
export const printable = (value: unknown, max = 120): string => {
  const text = typeof value === "string" ? value : String(value)
  const cut = text.length > max ? `${text.slice(0, max)}…` : text
  return escapeControl(cut)
}

// C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
// eslint-disable-next-line no-control-regex
const HAS_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g

/** Replaces every control character with a visible escape (`\n`, `\u001b`). */
export const escapeControl = (text: string): string =>
  HAS_CONTROL.test(text)
    ? text.replace(CONTROL, (c) =>
        c === "\n" ? "\\n" : c === "\r" ? "\\r" : c === "\t" ? "\\t" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`
      )
    : text
