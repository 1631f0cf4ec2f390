/**
 * `clawgate logs` and the log file's rotation, with real `clawgate gateway run` and `clawgate logs` processes:
 * the last lines (--limit, --level, --json), the local file when the Gateway is down, a follower that sees new
 * lines, outlives a Gateway restart and stops cleanly, and a rotation at a small configured size that keeps
 * exactly maxFiles old files, loses no line, and that logs.tail's cursor reads across.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnCli, spawnGateway } from "../support/cli.js"
import { tempDir, writeConfig } from "../support/gateway.js"

/** Resolves once `check` holds (a positive signal), polling; fails after `withinMs`. */
const until = (what: string, check: () => boolean | Promise<boolean>, withinMs = 20_000) =>
  Effect.promise(async () => {
    for (const deadline = Date.now() + withinMs; ; ) {
      if (await check()) return
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  })

/** Lines in the log before the Gateway starts: a little under 64 KiB. */
const OLD_LINES = 270
const count = (text: string, re: RegExp) => text.match(new RegExp(re.source, "g"))?.length ?? 0
const jsonLines = (text: string) =>
  text
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
const readLines = async (file: string) => (await fs.readFile(file, "utf8").catch(() => "")).split("\n").filter((l) => l.length > 0)

describe("clawgate logs", () => {
  it.scopedLive("prints the last lines: --limit, --level, --json; and the local file when the Gateway is not running", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      // A file other users may read: the Gateway tightens it and says so at warn level.
      yield* Effect.promise(() => fs.writeFile(path.join(dir, "notes.txt"), "x", { mode: 0o644 }))
      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      const env = { CLAWGATE_STATE_DIR: dir, CLAWGATE_GATEWAY_PORT: String(gw.port) }

      const human = yield* runCli(["logs"], env)
      expect(human.code, human.stderr).toBe(0)
      expect(human.stdout).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z info {2}gateway listening on ws:\/\/127\.0\.0\.1:\d+/m)
      expect(human.stdout).toMatch(/ warn {2}tightened .*notes\.txt/)

      const json = yield* runCli(["logs", "--limit", "2", "--json"], env)
      expect(json.code, json.stderr).toBe(0)
      const records = jsonLines(json.stdout)
      expect(records).toHaveLength(2)
      for (const r of records) expect(r).toMatchObject({ time: expect.any(String), level: expect.any(String), msg: expect.any(String) })

      const warn = yield* runCli(["logs", "--level", "warn", "--json"], env)
      expect(warn.code, warn.stderr).toBe(0)
      const warnings = jsonLines(warn.stdout)
      expect(warnings.some((r) => /tightened .*notes\.txt/.test(String(r.msg)))).toBe(true)
      expect(warnings.every((r) => r.level === "warn" || r.level === "error")).toBe(true)

      const bad = yield* runCli(["logs", "--limit", "0"], env)
      expect(bad.code).toBe(2)
      expect(bad.stderr + bad.stdout).toMatch(/--limit must be a whole number from 1 to 5000/)

      // A line that is not JSON (another program's, a hand edit) is printed as it is, control characters escaped.
      yield* Effect.promise(() => fs.appendFile(path.join(dir, "logs", "gateway.log"), "not json \u001b[31mred\n"))
      expect(yield* Effect.promise(() => gw.stop())).toBe(0)
      const offline = yield* runCli(["logs", "--limit", "2"], env)
      expect(offline.code, offline.stderr).toBe(0)
      expect(offline.stderr).toMatch(/the Gateway is not reachable .*reading the local file .*gateway\.log/)
      expect(offline.stdout).toContain("not json \\u001b[31mred")
      expect(offline.stdout).toMatch(/info {2}gateway stopped/)
    })
  )

  it.scopedLive("--follow prints lines written after it started, outlives a Gateway restart, and ends with exit 0 on SIGTERM", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const first = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      const env = { CLAWGATE_STATE_DIR: dir, CLAWGATE_GATEWAY_PORT: String(first.port) }
      const follower = yield* spawnCli(["logs", "--follow", "--limit", "5"], env)
      yield* Effect.promise(() => follower.waitFor(/info {2}gateway listening/))

      // A failed connect, caused after the follower started: its warn line comes through.
      const refused = yield* runCli(["health", "--url", first.url, "--token", "wrong-token-abcdefghijkl"], { CLAWGATE_STATE_DIR: dir })
      expect(refused.code).toBe(4)
      yield* Effect.promise(() => follower.waitFor(/warn {2}connect refused .*AUTH_TOKEN_MISMATCH/))

      // The Gateway stops and comes back on the same port: the follower says so and goes on.
      expect(yield* Effect.promise(() => first.stop())).toBe(0)
      yield* Effect.promise(() => follower.waitFor(/note: lost the Gateway .*reconnecting/))
      const second = yield* spawnGateway(["--port", String(first.port)], { CLAWGATE_STATE_DIR: dir })
      yield* Effect.promise(() => follower.waitFor(/note: reconnected to the Gateway/))
      yield* until("the second Gateway's start in the follower's output", () => count(follower.stdout(), /gateway listening/) === 2)
      // Nothing was printed twice across the restart: one "gateway stopped" line.
      expect(count(follower.stdout(), /gateway stopped/)).toBe(1)
      expect(follower.output()).not.toMatch(/lines were missed/)

      follower.child.kill("SIGTERM")
      expect(yield* Effect.promise(() => follower.exited)).toBe(0)
      expect(yield* Effect.promise(() => second.stop())).toBe(0)
    })
  )
})

describe("logging.level", () => {
  it.scopedLive("logging.level warn keeps info lines out of the file; --verbose logs them whatever it says", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = path.join(dir, "logs", "gateway.log")
      yield* writeConfig(dir, { logging: { level: "warn" } })
      yield* Effect.promise(() => fs.writeFile(path.join(dir, "notes.txt"), "x", { mode: 0o644 }))
      const quiet = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      expect(yield* Effect.promise(() => quiet.stop())).toBe(0)
      const lines = (yield* Effect.promise(() => readLines(file))).map((l) => JSON.parse(l) as { level: string; msg: string })
      expect(lines.some((l) => /tightened .*notes\.txt/.test(l.msg))).toBe(true)
      expect(lines.filter((l) => l.level !== "warn" && l.level !== "error")).toEqual([])

      const verbose = yield* spawnGateway(["--port", "0", "--verbose"], { CLAWGATE_STATE_DIR: dir })
      expect(yield* Effect.promise(() => verbose.stop())).toBe(0)
      expect(yield* Effect.promise(() => readLines(file))).toContainEqual(expect.stringMatching(/"level":"info","msg":"gateway listening/))
    })
  )
})

describe("log rotation in a running Gateway", () => {
  it.scopedLive(
    "rotates at logging.maxFileBytes keeping exactly logging.maxFiles old files; no line is lost; the cursor reads across",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const logs = path.join(dir, "logs")
        const file = path.join(logs, "gateway.log")
        yield* writeConfig(dir, { logging: { maxFileBytes: 65536, maxFiles: 2 } })
        // An older log close to the limit, and three old files: after one rotation only .1 and .2 remain.
        yield* Effect.promise(async () => {
          await fs.mkdir(logs, { recursive: true, mode: 0o700 })
          const old = (i: number) =>
            `${JSON.stringify({ time: "2026-01-01T00:00:00.000Z", level: "info", msg: `before ${i}`, pad: "p".repeat(150) })}\n`
          await fs.writeFile(file, Array.from({ length: OLD_LINES }, (_, i) => old(i)).join(""), { mode: 0o600 })
          for (const i of [1, 2, 3]) await fs.writeFile(`${file}.${i}`, `${JSON.stringify({ msg: `old file ${i}` })}\n`, { mode: 0o600 })
        })
        const prefilled = (yield* Effect.promise(() => fs.stat(file))).size
        expect(prefilled).toBeGreaterThan(60_000)
        expect(prefilled).toBeLessThan(64_000)

        const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
        const env = { CLAWGATE_STATE_DIR: dir, CLAWGATE_GATEWAY_PORT: String(gw.port) }
        const follower = yield* spawnCli(["logs", "--follow", "--json", "--limit", "1"], env)
        yield* Effect.promise(() => follower.waitFor(/"msg":/))
        const before = yield* runCli(["gateway", "call", "logs.tail", "--params", '{"limit":1}', "--json"], env)
        expect(before.code, before.stderr).toBe(0)
        const cursor = (JSON.parse(before.stdout) as { cursor: number }).cursor

        // Health calls until gateway.log has been rotated (each logs a connect and a disconnect), then two more.
        let calls = 0
        const rotated = async () => (await readLines(`${file}.1`)).some((l) => l.includes("gateway listening"))
        while (!(yield* Effect.promise(rotated))) {
          expect(calls).toBeLessThan(60)
          expect((yield* runCli(["health"], env)).code).toBe(0)
          calls++
        }
        for (let i = 0; i < 2; i++) expect((yield* runCli(["health"], env)).code).toBe(0)
        calls += 2

        const disconnects = (lines: ReadonlyArray<string>) =>
          new Set(lines.filter((l) => l.includes('"msg":"disconnected"')).map((l) => JSON.parse(l).connId))
        // The health calls and the logs.tail call (the follower is still connected); the last is logged just after it closed.
        const logged = async () => [...(await readLines(`${file}.1`)), ...(await readLines(file))]
        yield* until("every disconnect line in the files", async () => disconnects(await logged()).size >= calls + 1)

        expect((yield* Effect.promise(() => fs.readdir(logs))).sort()).toEqual(["gateway.log", "gateway.log.1", "gateway.log.2"])
        // The oldest kept file is the old .1 moved up; the old .2 replaced it, the old .3 was deleted.
        expect(yield* Effect.promise(() => readLines(`${file}.2`))).toEqual([JSON.stringify({ msg: "old file 1" })])
        const one = yield* Effect.promise(() => readLines(`${file}.1`))
        const current = yield* Effect.promise(() => readLines(file))
        const all = [...one, ...current]
        for (const name of ["gateway.log", "gateway.log.1"]) {
          const stat = yield* Effect.promise(() => fs.lstat(path.join(logs, name)))
          expect(stat.size).toBeLessThanOrEqual(65536)
          expect(stat.mode & 0o777).toBe(0o600)
          expect(stat.isFile()).toBe(true)
        }
        // Every line whole, none lost: the old ones, then each health call's disconnect line (one per connection).
        for (const l of all) expect(() => JSON.parse(l)).not.toThrow()
        expect(all.filter((l) => /"msg":"before \d+"/.test(l))).toHaveLength(OLD_LINES)
        expect(disconnects(all).size).toBe(calls + 1)

        // logs.tail from the cursor taken before the rotation reads on across it: no reset, every line since.
        const across = yield* runCli(["gateway", "call", "logs.tail", "--params", JSON.stringify({ cursor, limit: 5000 }), "--json"], env)
        expect(across.code, across.stderr).toBe(0)
        const tail = JSON.parse(across.stdout) as { cursor: number; reset: boolean; lines: Array<string>; size: number }
        expect(tail.reset).toBe(false)
        expect(disconnects(tail.lines).size).toBe(calls + 1)
        expect(tail.cursor).toBeGreaterThan(cursor)

        // The follower saw them all too, without a "missed" note.
        yield* until("every disconnect line in the follower's output", () => disconnects(follower.stdout().split("\n")).size >= calls + 1)
        expect(follower.output()).not.toMatch(/missed/)
        follower.child.kill("SIGINT")
        expect(yield* Effect.promise(() => follower.exited)).toBe(0)
        expect(yield* Effect.promise(() => gw.stop())).toBe(0)
      })
  )
})
