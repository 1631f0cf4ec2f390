/**
 * The log file's size rotation and `logs.tail`'s cursor across it, on the writer itself (openRotatingFile,
 * tailLog) in a temp dir: whole lines only, exactly maxFiles old files, every line in one of them, a
 * cursor that reads on across a rotation and resets once lines were rotated past.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { openRotatingFile, tailFile, tailLog } from "../../src/layers/GatewayLogFile.js"
import { tempDir } from "../support/gateway.js"

const line = (i: number, pad = 40) =>
  `${JSON.stringify({ time: "2026-01-01T00:00:00.000Z", level: "info", msg: `line ${i} ${"x".repeat(pad)}` })}\n`
const linesOf = (file: string) =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.length > 0)
    : []
const numbersIn = (lines: ReadonlyArray<string>) => lines.map((l) => Number(/line (\d+)/.exec(l)![1]))
const setup = Effect.map(tempDir("clawgate-rotate-"), (dir) => ({
  dir: path.join(dir, "logs"),
  file: path.join(dir, "logs", "gateway.log")
}))

describe("log rotation", () => {
  it.scoped("rotates before a write would pass maxFileBytes, keeps exactly maxFiles old files, whole lines, none lost", () =>
    Effect.gen(function* () {
      const { dir, file } = yield* setup
      const errors: Array<string> = []
      const log = openRotatingFile(dir, file, { maxFileBytes: 1000, maxFiles: 3, onError: (m) => void errors.push(m) })
      // Single lines, and bursts of several in one write (as lineSink joins a turn's lines).
      let n = 0
      for (let i = 0; i < 40; i++) log.write(line(n++))
      for (let i = 0; i < 10; i++) log.write([0, 1, 2, 3, 4, 5, 6].map(() => line(n++)).join(""))
      log.close()
      expect(errors).toEqual([])
      const names = fs.readdirSync(dir).sort()
      expect(names).toEqual(["gateway.log", "gateway.log.1", "gateway.log.2", "gateway.log.3"])
      for (const name of names) {
        expect(fs.statSync(path.join(dir, name)).size).toBeLessThanOrEqual(1000)
        expect(fs.statSync(path.join(dir, name)).mode & 0o777).toBe(0o600)
        // Every line whole: each one parses.
        for (const l of linesOf(path.join(dir, name))) expect(() => JSON.parse(l)).not.toThrow()
      }
      // Oldest first: .3, .2, .1, then the current file; no gap, no duplicate, ending with the last line written.
      const kept = numbersIn([3, 2, 1].flatMap((i) => linesOf(`${file}.${i}`)).concat(linesOf(file)))
      expect(kept.at(-1)).toBe(n - 1)
      expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => kept[0]! + i))
    })
  )

  it.scoped("maxFiles 0 keeps no old file; a line longer than the limit goes whole into a file of its own", () =>
    Effect.gen(function* () {
      const { dir, file } = yield* setup
      const log = openRotatingFile(dir, file, { maxFileBytes: 200, maxFiles: 0 })
      log.write(line(0))
      log.write(line(1, 500))
      log.write(line(2))
      log.close()
      expect(fs.readdirSync(dir)).toEqual(["gateway.log"])
      expect(numbersIn(linesOf(file))).toEqual([2])
      expect(log.positions().base).toBe(line(0).length + line(1, 500).length)
    })
  )

  it.scoped("old files beyond a smaller maxFiles are deleted at the next rotation", () =>
    Effect.gen(function* () {
      const { dir, file } = yield* setup
      fs.mkdirSync(dir, { recursive: true })
      for (const i of [1, 2, 3, 4, 5]) fs.writeFileSync(`${file}.${i}`, line(100 + i))
      const log = openRotatingFile(dir, file, { maxFileBytes: 200, maxFiles: 2 })
      for (let i = 0; i < 6; i++) log.write(line(i))
      log.close()
      expect(fs.readdirSync(dir).sort()).toEqual(["gateway.log", "gateway.log.1", "gateway.log.2"])
    })
  )

  it.scoped("a rotation that fails is said once and the lines go on into the current file", () =>
    Effect.gen(function* () {
      const { dir, file } = yield* setup
      const errors: Array<string> = []
      const log = openRotatingFile(dir, file, { maxFileBytes: 200, maxFiles: 2, onError: (m) => void errors.push(m) })
      // A directory where the next file would be made: the rotation cannot start.
      fs.mkdirSync(`${file}.new`)
      fs.writeFileSync(path.join(`${file}.new`, "x"), "")
      for (let i = 0; i < 10; i++) log.write(line(i))
      log.close()
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatch(/cannot rotate the log file .*gateway\.log/)
      expect(numbersIn(linesOf(file))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    })
  )

  it.scoped("refuses a gateway.log that is a symbolic link", () =>
    Effect.gen(function* () {
      const { dir, file } = yield* setup
      fs.mkdirSync(dir, { recursive: true })
      fs.symlinkSync(path.join(dir, "elsewhere"), file)
      expect(() => openRotatingFile(dir, file, { maxFileBytes: 200, maxFiles: 2 })).toThrow(/ELOOP|symbolic/)
    })
  )
})

describe("logs.tail's cursor across rotation", () => {
  it.scoped("a cursor reads on across a rotation, from gateway.log.1 into the new file; one rotated past resets", () =>
    Effect.gen(function* () {
      const { dir, file } = yield* setup
      const log = openRotatingFile(dir, file, { maxFileBytes: 400, maxFiles: 1 })
      const tail = (cursor?: number) => Effect.promise(() => tailLog(log.positions, { cursor, limit: 5000 }))
      log.write(line(0))
      log.write(line(1))
      const first = yield* tail()
      expect(numbersIn(first.lines)).toEqual([0, 1])
      expect(first.reset).toBe(false)

      // Lines 2..4 (three fit in a file): one rotation; the cursor was in the file that is gateway.log.1 now.
      for (let i = 2; i < 5; i++) log.write(line(i))
      expect(log.positions().generation).toBe(1)
      expect(numbersIn(linesOf(`${file}.1`))).toEqual([0, 1, 2])
      const second = yield* tail(first.cursor)
      expect(second.reset).toBe(false)
      expect(numbersIn(second.lines)).toEqual([2, 3, 4])
      // The cursor is a position for the Gateway's lifetime: base plus the current file's size.
      expect(second.cursor).toBe(log.positions().base + fs.statSync(file).size)
      expect(second.cursor).toBeGreaterThan(first.cursor)

      // Had gateway.log.1 been removed by hand, the same cursor would reset instead of failing.
      fs.renameSync(`${file}.1`, `${file}.1.away`)
      const gone = yield* tail(first.cursor)
      expect(gone.reset).toBe(true)
      expect(numbersIn(gone.lines)).toEqual([3, 4])
      fs.renameSync(`${file}.1.away`, `${file}.1`)

      // Nothing new: no lines, the same cursor.
      const idle = yield* tail(second.cursor)
      expect(idle.lines).toEqual([])
      expect(idle.cursor).toBe(second.cursor)

      // Two more rotations: lines were rotated past the cursor (maxFiles 1 keeps one old file) → reset, tail from the end.
      for (let i = 8; i < 30; i++) log.write(line(i))
      const third = yield* tail(second.cursor)
      expect(third.reset).toBe(true)
      expect(numbersIn(third.lines).at(-1)).toBe(29)
      // A cursor beyond the end resets too.
      const beyond = yield* tail(third.cursor + 1)
      expect(beyond.reset).toBe(true)
      log.close()
    })
  )

  it.scoped("a plain file (no rotation seen) reads as before: the cursor is the byte offset", () =>
    Effect.gen(function* () {
      const { dir, file } = yield* setup
      fs.mkdirSync(dir, { recursive: true })
      fs.writeFileSync(file, line(0) + line(1))
      const all = yield* Effect.promise(() => tailFile(file, { limit: 1 }))
      expect(numbersIn(all.lines)).toEqual([1])
      expect(all.truncated).toBe(true)
      expect(all.cursor).toBe(fs.statSync(file).size)
      fs.appendFileSync(file, line(2))
      const next = yield* Effect.promise(() => tailFile(file, { cursor: all.cursor }))
      expect(numbersIn(next.lines)).toEqual([2])
    })
  )
})
