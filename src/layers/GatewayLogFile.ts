/**
 * The log file and the console logger. Every Effect log line of the Gateway
 * goes to both; secrets registered with `addSecret` are masked in both.
 */
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { Cause, Effect, HashMap, Layer, Logger, LogLevel } from "effect"
import { GatewayError } from "../protocol/errors.js"
import { escapeControl } from "../protocol/codec.js"
import { GatewayStartError } from "../services/GatewayServer.js"
import { GatewayLog, type GatewayLogService, type TailRequest, type TailResult } from "../services/GatewayLog.js"

const MASK = "***"

export const maskSecrets = (text: string, secrets: ReadonlySet<string>): string => {
  let out = text
  for (const s of secrets) if (s.length >= 4 && out.includes(s)) out = out.split(s).join(MASK)
  return out
}

const renderMessage = (message: unknown): string => {
  const parts = Array.isArray(message) ? message : [message]
  return parts.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join(" ")
}

export interface LogOptions {
  readonly stateDir: string
  readonly console?: boolean
  readonly level?: LogLevel.LogLevel
}

const tailFile = async (file: string, req: TailRequest): Promise<TailResult> => {
  const limit = Math.min(Math.max(req.limit ?? 200, 1), 5000)
  const maxBytes = Math.min(Math.max(req.maxBytes ?? 256 * 1024, 1024), 4 * 1024 * 1024)
  let size = 0
  try {
    size = (await fsp.stat(file)).size
  } catch {
    return { file, cursor: 0, size: 0, lines: [], truncated: false, reset: false }
  }
  let start: number
  let reset = false
  if (req.cursor !== undefined && req.cursor <= size) start = req.cursor
  else {
    reset = req.cursor !== undefined
    start = Math.max(0, size - maxBytes)
  }
  const truncatedByBytes = size - start > maxBytes
  if (truncatedByBytes) start = size - maxBytes
  const length = size - start
  const buf = Buffer.alloc(length)
  const fh = await fsp.open(file, "r")
  try {
    await fh.read(buf, 0, length, start)
  } finally {
    await fh.close()
  }
  let text = buf.toString("utf8")
  // A read that starts mid-file drops the partial first line.
  if (start > 0 && (req.cursor === undefined || truncatedByBytes || reset)) {
    const nl = text.indexOf("\n")
    text = nl === -1 ? "" : text.slice(nl + 1)
  }
  const all = text.split("\n").filter((l) => l.length > 0)
  const lines = all.slice(-limit)
  return { file, cursor: size, size, lines, truncated: truncatedByBytes || all.length > lines.length, reset }
}

/**
 * Opens `<stateDir>/logs/gateway.log` for appending, never through a symbolic
 * link (of the file or of `logs/`): a link planted there would make the
 * Gateway write, with its own rights, wherever it pointed.
 */
const openLogFile = (dir: string, file: string) =>
  Effect.try({
    try: () => {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
      if (fs.lstatSync(dir).isSymbolicLink()) {
        throw Object.assign(new Error(`${dir} is a symbolic link (to ${fs.readlinkSync(dir)})`), { code: "SYMLINK" })
      }
      return fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600)
    },
    catch: (e) => {
      const err = e as NodeJS.ErrnoException
      const link = (p: string) => {
        try {
          return fs.readlinkSync(p)
        } catch {
          return "?"
        }
      }
      return new GatewayStartError({
        message:
          err.code === "ELOOP"
            ? `refusing to write the log through a symbolic link: ${file} points to ${link(file)}. Remove the link; the Gateway then creates a regular file there`
            : err.code === "SYMLINK"
              ? `refusing to write the log through a symbolic link: ${err.message}. Make ${dir} a real directory (or remove it)`
              : `cannot open the log file ${file}: ${err.message}`
      })
    }
  })

/**
 * Lines to a stream, at most one write per turn of the event loop: a line
 * when all is quiet is written at once, and the lines that follow it in the
 * same turn go out together at its end. A write to a pipe (a terminal, a
 * service manager's journal) is synchronous in Node, and a crowd of clients
 * connecting at once would otherwise pay one system call per line.
 */
export const lineSink = (write: (text: string) => void) => {
  let burst: Array<string> | undefined
  const flush = () => {
    const lines = burst
    burst = undefined
    if (lines !== undefined && lines.length > 0) write(lines.join(""))
  }
  const sink = (line: string) => {
    if (burst !== undefined) return void burst.push(line)
    write(line)
    burst = []
    setImmediate(flush)
  }
  return { sink, flush }
}

const consoleSink = (stream: NodeJS.WriteStream) => {
  const { sink, flush } = lineSink((text) => stream.write(text))
  process.once("exit", flush)
  return sink
}
const stdoutSink = consoleSink(process.stdout)
const stderrSink = consoleSink(process.stderr)

export const GatewayLogFile = (options: LogOptions): Layer.Layer<GatewayLog, GatewayStartError> =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const dir = path.join(options.stateDir, "logs")
      const file = path.join(dir, "gateway.log")
      const fd = yield* openLogFile(dir, file)
      const stream = yield* Effect.acquireRelease(
        Effect.sync(() => fs.createWriteStream(file, { fd, flags: "a" })),
        (s) => Effect.async<void>((resume) => void s.end(() => resume(Effect.void)))
      )
      stream.on("error", () => {})
      // File lines too: at most one write per turn of the event loop.
      const { sink: fileSink, flush: flushFile } = lineSink((text) => {
        if (!stream.writableEnded) stream.write(text)
      })
      yield* Effect.addFinalizer(() => Effect.sync(flushFile))
      const secrets = new Set<string>()
      const useConsole = options.console ?? true

      const logger = Logger.make(({ logLevel, message, annotations, cause, date }) => {
        // Messages quote what peers sent (client ids, header values): no control character survives, so no
        // peer can start a line of its own or move the terminal's cursor. A cause keeps its lines, each
        // indented under the entry, so it cannot pass for an entry either.
        let text = escapeControl(renderMessage(message))
        if (!Cause.isEmpty(cause)) text += ` ${Cause.pretty(cause).split("\n").map(escapeControl).join("\n    ")}`
        text = maskSecrets(text, secrets)
        const fields: Record<string, unknown> = {}
        for (const [k, v] of HashMap.toEntries(annotations)) fields[k] = v
        const line = { time: date.toISOString(), level: logLevel.label.toLowerCase(), msg: text, ...fields }
        fileSink(maskSecrets(JSON.stringify(line), secrets) + "\n")
        if (useConsole) {
          const extra = Object.keys(fields).length ? " " + maskSecrets(JSON.stringify(fields), secrets) : ""
          const out = `${date.toISOString()} ${logLevel.label.toLowerCase().padEnd(5)} ${text}${extra}\n`
          if (logLevel._tag === "Error" || logLevel._tag === "Fatal" || logLevel._tag === "Warning") stderrSink(out)
          else stdoutSink(out)
        }
      })

      const service: GatewayLogService = {
        file,
        tail: (req) =>
          Effect.tryPromise({
            try: () => tailFile(file, req),
            catch: (e) => GatewayError.unavailable(`cannot read the log file: ${(e as Error).message}`)
          }),
        addSecret: (secret) => Effect.sync(() => void secrets.add(secret))
      }
      return Layer.merge(
        Layer.succeed(GatewayLog, service),
        Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(options.level ?? LogLevel.Info))
      )
    })
  )
