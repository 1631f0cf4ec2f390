/**
 * The CLI's code cache (bin/compile-cache.cjs) with real processes: the first command writes one
 * private file per chunk it loaded, later ones use them, a damaged file is refused by V8 and made
 * again, and a cache directory that is a symbolic link is not used at all. And the README's main
 * path: `npm install -g .` gives a real `clawgate` command.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { BIN, runCli, spawnGateway } from "../support/cli.js"
import { tempDir } from "../support/gateway.js"

const ROOT = path.resolve(path.dirname(BIN), "..")
const listCache = (dir: string) =>
  Effect.promise(async () => {
    const out: Array<{ name: string; mode: number; size: number; mtimeMs: number }> = []
    for (const flavor of await fs.readdir(dir)) {
      for (const name of await fs.readdir(path.join(dir, flavor))) {
        const st = await fs.stat(path.join(dir, flavor, name))
        out.push({ name: `${flavor}/${name}`, mode: st.mode & 0o777, size: st.size, mtimeMs: st.mtimeMs })
      }
    }
    return out
  })

describe("the compile cache", () => {
  it.scopedLive("is written once, privately, used by the next command, and made again when damaged", () =>
    Effect.gen(function* () {
      const home = yield* tempDir()
      const cache = path.join(home, "cache")
      const env = { HOME: home, CLAWGATE_COMPILE_CACHE: cache }
      const first = yield* runCli(["--version"], env)
      expect(first.code).toBe(0)
      const files = yield* listCache(cache)
      expect(files.length).toBeGreaterThan(3)
      expect(files.some((f) => f.name.includes("/bin-"))).toBe(true)
      for (const f of files) expect(f.mode).toBe(0o600)
      expect((yield* Effect.promise(() => fs.stat(cache))).mode & 0o777).toBe(0o700)

      // The next run takes them as they are: nothing is written again.
      const second = yield* runCli(["--version"], env)
      expect(second.stdout).toBe(first.stdout)
      expect(yield* listCache(cache)).toEqual(files)

      // Garbage in a cache file: V8 refuses it, the command works, and the file is made anew.
      const bin = files.find((f) => f.name.includes("/bin-"))!
      yield* Effect.promise(() => fs.writeFile(path.join(cache, bin.name), Buffer.alloc(bin.size, 7)))
      const third = yield* runCli(["--version"], env)
      expect(third.code).toBe(0)
      expect(third.stdout).toBe(first.stdout)
      const after = (yield* listCache(cache)).find((f) => f.name === bin.name)!
      expect((yield* Effect.promise(() => fs.readFile(path.join(cache, bin.name))))[0]).not.toBe(7)
      expect(after.mode).toBe(0o600)
    })
  )

  it.scopedLive("a running Gateway writes its own once it is quiet after start, and the next start uses it", () =>
    Effect.gen(function* () {
      const home = yield* tempDir()
      const cache = path.join(home, "cache")
      const env = { HOME: home, CLAWGATE_COMPILE_CACHE: cache, CLAWGATE_STATE_DIR: path.join(home, "state") }
      const ofGateway = <F extends { readonly name: string }>(files: ReadonlyArray<F>) => files.filter((f) => /-gateway\//.test(f.name))
      const gw = yield* spawnGateway(["--port", "0"], env)
      // While it runs (not at exit), at its first quiet moment: the positive signal is the Gateway chunk's
      // file, polled for 4 s, before the cache's own 5 s fallback (a listing can meet a file being renamed
      // into place: it is listed again).
      const written = Effect.promise(() => fs.readdir(cache).then((dirs) => Promise.all(dirs.map((d) => fs.readdir(path.join(cache, d))))))
      const deadline = Date.now() + 4_000
      let seen = false
      while (!seen && Date.now() < deadline) {
        const names = (yield* written.pipe(Effect.catchAllDefect(() => Effect.succeed([])))).flat()
        seen = names.some((n) => n.startsWith("Gateway-") && !n.endsWith(".tmp"))
        if (!seen) yield* Effect.sleep("50 millis")
      }
      expect(seen).toBe(true)
      expect(gw.child.exitCode).toBe(null)
      yield* Effect.promise(() => gw.stop())
      const settled = ofGateway(yield* listCache(cache))
      expect(settled.length).toBeGreaterThan(3)
      for (const f of settled) expect(f.mode).toBe(0o600)

      // The next start takes them as they are: nothing is written again.
      const again = yield* spawnGateway(["--port", "0"], env)
      yield* Effect.promise(() => again.stop())
      expect(ofGateway(yield* listCache(cache))).toEqual(settled)
    })
  )

  it.scopedLive("is not used through a symbolic link, nor when CLAWGATE_COMPILE_CACHE=0", () =>
    Effect.gen(function* () {
      const home = yield* tempDir()
      const elsewhere = path.join(home, "elsewhere")
      yield* Effect.promise(() => fs.mkdir(elsewhere))
      yield* Effect.promise(() => fs.symlink(elsewhere, path.join(home, "linked")))
      const linked = yield* runCli(["--version"], { HOME: home, CLAWGATE_COMPILE_CACHE: path.join(home, "linked") })
      expect(linked.code).toBe(0)
      expect(yield* Effect.promise(() => fs.readdir(elsewhere))).toEqual([])
      const off = yield* runCli(["--version"], { HOME: home, CLAWGATE_COMPILE_CACHE: "0" })
      expect(off.code).toBe(0)
      expect((yield* Effect.promise(() => fs.readdir(home))).sort()).toEqual(["elsewhere", "linked"])
    })
  )
})

describe("the README's main path", () => {
  it.scopedLive("`npm install -g .` from the clone gives a `clawgate` command that runs this build", () =>
    Effect.gen(function* () {
      const prefix = yield* tempDir()
      yield* Effect.async<void, Error>((resume) => {
        execFile(
          "npm",
          ["install", "-g", ".", "--prefix", prefix, "--ignore-scripts", "--offline", "--no-audit", "--no-fund"],
          { cwd: ROOT, timeout: 60_000 },
          (err, _stdout, stderr) => resume(err ? Effect.fail(new Error(`npm install -g . failed: ${stderr}`)) : Effect.void)
        )
      })
      const command = path.join(prefix, "bin", "clawgate")
      const out = yield* Effect.async<string, Error>((resume) => {
        execFile(
          command,
          ["gateway", "status", "--json"],
          { env: { ...process.env, HOME: prefix, CLAWGATE_STATE_DIR: path.join(prefix, "state") } },
          (err, stdout) =>
            // Nothing runs there: exit 3, with the report on stdout.
            resume((err as { code?: number } | null)?.code === 3 ? Effect.succeed(stdout) : Effect.fail(new Error(String(err))))
        )
      })
      expect(JSON.parse(out)).toMatchObject({ reachable: false, profile: { name: "default" } })
    })
  )
})
