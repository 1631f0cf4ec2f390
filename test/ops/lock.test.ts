/**
 * One Gateway per state dir, with real `clawgate gateway run` processes: a second start is refused
 * with exit 78 naming the first, a killed Gateway's lock is taken over, a clean stop releases it.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnGateway } from "../support/cli.js"
import { tempDir } from "../support/gateway.js"
import { gone } from "../support/process.js"

const ownerFile = (dir: string) => path.join(dir, "gateway.lock.json")
const readOwner = (dir: string) =>
  Effect.promise(async () => JSON.parse(await fs.readFile(ownerFile(dir), "utf8")) as { pid: number; url?: string; stateDir: string })
const exists = (file: string) =>
  Effect.promise(() =>
    fs.stat(file).then(
      () => true,
      () => false
    )
  )

describe("one Gateway per state dir", () => {
  it.scopedLive("a second `gateway run` on the same state dir exits 78 naming the first, which keeps serving", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const env = { CLAWGATE_STATE_DIR: dir }
      const first = yield* spawnGateway(["--port", "0"], env)
      const owner = yield* readOwner(dir)
      expect(owner.pid).toBe(first.child.pid)
      expect(owner.url).toBe(first.url)
      expect((yield* Effect.promise(() => fs.stat(ownerFile(dir)))).mode & 0o777).toBe(0o600)

      const second = yield* runCli(["gateway", "run", "--port", "0"], env)
      expect(second.code).toBe(78)
      expect(second.stdout).not.toMatch(/ready on/)
      expect(second.stderr).toContain(`pid ${first.child.pid}`)
      expect(second.stderr).toContain(first.url)
      expect(second.stderr).toContain(dir)
      expect(second.stderr).toContain(`clawgate gateway stop (or kill ${first.child.pid})`)
      expect(second.stderr).toContain("clawgate --profile NAME gateway run")

      // The first one is untouched: it answers, and still holds the lock.
      const health = yield* runCli(["health"], { ...env, CLAWGATE_GATEWAY_PORT: String(first.port) })
      expect(health.code).toBe(0)
      expect(health.stdout).toMatch(/healthy/)
      expect((yield* readOwner(dir)).pid).toBe(first.child.pid)
      expect(yield* Effect.promise(() => first.stop())).toBe(0)
    })
  )

  it.scopedLive("a SIGKILLed Gateway's lock is taken over by the next start, which says so", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const env = { CLAWGATE_STATE_DIR: dir }
      const killed = yield* spawnGateway(["--port", "0"], env)
      const pid = killed.child.pid!
      yield* Effect.promise(() => killed.stop("SIGKILL"))
      expect(yield* gone(pid)).toBe(true)
      // It left its lock behind, fresh: the recorded pid is what says it is dead.
      expect(yield* exists(path.join(dir, "gateway.lock"))).toBe(true)

      const next = yield* spawnGateway(["--port", "0"], env)
      expect(next.output()).toMatch(new RegExp(`took over the lock of pid ${pid} .*not running`))
      expect((yield* readOwner(dir)).pid).toBe(next.child.pid)
      const health = yield* runCli(["health"], { ...env, CLAWGATE_GATEWAY_PORT: String(next.port) })
      expect(health.code).toBe(0)
      expect(yield* Effect.promise(() => next.stop())).toBe(0)
    })
  )

  it.scopedLive("a lock not refreshed within the stale time is taken over even when its recorded pid is alive", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      // As a frozen or reused pid would look: a live process (this test) named, the lock's mtime old.
      const lock = path.join(dir, "gateway.lock")
      yield* Effect.promise(() => fs.mkdir(lock, { recursive: true }))
      const owner = { pid: process.pid, stateDir: dir, startedAt: "2026-01-01T00:00:00.000Z" }
      yield* Effect.promise(() => fs.writeFile(ownerFile(dir), JSON.stringify(owner), { mode: 0o600 }))
      const old = new Date(Date.now() - 60_000)
      yield* Effect.promise(() => fs.utimes(lock, old, old))

      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      expect(gw.output()).toMatch(/took over a lock not refreshed for \d+ s/)
      expect((yield* readOwner(dir)).pid).toBe(gw.child.pid)
      expect(yield* Effect.promise(() => gw.stop())).toBe(0)
    })
  )

  it.scopedLive("a clean stop (SIGTERM) releases the lock: the next start needs no takeover", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const env = { CLAWGATE_STATE_DIR: dir }
      const first = yield* spawnGateway(["--port", "0"], env)
      expect(yield* Effect.promise(() => first.stop("SIGTERM"))).toBe(0)
      expect(yield* exists(path.join(dir, "gateway.lock"))).toBe(false)
      expect(yield* exists(ownerFile(dir))).toBe(false)

      const next = yield* spawnGateway(["--port", "0"], env)
      expect(next.output()).not.toContain("took over")
      expect((yield* readOwner(dir)).pid).toBe(next.child.pid)
      expect(yield* Effect.promise(() => next.stop("SIGINT"))).toBe(0)
    })
  )

  it.scopedLive("a Gateway whose lock is removed under it stops cleanly and says why", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      yield* Effect.promise(() => fs.rm(path.join(dir, "gateway.lock"), { recursive: true }))
      // The holder notices at its next refresh (every 3 s) and stops: exit 1, the reason logged.
      expect(yield* Effect.promise(() => new Promise<number | null>((r) => gw.child.on("exit", (code) => r(code))))).toBe(1)
      expect(gw.output()).toMatch(/state dir lock .* was lost/)
      const log = yield* Effect.promise(() => fs.readFile(path.join(dir, "logs", "gateway.log"), "utf8"))
      expect(log).toContain("gateway stopped")
    })
  )
})
