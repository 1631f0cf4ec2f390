/**
 * JSON typed by a person (the Nodes page's params), checked in the browser
 * before anything is sent: a mistake is shown at its line and column, in the
 * same words whichever browser runs the page (JSON.parse's messages differ
 * between engines, and not all of them give a position).
 */

/** Params bigger than this are refused before they are parsed (a frame after connect may be 25 MiB; a form is not). */
export const MAX_JSON_CHARS = 1024 * 1024
/** Nesting deeper than this is refused (the Gateway refuses deep frames too). */
export const MAX_JSON_DEPTH = 64

export type JsonCheck =
  | { readonly ok: true; readonly value: unknown; readonly empty: boolean }
  | { readonly ok: false; readonly message: string; readonly line: number; readonly column: number; readonly offset: number }

class JsonSyntax extends Error {
  constructor(
    message: string,
    readonly offset: number
  ) {
    super(message)
  }
}

/** 1-based line and column of `offset` in `text`. */
export const lineColumn = (text: string, offset: number): { readonly line: number; readonly column: number } => {
  let line = 1
  let start = 0
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++
      start = i + 1
    }
  }
  return { line, column: offset - start + 1 }
}

const describe = (text: string, i: number): string => {
  if (i >= text.length) return "the end of the text"
  const c = text[i] ?? ""
  return c === "\n" ? "a line break" : `"${c}"`
}

/** Validates strict JSON (RFC 8259), without building the value. Throws JsonSyntax at the first mistake. */
const scan = (text: string): void => {
  let i = 0
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i)
      if (c === 32 || c === 9 || c === 10 || c === 13) i++
      else return
    }
  }
  const fail = (what: string): never => {
    throw new JsonSyntax(`expected ${what}, found ${describe(text, i)}`, i)
  }
  const string = () => {
    const start = i
    i++ // the opening quote
    for (;;) {
      if (i >= text.length) throw new JsonSyntax('this string is never closed (a missing ")', start)
      const c = text.charCodeAt(i)
      if (c === 34) {
        i++
        return
      }
      if (c === 92) {
        const e = text[i + 1]
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) throw new JsonSyntax("\\u must be followed by 4 hex digits", i)
          i += 6
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2
        else throw new JsonSyntax(`unknown escape \\${e ?? ""} in a string`, i)
      } else if (c < 32) {
        throw new JsonSyntax(c === 10 ? "a line break inside a string (write \\n)" : "a control character inside a string", i)
      } else i++
    }
  }
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400))
    if (!m || m[0] === "-") fail("a value")
    i += m?.[0].length ?? 0
  }
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length
    else fail("a value (a string in double quotes, a number, true, false, null, an object or an array)")
  }
  const value = (depth: number): void => {
    if (depth > MAX_JSON_DEPTH) throw new JsonSyntax(`nested deeper than ${MAX_JSON_DEPTH} levels`, i)
    ws()
    const c = text[i]
    if (c === "{") {
      i++
      ws()
      if (text[i] === "}") return void i++
      for (;;) {
        ws()
        if (text[i] !== '"') fail(text[i] === "}" ? 'another property (remove the trailing ",")' : "a property name in double quotes")
        string()
        ws()
        if (text[i] !== ":") fail('":" after the property name')
        i++
        value(depth + 1)
        ws()
        if (text[i] === ",") {
          i++
          continue
        }
        if (text[i] === "}") return void i++
        fail('"," or "}" after a property value')
      }
    }
    if (c === "[") {
      i++
      ws()
      if (text[i] === "]") return void i++
      for (;;) {
        ws()
        if (text[i] === "]") fail('another element (remove the trailing ",")')
        value(depth + 1)
        ws()
        if (text[i] === ",") {
          i++
          continue
        }
        if (text[i] === "]") return void i++
        fail('"," or "]" after an array element')
      }
    }
    if (c === '"') return string()
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return number()
    if (c === "t") return literal("true")
    if (c === "f") return literal("false")
    if (c === "n") return literal("null")
    if (c === "'") fail("a value: strings take double quotes")
    fail("a value (a string in double quotes, a number, true, false, null, an object or an array)")
  }
  value(0)
  ws()
  if (i < text.length) throw new JsonSyntax(`unexpected ${describe(text, i)} after the value (only one value is allowed)`, i)
}

/**
 * Checks `text` as JSON. Blank text is valid and means "no value" (`empty`).
 * A mistake comes with its 1-based line and column and a message that says
 * what to fix.
 */
export const checkJson = (text: string): JsonCheck => {
  if (text.trim() === "") return { ok: true, value: undefined, empty: true }
  if (text.length > MAX_JSON_CHARS) {
    return { ok: false, message: `too long: at most ${MAX_JSON_CHARS} characters`, line: 1, column: 1, offset: 0 }
  }
  try {
    scan(text)
  } catch (e) {
    if (e instanceof JsonSyntax) {
      const { line, column } = lineColumn(text, e.offset)
      return { ok: false, message: e.message, line, column, offset: e.offset }
    }
    throw e
  }
  return { ok: true, value: JSON.parse(text) as unknown, empty: false }
}
