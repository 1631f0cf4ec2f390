/**
 * `clawgate logs [--follow] [--limit N] [--level L] [--json]`: the Gateway's log lines over `logs.tail`,
 * the last N, then (with --follow) the new ones as they come, polled with the cursor. Written against
 * GatewayClient; the log file itself (GatewayLog) is read only when a local Gateway is not running.
 */
import { Console, Effect, type Layer, Schedule, type Scope } from "effect"
import { escapeControl } from "../protocol/codec.js"
import { GatewayError } from "../protocol/errors.js"
import { Core } from "../protocol/methods.js"
import { GatewayClient, GatewayClientError } from "../services/GatewayClient.js"
import { GatewayLog } from "../services/GatewayLog.js"

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const
export type LogLevelFilter = (typeof LOG_LEVELS)[number]

export const DEFAULT_LIMIT = 200
export const MAX_LIMIT = 5000
/** How often `--follow` asks for new lines. */
export const FOLLOW_INTERVAL = "1 second"

export interface LogsOptions {
  /** The last this many lines (1..5000). */
  readonly limit: number
  /** Only lines at this level and above (lines without a level are always shown). */
  readonly level?: LogLevelFilter | undefined
  /** One JSON object per line (ndjson) instead of `time level msg {fields}`. */
  readonly json: boolean
}

/** One log line as read: a JSON record (clawgate's, or OpenClaw's tslog shape), or text that is not one. */
export interface LogRecord {
  readonly raw: string
  readonly record?: Record<string, unknown> | undefined
  readonly time?: string | undefined
  readonly level?: LogLevelFilter | undefined
  readonly msg?: string | undefined
  readonly fields?: Record<string, unknown> | undefined
}

/** A line is parsed only up to this length; a longer one is shown as text. */
const MAX_PARSED_LINE = 1024 * 1024

const RANK: Record<LogLevelFilter, number> = { debug: 0, info: 1, warn: 2, error: 3 }

const levelOf = (v: unknown): LogLevelFilter | undefined => {
  if (typeof v !== "string") return undefined
  switch (v.toLowerCase()) {
    case "trace":
    case "debug":
      return "debug"
    case "info":
      return "info"
    case "warn":
    case "warning":
      return "warn"
    case "error":
    case "fatal":
      return "error"
    default:
      return undefined
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

export const parseLogLine = (raw: string): LogRecord => {
  if (raw.length > MAX_PARSED_LINE || !raw.startsWith("{")) return { raw }
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return { raw }
  }
  if (!isRecord(value)) return { raw }
  const meta = isRecord(value._meta) ? value._meta : undefined
  const fields: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) if (!["time", "level", "msg", "message", "_meta"].includes(k)) fields[k] = v
  const msg = typeof value.msg === "string" ? value.msg : typeof value.message === "string" ? value.message : undefined
  return {
    raw,
    record: value,
    time: typeof value.time === "string" ? value.time : typeof meta?.date === "string" ? meta.date : undefined,
    level: levelOf(value.level ?? meta?.logLevelName),
    msg,
    fields
  }
}

export const shownAt = (rec: LogRecord, level: LogLevelFilter | undefined) =>
  level === undefined || rec.level === undefined || RANK[rec.level] >= RANK[level]

/**
 * How a line is printed. Lines hold what peers sent (client ids, header values, chat text): every control
 * character is escaped, so no line can move the terminal's cursor or pass for another. In JSON the escape is a
 * JSON escape too, so the object reads back the same.
 */
export const renderLogLine = (rec: LogRecord, asJson: boolean): string => {
  if (asJson) return escapeControl(JSON.stringify(rec.record ?? { raw: rec.raw }))
  if (rec.record === undefined) return escapeControl(rec.raw)
  const fields = rec.fields !== undefined && Object.keys(rec.fields).length > 0 ? ` ${JSON.stringify(rec.fields)}` : ""
  const msg = rec.msg ?? ""
  return escapeControl(`${rec.time ?? "-"} ${(rec.level ?? "-").padEnd(5)} ${msg}${fields}`)
}

const printLines = (lines: ReadonlyArray<string>, options: LogsOptions) =>
  Effect.forEach(
    lines.map(parseLogLine).filter((r) => shownAt(r, options.level)),
    (r) => Console.log(renderLogLine(r, options.json)),
    { discard: true }
  )

/** The first read: enough lines that, filtered by level, the last `limit` can still be shown. */
const firstRead = (options: LogsOptions) =>
  options.level === undefined || options.level === "debug"
    ? { limit: options.limit, maxBytes: Math.min(4 * 1024 * 1024, Math.max(64 * 1024, options.limit * 4096)) }
    : { limit: MAX_LIMIT, maxBytes: 4 * 1024 * 1024 }

const lastShown = (lines: ReadonlyArray<string>, options: LogsOptions): ReadonlyArray<string> => {
  if (options.level === undefined) return lines.slice(-options.limit)
  const kept = lines.filter((l) => shownAt(parseLogLine(l), options.level))
  return kept.slice(-options.limit)
}

/** The Gateway cannot be reached (as opposed to refusing us, or answering badly). */
export const isUnreachable = (e: unknown) =>
  (e instanceof GatewayClientError && (e.reason === "Connect" || e.reason === "Closed" || e.reason === "Timeout")) ||
  (e instanceof GatewayError && e.code === "UNAVAILABLE")

/**
 * `clawgate logs`: the last lines. When the target is the local Gateway and it cannot be reached, the log
 * file on this host is read instead, and stderr says so.
 */
export const showLogs = (options: LogsOptions) =>
  Effect.gen(function* () {
    const client = yield* GatewayClient
    const read = firstRead(options)
    const answer = yield* client.call(Core.LogsTail, read).pipe(
      Effect.catchIf(
        (e) => client.target.mode === "local" && isUnreachable(e),
        (e) =>
          Effect.gen(function* () {
            const local = yield* GatewayLog
            const tail = yield* local.tail(read)
            // Nothing there either (no file, or an empty one): the Gateway's absence is the answer.
            if (tail.lines.length === 0) return yield* Effect.fail(e)
            yield* Console.error(`note: the Gateway is not reachable (${e.message}); reading the local file ${local.file}`)
            return tail
          })
      )
    )
    yield* printLines(lastShown(answer.lines, options), options)
  })

/**
 * `clawgate logs --follow`: the last lines, then every new one, asking about once a second (on the Clock, so
 * a test drives it with TestClock). A `reset` (the cursor's lines were rotated away or the file truncated) is
 * said on stderr; a lost Gateway (stopped, restarted) is waited for and the tail goes on from the cursor.
 * Runs until interrupted (Ctrl-C, SIGTERM).
 *
 * `session` connects to the Gateway: built afresh for each connection, so a restarted Gateway is reached again.
 */
export const followLogs = <E, R>(
  session: Layer.Layer<GatewayClient, E, R>,
  options: LogsOptions
): Effect.Effect<never, E | GatewayError | GatewayClientError, Exclude<R, Scope.Scope>> =>
  Effect.gen(function* () {
    let cursor: number | undefined
    let connectedOnce = false
    let lost = false

    const poll = Effect.gen(function* () {
      const client = yield* GatewayClient
      const answer =
        cursor === undefined
          ? yield* client.call(Core.LogsTail, firstRead(options))
          : yield* client.call(Core.LogsTail, { cursor, limit: MAX_LIMIT, maxBytes: 1024 * 1024 })
      if (cursor === undefined) yield* printLines(lastShown(answer.lines, options), options)
      else {
        if (answer.reset) {
          yield* Console.error("note: some lines were missed (the log was rotated past them, or truncated); going on from its end")
        } else if (answer.truncated) {
          yield* Console.error("note: more new lines than one read holds; the oldest of them were skipped")
        }
        yield* printLines(answer.lines, options)
      }
      cursor = answer.cursor
      // Only a Gateway that answered once is waited for when it goes away; one never reached is an error.
      connectedOnce = true
    })

    const connection = Effect.gen(function* () {
      const client = yield* GatewayClient
      yield* client.connect
      if (lost) {
        lost = false
        yield* Console.error(`note: reconnected to the Gateway at ${client.target.url}`)
      }
      // A spaced schedule never ends: this ends only by a failure (a lost Gateway) or an interruption.
      return yield* Effect.repeat(poll, Schedule.spaced(FOLLOW_INTERVAL)).pipe(Effect.zipRight(Effect.never))
    }).pipe(
      Effect.provide(session),
      // What the connection opened (a socket, an SSH tunnel) is closed with it, before the next one.
      Effect.scoped
    )

    return yield* connection.pipe(
      Effect.tapError((e) =>
        connectedOnce && !lost && isUnreachable(e)
          ? Effect.sync(() => void (lost = true)).pipe(
              Effect.zipRight(Console.error(`note: lost the Gateway (${(e as { message: string }).message}); reconnecting…`))
            )
          : Effect.void
      ),
      Effect.retry({ schedule: Schedule.spaced(FOLLOW_INTERVAL), while: (e) => connectedOnce && isUnreachable(e) })
    )
  })
