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
  /** Rotate gateway.log when a write would take it past this many bytes (default 10 MiB). */
  readonly maxFileBytes?: number
  /** Rotated files kept, gateway.log.1 (newest) … .N; the oldest is deleted (default 5). */
  readonly maxFiles?: number
}

export const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024
export const DEFAULT_MAX_FILES = 5
/** The most rotated files ever looked for (the config's bound): older ones left by a larger `maxFiles` are deleted. */
const MAX_FILES_BOUND = 50

/**
 * Where the log's lines are, as positions counted from this Gateway's start: `base` bytes were in files rotated
 * away since then; the current file holds positions `base` to `base + its size`; the file rotated last,
 * `<file>.1`, held `prevBase` to `base` (undefined when nothing was rotated, or when no old file is kept).
 */
export interface LogPositions {
  readonly file: string
  readonly base: number
  readonly prevBase: number | undefined
  /** Counts rotations: a read that saw it change read across one, and is done again. */
  readonly generation: number
}

const EMPTY = { lines: [], truncated: false, reset: false } as const

interface Chunk {
  readonly file: string
  readonly from: number
  readonly to: number
}

const readChunks = async (chunks: ReadonlyArray<Chunk>): Promise<Buffer> => {
  const parts: Array<Buffer> = []
  for (const c of chunks) {
    if (c.to <= c.from) continue
    const buf = Buffer.alloc(c.to - c.from)
    const fh = await fsp.open(c.file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
    try {
      const { bytesRead } = await fh.read(buf, 0, buf.length, c.from)
      parts.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead))
    } finally {
      await fh.close()
    }
  }
  return Buffer.concat(parts)
}

/**
 * `logs.tail` on a log that rotates. The cursor is a position (LogPositions), not an offset in one file: one in
 * the current file reads on from there; one in the file rotated last reads the rest of `<file>.1`, then the
 * current file; one older than that (those lines were rotated past) or beyond the end answers `reset` with the
 * tail from the end, as after a truncation.
 */
export const tailLog = async (positions: () => LogPositions, req: TailRequest): Promise<TailResult> => {
  const limit = Math.min(Math.max(req.limit ?? 200, 1), 5000)
  const maxBytes = Math.min(Math.max(req.maxBytes ?? 256 * 1024, 1024), 4 * 1024 * 1024)
  for (let attempt = 0; ; attempt++) {
    const at = positions()
    let size: number
    try {
      size = (await fsp.lstat(at.file)).size
    } catch {
      return { file: at.file, cursor: at.base, size: 0, ...EMPTY }
    }
    const end = at.base + size
    const cursor = req.cursor
    let chunks: Array<Chunk>
    let reset = false
    let exact: boolean
    if (cursor !== undefined && cursor >= at.base && cursor <= end) {
      chunks = [{ file: at.file, from: cursor - at.base, to: size }]
      exact = true
    } else if (
      cursor !== undefined &&
      at.prevBase !== undefined &&
      cursor >= at.prevBase &&
      cursor < at.base &&
      // The file rotated last is still there as it was written (not removed or replaced since).
      (await fsp.lstat(`${at.file}.1`).then(
        (st) => st.isFile() && st.size === at.base - (at.prevBase ?? 0),
        () => false
      ))
    ) {
      chunks = [
        { file: `${at.file}.1`, from: cursor - (at.prevBase ?? 0), to: at.base - (at.prevBase ?? 0) },
        { file: at.file, from: 0, to: size }
      ]
      exact = true
    } else {
      reset = cursor !== undefined
      chunks = [{ file: at.file, from: 0, to: size }]
      exact = false
    }
    // At most maxBytes, the newest: whole chunks dropped first, then the front of the oldest one kept.
    let total = chunks.reduce((n, c) => n + (c.to - c.from), 0)
    const truncatedByBytes = total > maxBytes
    for (let first = chunks[0]; first !== undefined && total > maxBytes; first = chunks[0]) {
      const over = total - maxBytes
      if (first.to - first.from <= over) {
        chunks = chunks.slice(1)
        total -= first.to - first.from
      } else {
        chunks = [{ ...first, from: first.from + over }, ...chunks.slice(1)]
        total = maxBytes
      }
    }
    let buf: Buffer
    try {
      buf = await readChunks(chunks)
    } catch (e) {
      if (positions().generation !== at.generation && attempt < 3) continue
      throw e
    }
    // Rotated while reading: the files moved under the read; read again.
    if (positions().generation !== at.generation && attempt < 3) continue
    let text = buf.toString("utf8")
    // A read that does not start at the cursor, nor at the file's start, drops the partial first line.
    const startsAtLine = (exact && !truncatedByBytes) || (chunks[0] !== undefined && chunks[0].from === 0 && chunks[0].file === at.file)
    if (!startsAtLine) {
      const nl = text.indexOf("\n")
      text = nl === -1 ? "" : text.slice(nl + 1)
    }
    const all = text.split("\n").filter((l) => l.length > 0)
    const lines = all.slice(-limit)
    return { file: at.file, cursor: end, size, lines, truncated: truncatedByBytes || all.length > lines.length, reset }
  }
}

/** A plain tail of a log file (no rotation seen): what `clawgate logs` reads when the Gateway is not running. */
export const tailFile = (file: string, req: TailRequest): Promise<TailResult> =>
  tailLog(() => ({ file, base: 0, prevBase: undefined, generation: 0 }), req)

const openFailure = (dir: string, file: string) => (e: unknown) => {
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

/**
 * Opens a log file for appending, never through a symbolic link (of the file
 * or of `logs/`): a link planted there would make the Gateway write, with its
 * own rights, wherever it pointed.
 */
const openNoFollow = (dir: string, file: string, extra = 0): number => {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  if (fs.lstatSync(dir).isSymbolicLink()) {
    throw Object.assign(new Error(`${dir} is a symbolic link (to ${fs.readlinkSync(dir)})`), { code: "SYMLINK" })
  }
  return fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW | extra, 0o600)
}

const closeQuietly = (fd: number) => {
  try {
    fs.closeSync(fd)
  } catch {
    // Closed already, or the file system went away: nothing more to do with it.
  }
}

const ignoreMissing = (f: () => void) => {
  try {
    f()
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
  }
}

export interface RotatingFile {
  /** Appends whole lines (text ending in "\n"), rotating first when they would not fit. */
  readonly write: (text: string) => void
  readonly positions: () => LogPositions
  readonly close: () => void
}

/**
 * The log file with size rotation. Writes are synchronous, at most one per turn of the event loop (lineSink),
 * so a rotation happens between two writes and never splits a line: a write that would take the file past
 * `maxFileBytes` first renames gateway.log to gateway.log.1 (.1 to .2, …, the oldest kept one replaced), then
 * goes to a fresh gateway.log opened as the first one was. A line longer than the limit still goes whole into
 * a file of its own. A rotation that fails (a file system error) is said once on stderr and the Gateway keeps
 * writing to the file it has; it is tried again a minute later.
 */
export const openRotatingFile = (
  dir: string,
  file: string,
  options: { readonly maxFileBytes: number; readonly maxFiles: number; readonly onError?: (message: string) => void }
): RotatingFile => {
  let fd = openNoFollow(dir, file)
  let size = fs.fstatSync(fd).size
  let base = 0
  let prevBase: number | undefined
  let generation = 0
  let failedAt: number | undefined
  let warnedRotate = false
  let warnedWrite = false
  const onError = options.onError ?? ((m: string) => void process.stderr.write(`${m}\n`))

  const rotate = (): boolean => {
    if (failedAt !== undefined && Date.now() - failedAt < 60_000) return false
    const fresh = `${file}.new`
    let next: number | undefined
    try {
      // The next file is made first, so a failure here leaves everything as it was.
      ignoreMissing(() => fs.unlinkSync(fresh))
      next = openNoFollow(dir, fresh, fs.constants.O_EXCL)
      if (options.maxFiles === 0) fs.unlinkSync(file)
      else {
        for (let i = MAX_FILES_BOUND; i > options.maxFiles; i--) ignoreMissing(() => fs.unlinkSync(`${file}.${i}`))
        for (let i = options.maxFiles - 1; i >= 1; i--) ignoreMissing(() => fs.renameSync(`${file}.${i}`, `${file}.${i + 1}`))
        fs.renameSync(file, `${file}.1`)
      }
      fs.renameSync(fresh, file)
    } catch (e) {
      if (next !== undefined) {
        closeQuietly(next)
        try {
          // The current file may already be gateway.log.1: put it back, so the Gateway writes where tails read.
          if (!fs.existsSync(file) && options.maxFiles > 0) ignoreMissing(() => fs.renameSync(`${file}.1`, file))
          ignoreMissing(() => fs.unlinkSync(fresh))
        } catch {
          // The file system refuses even this: the Gateway writes on to the file it has, wherever it is now.
        }
      }
      failedAt = Date.now()
      if (!warnedRotate) {
        warnedRotate = true
        onError(`clawgate: cannot rotate the log file ${file} (${(e as Error).message}); writing on to it, trying again later`)
      }
      return false
    }
    closeQuietly(fd)
    fd = next
    prevBase = options.maxFiles > 0 ? base : undefined
    base += size
    size = 0
    generation++
    failedAt = undefined
    return true
  }

  const append = (bytes: Buffer) => {
    try {
      let off = 0
      while (off < bytes.length) {
        const n = fs.writeSync(fd, bytes, off, bytes.length - off)
        off += n
        size += n
      }
    } catch (e) {
      if (!warnedWrite) {
        warnedWrite = true
        onError(`clawgate: cannot write the log file ${file}: ${(e as Error).message}`)
      }
    }
  }

  const write = (text: string) => {
    const bytes = Buffer.from(text, "utf8")
    if (size + bytes.length <= options.maxFileBytes) return append(bytes)
    // Split at line ends, so each file gets whole lines and stays within the limit where a line allows.
    let start = 0
    while (start < bytes.length) {
      let end = start
      let nl = bytes.indexOf(10, start)
      while (nl !== -1 && size + (nl + 1 - start) <= options.maxFileBytes) {
        end = nl + 1
        nl = bytes.indexOf(10, end)
      }
      if (end === start) {
        // The next line does not fit: rotate, and try again in the fresh file.
        if (size > 0 && rotate()) continue
        // A line longer than the limit goes whole into a file of its own; after a failed rotation, the rest
        // goes where the Gateway writes now.
        end = size > 0 ? bytes.length : nl === -1 ? bytes.length : nl + 1
      }
      append(bytes.subarray(start, end))
      start = end
    }
  }

  return {
    write,
    positions: () => ({ file, base, prevBase, generation }),
    close: () => closeQuietly(fd)
  }
}

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
      const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES
      const maxFiles = options.maxFiles ?? DEFAULT_MAX_FILES
      let closed = false
      // File lines too: at most one write per turn of the event loop (and so a rotation falls between two).
      let writeFile: (text: string) => void = () => {}
      const { sink: fileSink, flush: flushFile } = lineSink((text) => {
        if (!closed) writeFile(text)
      })
      const log = yield* Effect.acquireRelease(
        Effect.try({ try: () => openRotatingFile(dir, file, { maxFileBytes, maxFiles }), catch: openFailure(dir, file) }),
        (f) =>
          Effect.sync(() => {
            flushFile()
            closed = true
            f.close()
          })
      )
      writeFile = log.write
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
            try: () => tailLog(log.positions, req),
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

/**
 * The log file of this host's Gateway, read-only: what `clawgate logs` reads when that Gateway is not running
 * (no rotation seen, so the cursor is the byte offset in gateway.log).
 */
export const GatewayLogReader = (stateDir: string): Layer.Layer<GatewayLog> => {
  const file = path.join(stateDir, "logs", "gateway.log")
  return Layer.succeed(GatewayLog, {
    file,
    tail: (req) =>
      Effect.tryPromise({
        try: () => tailFile(file, req),
        catch: (e) => GatewayError.unavailable(`cannot read the log file ${file}: ${(e as Error).message}`)
      }),
    addSecret: () => Effect.void
  })
}
