/**
 * From a config issue's path (as the Gateway names it: `gateway.trustedProxies[2]`,
 * keys joined with dots, array positions in brackets) to the line of the
 * editor's text where that key is, so the page can mark it. The text may be
 * JSON or JSON5 (comments, unquoted keys, single quotes, trailing commas): the
 * scanner reads both, and never throws: on text it cannot follow it returns
 * the deepest part of the path it found.
 */

export type PathSegment = string | number

/** `gateway.trustedProxies[2]` -> ["gateway", "trustedProxies", 2]; "(root)" and "(file)" -> []. */
export const parseIssuePath = (path: string): Array<PathSegment> => {
  if (path === "" || /^\(.*\)$/.test(path)) return []
  const out: Array<PathSegment> = []
  const re = /\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|([^.[\]]+)/g
  for (let m = re.exec(path); m !== null; m = re.exec(path)) {
    if (m[1] !== undefined) out.push(Number(m[1]))
    else if (m[2] !== undefined) out.push(JSON.parse(m[2]) as string)
    else if (m[3] !== undefined) out.push(m[3])
  }
  return out
}

interface Token {
  readonly kind: "punct" | "string" | "word"
  readonly text: string
  readonly offset: number
}

/** JSON5 tokens: punctuation, strings (their value), and bare words (keys, numbers, literals). Comments are skipped. */
const tokenize = (text: string, maxTokens = 200_000): Array<Token> => {
  const tokens: Array<Token> = []
  let i = 0
  while (i < text.length && tokens.length < maxTokens) {
    const c = text[i] ?? ""
    if (/\s/.test(c)) {
      i++
    } else if (c === "/" && text[i + 1] === "/") {
      const nl = text.indexOf("\n", i)
      i = nl === -1 ? text.length : nl + 1
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2)
      i = end === -1 ? text.length : end + 2
    } else if ("{}[]:,".includes(c)) {
      tokens.push({ kind: "punct", text: c, offset: i })
      i++
    } else if (c === '"' || c === "'") {
      const start = i
      let value = ""
      i++
      while (i < text.length && text[i] !== c) {
        if (text[i] === "\\" && i + 1 < text.length) {
          const e = text[i + 1] ?? ""
          value += e === "n" ? "\n" : e === "t" ? "\t" : e
          i += 2
        } else {
          value += text[i]
          i++
        }
      }
      i++
      tokens.push({ kind: "string", text: value, offset: start })
    } else {
      const start = i
      while (i < text.length && !/[\s{}[\]:,"'/]/.test(text[i] ?? "")) i++
      if (i === start) i++ // a lone "/" that starts no comment
      tokens.push({ kind: "word", text: text.slice(start, i), offset: start })
    }
  }
  return tokens
}

/**
 * The offset in `text` where the deepest existing part of `path` is: the key
 * of the innermost property found, or the start of the array element. Undefined
 * when not even the first segment is in the text.
 */
export const offsetOfPath = (text: string, path: ReadonlyArray<PathSegment>): number | undefined => {
  const tokens = tokenize(text)
  let t = 0
  let best: number | undefined
  const peek = () => tokens[t]
  const isPunct = (s: string) => peek()?.kind === "punct" && peek()?.text === s

  /** Skips one value (balanced brackets) without looking inside. */
  const skipValue = () => {
    let depth = 0
    for (;;) {
      const tok = peek()
      if (tok === undefined) return
      if (tok.kind === "punct") {
        if (tok.text === "{" || tok.text === "[") depth++
        else if (tok.text === "}" || tok.text === "]") {
          if (depth === 0) return
          depth--
          if (depth === 0) {
            t++
            return
          }
        } else if ((tok.text === "," || tok.text === ":") && depth === 0) return
      } else if (depth === 0) {
        t++
        return
      }
      t++
    }
  }

  /** Walks the value at the cursor looking for path[k...]. Returns true when the whole path was found. */
  const walk = (k: number, depth: number): boolean => {
    if (k >= path.length || depth > 200) return k >= path.length
    const seg = path[k]
    if (isPunct("{")) {
      t++
      for (;;) {
        if (peek() === undefined) return false
        if (isPunct("}")) {
          t++
          return false
        }
        if (isPunct(",")) {
          t++
          continue
        }
        const key = peek()
        if (key === undefined || key.kind === "punct") return false
        t++
        if (!isPunct(":")) return false
        t++
        if (typeof seg === "string" && key.text === seg) {
          best = key.offset
          return walk(k + 1, depth + 1)
        }
        skipValue()
      }
    }
    if (isPunct("[")) {
      t++
      let index = 0
      for (;;) {
        if (peek() === undefined) return false
        if (isPunct("]")) {
          t++
          return false
        }
        if (isPunct(",")) {
          t++
          index++
          continue
        }
        if (seg === index || (typeof seg === "string" && seg === String(index))) {
          best = peek()?.offset
          return walk(k + 1, depth + 1)
        }
        skipValue()
      }
    }
    return false
  }

  walk(0, 0)
  return best
}

/** The 1-based line of `offset` in `text`. */
const lineOf = (text: string, offset: number): number => {
  let line = 1
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++
  return line
}

/** The 1-based line where the issue at `path` is (its deepest existing key), or undefined when the text does not have it. */
export const lineOfIssue = (text: string, path: string): number | undefined => {
  const segments = parseIssuePath(path)
  if (segments.length === 0) return undefined
  const offset = offsetOfPath(text, segments)
  return offset === undefined ? undefined : lineOf(text, offset)
}

export interface ConfigIssue {
  readonly path: string
  readonly message: string
}

/**
 * The line an issue points at: its path's key in `text`, or, for an issue of
 * the whole file (a syntax error: path "(file)" or "(root)"), the line its
 * message names ("... at 3:5" as JSON5 says it, or "line 3").
 */
export const issueLine = (text: string, issue: ConfigIssue): number | undefined => {
  const byPath = lineOfIssue(text, issue.path)
  if (byPath !== undefined) return byPath
  const m = /\bat (\d+):(\d+)\b/.exec(issue.message) ?? /\bline (\d+)\b/i.exec(issue.message)
  if (m?.[1] === undefined) return undefined
  const n = Number(m[1])
  const lines = text.split("\n").length
  return n >= 1 && n <= lines ? n : undefined
}

/** Reads issues from an answer or an error's details, each bounded. */
export const readIssues = (v: unknown): Array<ConfigIssue> => {
  if (!Array.isArray(v)) return []
  return v.slice(0, 200).flatMap((i) => {
    if (typeof i !== "object" || i === null) return []
    const r = i as Record<string, unknown>
    const path = typeof r.path === "string" ? r.path.slice(0, 500) : "(file)"
    const message = typeof r.message === "string" ? r.message.slice(0, 2000) : undefined
    return message === undefined ? [] : [{ path, message }]
  })
}
