/** The Logs page's logic: reading the Gateway's real log lines, filtering them, and keeping a bounded tail across reads. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, LogLevel } from "effect"
import { GatewayLogFile } from "../../src/layers/GatewayLogFile.js"
import {
  applyTail,
  emptyTail,
  filterEntries,
  normalizeLevel,
  parseLogLine,
  readTailAnswer,
  type LogEntry,
  type TailAnswer
} from "../../src/ui/pages/lib/logs.js"

const answer = (lines: Array<string>, over: Partial<TailAnswer> = {}): TailAnswer => ({
  file: "/state/logs/gateway.log",
  cursor: 100,
  lines,
  truncated: false,
  reset: false,
  ...over
})

describe("parseLogLine", () => {
  it.effect("reads the lines the Gateway's own logger writes: time, level, message and annotations", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cg-pages-logs-"))
      // The log layer's scope closes (and its file is flushed) before the lines are read back.
      yield* Effect.gen(function* () {
        yield* Effect.logDebug("probe")
        yield* Effect.logInfo("node connected").pipe(Effect.annotateLogs({ nodeId: "abc123" }))
        yield* Effect.logWarning("pairing requested")
        yield* Effect.logError("cannot read the store")
        yield* Effect.logFatal("gave up")
      }).pipe(Effect.provide(GatewayLogFile({ stateDir: dir, console: false, level: LogLevel.Debug })), Effect.scoped)
      const lines = fs
        .readFileSync(path.join(dir, "logs", "gateway.log"), "utf8")
        .split("\n")
        .filter((l) => l !== "")
      fs.rmSync(dir, { recursive: true, force: true })
      const entries = lines.map(parseLogLine)
      expect(entries.map((e) => [e.level, e.message])).toEqual([
        ["debug", "probe"],
        ["info", "node connected"],
        ["warn", "pairing requested"],
        ["error", "cannot read the store"],
        ["error", "gave up"]
      ])
      expect(entries[1]?.fields).toBe("nodeId=abc123")
      expect(entries[0]?.time).toMatch(/^\d{4}-\d\d-\d\dT/)
    })
  )

  it("reads OpenClaw's tslog lines, the console format and plain text", () => {
    const tslog = parseLogLine(
      JSON.stringify({
        0: '{"subsystem":"gateway"}',
        1: "listening on 18789",
        _meta: { logLevelName: "WARN", date: "2026-01-02T03:04:05.000Z" }
      })
    )
    expect(tslog.level).toBe("warn")
    expect(tslog.message).toContain("listening on 18789")
    expect(tslog.time).toBe("2026-01-02T03:04:05.000Z")
    const console = parseLogLine("2026-01-02T03:04:05.000Z error cannot bind 0.0.0.0:18789")
    expect([console.level, console.message]).toEqual(["error", "cannot bind 0.0.0.0:18789"])
    expect(parseLogLine("[INFO] started").level).toBe("info")
    const plain = parseLogLine("just some text")
    expect([plain.level, plain.message]).toEqual([undefined, "just some text"])
    // Broken JSON is text, not a crash.
    expect(parseLogLine('{"level":"info",').message).toBe('{"level":"info",')
  })

  it("clips a huge line and folds level names into the four the filter offers", () => {
    expect(parseLogLine("x".repeat(100_000)).message.length).toBeLessThanOrEqual(8000)
    expect(["trace", "DEBUG", "Info", "warning", "fatal", 5, 3, "nonsense"].map(normalizeLevel)).toEqual([
      "debug",
      "debug",
      "info",
      "warn",
      "error",
      "error",
      "info",
      undefined
    ])
  })
})

describe("filterEntries", () => {
  const lines = [
    '{"time":"t","level":"debug","msg":"tick sent"}',
    '{"time":"t","level":"info","msg":"node connected","nodeId":"n1"}',
    '{"time":"t","level":"warn","msg":"pairing requested by device 9f2c"}',
    '{"time":"t","level":"error","msg":"cannot read the store"}',
    "no level here"
  ]
  const entries = applyTail(emptyTail, answer(lines)).entries
  const msgs = (list: ReadonlyArray<LogEntry>) => list.map((e) => e.message)

  it("a level shows that level and above; lines without a level only without a level filter", () => {
    expect(msgs(filterEntries(entries, {}))).toHaveLength(5)
    expect(msgs(filterEntries(entries, { level: "warn" }))).toEqual(["pairing requested by device 9f2c", "cannot read the store"])
    expect(msgs(filterEntries(entries, { level: "debug" }))).toHaveLength(4)
  })

  it("the text filter is case-insensitive and looks at the fields too", () => {
    expect(msgs(filterEntries(entries, { text: "PAIRING" }))).toEqual(["pairing requested by device 9f2c"])
    expect(msgs(filterEntries(entries, { text: "n1" }))).toEqual(["node connected"])
    expect(msgs(filterEntries(entries, { text: "store", level: "info" }))).toEqual(["cannot read the store"])
    expect(filterEntries(entries, { text: "   " })).toHaveLength(5)
  })
})

describe("applyTail", () => {
  it("appends each read's lines and keeps at most the newest max", () => {
    let s = applyTail(emptyTail, answer(["a", "b", "c"], { cursor: 10 }))
    expect(s.cursor).toBe(10)
    s = applyTail(s, answer(["d", "e"], { cursor: 20 }), 4)
    expect(s.entries.map((e) => e.message)).toEqual(["b", "c", "d", "e"])
    expect(new Set(s.entries.map((e) => e.id)).size).toBe(4)
    expect(s.cursor).toBe(20)
  })

  it("says where the file was rotated (reset or another file) and where lines were skipped (truncated)", () => {
    const first = applyTail(emptyTail, answer(["old"], { cursor: 50, truncated: true }))
    // The first read starting mid-file is not a gap the person missed.
    expect(first.entries.map((e) => e.kind)).toEqual(["line"])
    const rotated = applyTail(first, answer(["new"], { cursor: 4, reset: true }))
    expect(rotated.entries.map((e) => [e.kind, e.message])).toEqual([
      ["line", "old"],
      ["notice", "The log file was rotated: showing the new file from here on."],
      ["line", "new"]
    ])
    const skipped = applyTail(rotated, answer(["later"], { cursor: 900, truncated: true }))
    expect(skipped.entries.at(-2)?.kind).toBe("notice")
    const moved = applyTail(skipped, answer(["x"], { file: "/other/gateway.log" }))
    expect(moved.entries.at(-2)?.message).toContain("rotated")
    // Notices pass every filter.
    expect(filterEntries(moved.entries, { level: "error", text: "zzz" }).every((e) => e.kind === "notice")).toBe(true)
  })

  it("reads a logs.tail answer only when it is one", () => {
    expect(readTailAnswer({ file: "f", cursor: 3, size: 3, lines: ["a", 7, "b"], truncated: false, reset: false })?.lines).toEqual([
      "a",
      "b"
    ])
    expect(readTailAnswer({ lines: [] })).toBeUndefined()
    expect(readTailAnswer("nope")).toBeUndefined()
  })
})
