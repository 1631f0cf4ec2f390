/**
 * The Logs page's logic: reading a log line, keeping a bounded tail, and
 * filtering it.
 *
 * clawgate's file lines are JSON, one per line (layers/GatewayLogFile.ts):
 * `{"time":"2025-01-01T00:00:00.000Z","level":"info","msg":"...", ...annotations}`,
 * with Effect's level labels lower-cased (trace, debug, info, warn, error, fatal).
 * OpenClaw's are JSON too, tslog's shape: `{"0":"message", "_meta":{"logLevelName":"INFO",
 * "date":"..."}, "time":"..."}`. The console's format (`<ISO time> <level> <message>`)
 * and plain text are read as well, so a file written by anything shows.
 */
import { clip, isRecord } from "./read.js"

export const LEVELS = ["debug", "info", "warn", "error"] as const
export type Level = (typeof LEVELS)[number]

/** At most this many lines are kept in memory; older ones are dropped first. */
export const MAX_LOG_ENTRIES = 2000
/** One line is shown up to this many characters. */
export const MAX_LINE_CHARS = 8000

export interface LogEntry {
  /** Increasing, unique within a page's life (a key for rendering). */
  readonly id: number
  readonly kind: "line" | "notice"
  readonly raw: string
  readonly time?: string
  readonly level?: Level
  readonly message: string
  /** The other fields of a JSON line, as `key=value` text. */
  readonly fields?: string
}

const LEVEL_RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 }

/** A level as any of the formats name it, folded into the four the filter offers. */
export const normalizeLevel = (v: unknown): Level | undefined => {
  if (typeof v === "number") {
    // tslog's logLevelId: 0 silly, 1 trace, 2 debug, 3 info, 4 warn, 5 error, 6 fatal.
    return v <= 2 ? "debug" : v === 3 ? "info" : v === 4 ? "warn" : v >= 5 ? "error" : undefined
  }
  if (typeof v !== "string") return undefined
  switch (v.trim().toLowerCase()) {
    case "silly":
    case "trace":
    case "debug":
    case "verbose":
      return "debug"
    case "info":
    case "notice":
      return "info"
    case "warn":
    case "warning":
      return "warn"
    case "error":
    case "err":
    case "fatal":
    case "critical":
      return "error"
    default:
      return undefined
  }
}

const renderValue = (v: unknown): string => (typeof v === "string" ? v : (JSON.stringify(v) ?? String(v)))

type Parsed = Omit<LogEntry, "id" | "kind">

const fromJson = (raw: string, o: Record<string, unknown>): Parsed => {
  const meta = isRecord(o._meta) ? o._meta : undefined
  const level = normalizeLevel(meta?.logLevelName ?? o.level ?? meta?.logLevelId)
  const time = typeof o.time === "string" ? o.time : typeof meta?.date === "string" ? meta.date : undefined
  let message: string
  const rest: Array<string> = []
  if (typeof o.msg === "string" || typeof o.message === "string") {
    message = typeof o.msg === "string" ? o.msg : String(o.message)
    for (const [k, v] of Object.entries(o)) {
      if (k === "time" || k === "level" || k === "msg" || k === "message" || k === "_meta") continue
      rest.push(`${k}=${renderValue(v)}`)
    }
  } else {
    // tslog: the arguments under "0", "1", ...
    const parts: Array<string> = []
    for (const [k, v] of Object.entries(o)) if (/^\d+$/.test(k) && v !== undefined && v !== null) parts.push(renderValue(v))
    message = parts.length > 0 ? parts.join(" ") : raw
  }
  return {
    raw,
    message: clip(message, MAX_LINE_CHARS),
    ...(time !== undefined ? { time: clip(time, 64) } : {}),
    ...(level !== undefined ? { level } : {}),
    ...(rest.length > 0 ? { fields: clip(rest.join(" "), MAX_LINE_CHARS) } : {})
  }
}

const CONSOLE_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s+([A-Za-z]+)\s+(.*)$/s
const LEADING_LEVEL = /^\[?(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\]?[\s:]/i

/** One line of the log file, read. Never throws. */
export const parseLogLine = (line: string): Parsed => {
  const raw = clip(line, MAX_LINE_CHARS)
  const trimmed = line.trimStart()
  if (trimmed.startsWith("{")) {
    try {
      const o: unknown = JSON.parse(line)
      if (isRecord(o)) return fromJson(raw, o)
    } catch {
      // not JSON after all: read as text
    }
  }
  const c = CONSOLE_LINE.exec(raw)
  if (c) {
    const level = normalizeLevel(c[2])
    if (level !== undefined) return { raw, time: c[1] ?? "", level, message: c[3] ?? "" }
  }
  const l = LEADING_LEVEL.exec(trimmed)
  const level = l ? normalizeLevel(l[1]) : undefined
  return { raw, message: raw, ...(level !== undefined ? { level } : {}) }
}

export interface LogFilter {
  /** The lowest level shown; undefined shows every line, those without a level too. */
  readonly level?: Level | undefined
  /** Case-insensitive text the line must contain. */
  readonly text?: string | undefined
}

/** Whether `entry` passes `filter`. Notices (the file rotated, lines skipped) always do. */
export const matches = (entry: LogEntry, filter: LogFilter): boolean => {
  if (entry.kind === "notice") return true
  if (filter.level !== undefined) {
    if (entry.level === undefined || LEVEL_RANK[entry.level] < LEVEL_RANK[filter.level]) return false
  }
  const needle = filter.text?.trim().toLowerCase()
  if (needle) {
    const hay = `${entry.message} ${entry.fields ?? ""} ${entry.raw}`.toLowerCase()
    if (!hay.includes(needle)) return false
  }
  return true
}

export const filterEntries = (entries: ReadonlyArray<LogEntry>, filter: LogFilter): Array<LogEntry> =>
  entries.filter((e) => matches(e, filter))

/** What the page remembers between two `logs.tail` calls. */
export interface TailState {
  readonly cursor?: number | undefined
  readonly file?: string | undefined
  readonly entries: ReadonlyArray<LogEntry>
  readonly nextId: number
}

export const emptyTail: TailState = { entries: [], nextId: 1 }

/** The parts of a `logs.tail` answer the page reads (checked by the caller). */
export interface TailAnswer {
  readonly file: string
  readonly cursor: number
  readonly lines: ReadonlyArray<string>
  readonly truncated: boolean
  readonly reset: boolean
}

/** Reads a `logs.tail` answer, or undefined when it is not one. */
export const readTailAnswer = (v: unknown): TailAnswer | undefined => {
  if (!isRecord(v) || typeof v.cursor !== "number" || !Number.isFinite(v.cursor) || !Array.isArray(v.lines)) return undefined
  return {
    file: typeof v.file === "string" ? clip(v.file, 1000) : "",
    cursor: v.cursor,
    lines: v.lines.filter((l): l is string => typeof l === "string"),
    truncated: v.truncated === true,
    reset: v.reset === true
  }
}

/**
 * The tail after one answer: its lines appended (at most `max` kept), a notice
 * where the file was rotated or replaced (`reset`, or another file) or lines
 * were skipped (`truncated`: more had been written than one read returns), and
 * the cursor to ask from next.
 */
export const applyTail = (state: TailState, answer: TailAnswer, max: number = MAX_LOG_ENTRIES): TailState => {
  let id = state.nextId
  const added: Array<LogEntry> = []
  const notice = (message: string) => added.push({ id: id++, kind: "notice", raw: message, message })
  const first = state.cursor === undefined
  if (!first && (answer.reset || (state.file !== undefined && answer.file !== "" && answer.file !== state.file))) {
    notice("The log file was rotated: showing the new file from here on.")
  }
  if (answer.truncated && !first) notice("Some lines were skipped: more were written than one read returns.")
  for (const line of answer.lines) added.push({ id: id++, kind: "line", ...parseLogLine(line) })
  const all = state.entries.length + added.length > max ? [...state.entries, ...added].slice(-max) : [...state.entries, ...added]
  return { cursor: answer.cursor, file: answer.file || state.file, entries: all, nextId: id }
}
