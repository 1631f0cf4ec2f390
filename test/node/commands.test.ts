import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { gone } from "../support/process.js"
import { Effect, Either, Fiber } from "effect"
import {
  defaultAllowlistPath,
  makeDispatcher,
  MAX_OUTPUT_BYTES,
  NODE_COMMANDS,
  type NodeCommandsConfig,
  systemWhich,
  type SystemInfo,
  type SystemRunResult
} from "../../src/layers/nodes/NodeCommandsLocal.js"
import { VERSION } from "../../src/version.js"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "clawgate-node-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

/** A state dir whose allowlist holds `allow` (or no allowlist file when `allow` is undefined). */
const nodeState = (allow?: ReadonlyArray<ReadonlyArray<string>>) =>
  Effect.gen(function* () {
    const stateDir = yield* tempDir
    const file = defaultAllowlistPath(stateDir)
    if (allow) yield* writeFile(file, JSON.stringify({ version: 1, allow }))
    return { stateDir, file }
  })

const writeFile = (file: string, text: string) =>
  Effect.promise(async () => {
    await fs.mkdir(path.dirname(file), { recursive: true })
    await fs.writeFile(file, text)
  })

/** Runs `effect` with stdout/stderr lines written through Console captured. */
const captured = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    const base = yield* Effect.console
    const result = yield* Effect.either(
      Effect.withConsole(effect, {
        ...base,
        log: (...args: ReadonlyArray<unknown>) => Effect.sync(() => void stdout.push(args.join(" "))),
        error: (...args: ReadonlyArray<unknown>) => Effect.sync(() => void stderr.push(args.join(" ")))
      })
    )
    return { result, stdout, stderr }
  })

const invoke = (config: NodeCommandsConfig, command: string, params?: unknown) =>
  makeDispatcher(config)(command, params === undefined ? undefined : JSON.stringify(params))

const run = (config: NodeCommandsConfig, params: unknown) =>
  invoke(config, "system.run", params) as Effect.Effect<SystemRunResult, { code: string; message: string }>

describe("node commands", () => {
  it("declares its commands, OpenClaw's exec preliminaries among them", () => {
    expect([...NODE_COMMANDS]).toEqual(["system.info", "system.notify", "system.which", "system.run.prepare", "system.run"])
  })

  it.scoped("system.info describes this machine and process", () =>
    Effect.gen(function* () {
      const { file } = yield* nodeState()
      const info = (yield* invoke({ allowlistPath: file }, "system.info")) as SystemInfo
      expect(info).toMatchObject({
        host: os.hostname(),
        platform: process.platform,
        arch: process.arch,
        release: os.release(),
        node: process.version,
        clawgate: VERSION,
        pid: process.pid
      })
      expect(info.uptimeSec).toBeGreaterThan(0)
    })
  )

  it.scoped("system.notify prints one line on the node's terminal", () =>
    Effect.gen(function* () {
      const { file } = yield* nodeState()
      const config = { allowlistPath: file }
      const shown = yield* captured(invoke(config, "system.notify", { title: "Build", body: "done\nall green" }))
      expect(shown.result).toEqual(Either.right({ shown: true }))
      expect(shown.stdout).toEqual(["[notify] Build: done all green"])

      const message = yield* captured(invoke(config, "system.notify", { message: "hi" }))
      expect(message.stdout).toEqual(["[notify] hi"])

      const empty = yield* Effect.flip(invoke(config, "system.notify", { title: "only a title" }))
      expect(empty.code).toBe("INVALID_PARAMS")
      expect(empty.message).toMatch(/body/)
    })
  )

  it.scoped("system.run runs an allowlisted argv and returns its output", () =>
    Effect.gen(function* () {
      const { file } = yield* nodeState([
        ["/bin/echo", "hello"],
        ["sh", "-c", "echo oops >&2; exit 3"]
      ])
      const ok = yield* run({ allowlistPath: file }, { command: ["/bin/echo", "hello"] })
      expect(ok).toEqual({ exitCode: 0, timedOut: false, success: true, stdout: "hello\n", stderr: "", error: null, truncated: false })

      const failed = yield* run({ allowlistPath: file }, { command: ["sh", "-c", "echo oops >&2; exit 3"] })
      expect(failed).toMatchObject({ exitCode: 3, timedOut: false, success: false, stdout: "", stderr: "oops\n" })
    })
  )

  it.scoped("system.run matches the exact argv only, refuses everything else and logs the refusal", () =>
    Effect.gen(function* () {
      const { file } = yield* nodeState([["/bin/echo", "hello"]])
      const config = { allowlistPath: file }
      for (const command of [["/bin/echo", "hello", "world"], ["/bin/echo"], ["echo", "hello"], ["/bin/echo", "hello "]]) {
        const { result, stderr } = yield* captured(run(config, { command }))
        expect(result).toMatchObject({
          _tag: "Left",
          left: { code: "SYSTEM_RUN_DENIED", message: `SYSTEM_RUN_DENIED: ${JSON.stringify(command)} is not in the allowlist ${file}` }
        })
        expect(stderr).toHaveLength(1)
        expect(stderr[0]).toContain("system.run denied")
        expect(stderr[0]).toContain(JSON.stringify(command))
      }
    })
  )

  it.scoped("without an allowlist file nothing is allowed", () =>
    Effect.gen(function* () {
      const { file } = yield* nodeState()
      const { result, stderr } = yield* captured(run({ allowlistPath: file }, { command: ["/bin/echo", "hello"] }))
      expect(result).toMatchObject({ _tag: "Left", left: { code: "SYSTEM_RUN_DENIED" } })
      expect(stderr[0]).toContain("does not exist")
    })
  )

  it.scoped("a malformed allowlist is an error naming the file; fixing it applies without a restart", () =>
    Effect.gen(function* () {
      const { file } = yield* nodeState()
      const config = { allowlistPath: file }
      yield* writeFile(file, "{not json")
      const { result, stderr } = yield* captured(Effect.flip(run(config, { command: ["/bin/echo", "hello"] })))
      const notJson = Either.getOrThrow(result)
      expect(notJson.code).toBe("ALLOWLIST_INVALID")
      expect(notJson.message).toContain(file)
      expect(stderr).toEqual([`[node] system.run refused: ${notJson.message}`])

      yield* writeFile(file, JSON.stringify({ version: 1, allow: "/bin/echo hello" }))
      const badShape = Either.getOrThrow((yield* captured(Effect.flip(run(config, { command: ["/bin/echo", "hello"] })))).result)
      expect(badShape.code).toBe("ALLOWLIST_INVALID")
      expect(badShape.message).toContain(file)
      expect(badShape.message).toContain("allow")

      yield* writeFile(file, JSON.stringify({ version: 1, allow: [["/bin/echo", "hello"]] }))
      const fixed = yield* run(config, { command: ["/bin/echo", "hello"] })
      expect(fixed.stdout).toBe("hello\n")
    })
  )

  it.live("system.run kills a program that outlives its timeout: exit code 124", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { file } = yield* nodeState([["sleep", "5"]])
        const started = Date.now()
        const result = yield* run({ allowlistPath: file }, { command: ["sleep", "5"], timeoutMs: 200 })
        expect(result).toMatchObject({ exitCode: 124, timedOut: true, success: false })
        expect(Date.now() - started).toBeLessThan(2_000)
      })
    )
  )

  it.live("a program that ignores SIGTERM is SIGKILLed after the grace period", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const argv = ["sh", "-c", "trap '' TERM; echo started; sleep 5 & wait; sleep 5"]
        const { file } = yield* nodeState([argv])
        const started = Date.now()
        const result = yield* run({ allowlistPath: file, killGraceMs: 300 }, { command: argv, timeoutMs: 200 })
        expect(result).toMatchObject({ exitCode: 124, timedOut: true, stdout: "started\n" })
        expect(Date.now() - started).toBeLessThan(3_000)
      })
    )
  )

  it.live("output past 1 MiB per stream is cut and marked truncated", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const argv = ["head", "-c", "3000000", "/dev/zero"]
        const { file } = yield* nodeState([argv])
        const result = yield* run({ allowlistPath: file }, { command: argv })
        expect(result.exitCode).toBe(0)
        expect(result.stdout.length).toBe(MAX_OUTPUT_BYTES)
        expect(result.truncated).toBe(true)
      })
    )
  )

  it.scoped("stdin is at end-of-file, the node's environment is passed on, and a signal's exit is 128 + its number", () =>
    Effect.gen(function* () {
      const argvs = [["cat"], ["sh", "-c", 'echo "$PATH"'], ["sh", "-c", "kill -TERM $$"]]
      const { file } = yield* nodeState(argvs)
      const cat = yield* run({ allowlistPath: file }, { command: ["cat"], timeoutMs: 5_000 })
      expect(cat).toEqual({ exitCode: 0, timedOut: false, success: true, stdout: "", stderr: "", error: null, truncated: false })
      const env = yield* run({ allowlistPath: file }, { command: argvs[1] })
      expect(env.stdout).toBe(`${process.env.PATH}\n`)
      const killed = yield* run({ allowlistPath: file }, { command: argvs[2] })
      expect(killed).toMatchObject({ exitCode: 143, timedOut: false, success: false, error: "killed by SIGTERM" })
    })
  )

  it.live("a timeout stops the program's children too (its process group)", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const argv = ["sh", "-c", "sleep 30 & echo $!; wait"]
        const { file } = yield* nodeState([argv])
        const result = yield* run({ allowlistPath: file }, { command: argv, timeoutMs: 300 })
        expect(result).toMatchObject({ exitCode: 124, timedOut: true })
        const grandchild = Number(result.stdout.trim())
        expect(grandchild).toBeGreaterThan(0)
        expect(yield* gone(grandchild)).toBe(true)
      })
    )
  )

  it.live("an interrupted run (the invoke cancelled) stops its program: SIGTERM, then SIGKILL after the grace period", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { file, stateDir } = yield* nodeState()
        const pidFile = path.join(stateDir, "pid")
        const polite = ["sh", "-c", `echo $$ > ${pidFile}.polite; exec sleep 30`]
        const stubborn = ["sh", "-c", `trap '' TERM; echo $$ > ${pidFile}.stubborn; sleep 30 & wait; sleep 30`]
        yield* writeFile(file, JSON.stringify({ version: 1, allow: [polite, stubborn] }))
        const pidOf = (name: string) =>
          Effect.promise(async () => {
            for (const deadline = Date.now() + 5_000; Date.now() < deadline; ) {
              const text = await fs.readFile(`${pidFile}.${name}`, "utf8").catch(() => "")
              if (text.trim() !== "") return Number(text)
              await new Promise((r) => setTimeout(r, 20))
            }
            throw new Error(`the ${name} program did not start`)
          })
        const config = { allowlistPath: file, killGraceMs: 500 }

        const first = yield* Effect.fork(run(config, { command: polite }))
        const politePid = yield* pidOf("polite")
        const t0 = Date.now()
        yield* Fiber.interrupt(first)
        expect(Date.now() - t0).toBeLessThan(400)
        expect(yield* gone(politePid)).toBe(true)

        const second = yield* Effect.fork(run(config, { command: stubborn }))
        const stubbornPid = yield* pidOf("stubborn")
        const t1 = Date.now()
        yield* Fiber.interrupt(second)
        const took = Date.now() - t1
        expect(took).toBeGreaterThanOrEqual(450)
        expect(took).toBeLessThan(2_000)
        expect(yield* gone(stubbornPid)).toBe(true)
      })
    )
  )

  it.scoped("a program that cannot be started has an error and no exit code", () =>
    Effect.gen(function* () {
      const { file, stateDir } = yield* nodeState([["/no/such/program"], ["/bin/echo", "hello"]])
      const missing = yield* run({ allowlistPath: file }, { command: ["/no/such/program"] })
      expect(missing).not.toHaveProperty("exitCode")
      expect(missing).toMatchObject({ timedOut: false, success: false })
      expect(missing.error).toMatch(/ENOENT/)

      const badCwd = yield* run({ allowlistPath: file }, { command: ["/bin/echo", "hello"], cwd: path.join(stateDir, "nope") })
      expect(badCwd.error).toBe(`cwd ${path.join(stateDir, "nope")} does not exist`)
    })
  )

  it.scoped("invalid params and unknown commands are refused with a code and the field", () =>
    Effect.gen(function* () {
      const { file } = yield* nodeState([["uname", "-a"]])
      const config = { allowlistPath: file }

      const asString = yield* Effect.flip(run(config, { command: "uname -a" }))
      expect(asString.code).toBe("INVALID_PARAMS")
      expect(asString.message).toMatch(/command: must be an argv array/)

      const empty = yield* Effect.flip(run(config, { command: [] }))
      expect(empty).toMatchObject({ code: "INVALID_PARAMS" })
      expect(empty.message).toContain("command")

      const missing = yield* Effect.flip(run(config, {}))
      expect(missing.message).toContain("command")

      const timeout = yield* Effect.flip(run(config, { command: ["uname", "-a"], timeoutMs: -5 }))
      expect(timeout.message).toContain("timeoutMs")

      const notJson = yield* Effect.flip(makeDispatcher(config)("system.run", "{oops"))
      expect(notJson).toMatchObject({ code: "INVALID_PARAMS", message: "system.run: invalid params: paramsJSON is not valid JSON" })

      const unknown = yield* Effect.flip(invoke(config, "system.reboot", {}))
      expect(unknown.code).toBe("UNKNOWN_COMMAND")
      expect(unknown.message).toContain("system.reboot")
    })
  )

  it.scoped("system.which answers {bins: {name: path}} for names on PATH only, and refuses anything but a name", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const bin = path.join(dir, "bin")
      yield* writeFile(path.join(bin, "tool"), "#!/bin/sh\n")
      yield* Effect.promise(() => fs.chmod(path.join(bin, "tool"), 0o755))
      yield* writeFile(path.join(bin, "plain"), "not executable")
      yield* Effect.promise(() => fs.mkdir(path.join(bin, "adir")))
      const PATH = ["relative/bin", bin, "/nonexistent"].join(path.delimiter)

      const found = yield* systemWhich({ bins: ["tool", "plain", "adir", "missing", " tool "] }, PATH)
      expect(found).toEqual({ bins: { tool: path.join(bin, "tool") } })

      for (const bad of ["../bin/tool", "/bin/sh", ".", "..", "a b", "x".repeat(129)]) {
        const refused = yield* Effect.flip(systemWhich({ bins: ["tool", bad] }, PATH))
        expect(refused.code).toBe("INVALID_PARAMS")
        expect(refused.message).toMatch(/^system\.which: invalid params: bins\.1: .* is not a program name/)
      }

      const { file } = yield* nodeState()
      const tooMany = yield* Effect.flip(
        invoke({ allowlistPath: file }, "system.which", { bins: Array.from({ length: 65 }, (_, i) => `b${i}`) })
      )
      expect(tooMany).toMatchObject({ code: "INVALID_PARAMS" })
      expect(tooMany.message).toContain("at most 64 names")
      const noBins = yield* Effect.flip(invoke({ allowlistPath: file }, "system.which", {}))
      expect(noBins.message).toContain("bins")
    })
  )

  it.scoped("system.run.prepare answers OpenClaw's plan and the allowlist's verdict, and runs nothing", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const marker = path.join(dir, "ran")
      const argv = ["/usr/bin/touch", marker]
      const { file } = yield* nodeState([argv])
      const config = { allowlistPath: file }

      const prepared: any = yield* invoke(config, "system.run.prepare", {
        command: argv,
        rawCommand: `touch ${marker}`,
        cwd: dir,
        agentId: "main",
        sessionKey: "agent:main:main",
        env: { IGNORED: "1" },
        security: "full",
        ask: "off"
      })
      expect(prepared).toEqual({
        plan: {
          argv,
          cwd: dir,
          commandText: `/usr/bin/touch ${marker}`,
          commandPreview: `touch ${marker}`,
          agentId: "main",
          sessionKey: "agent:main:main"
        },
        execPolicy: { security: "full", ask: "off" },
        allowAlwaysCoverage: { complete: false, patterns: [] },
        allowed: true
      })
      const exists = (f: string) =>
        Effect.promise(() =>
          fs.stat(f).then(
            () => true,
            () => false
          )
        )
      expect(yield* exists(marker)).toBe(false)

      const denied: any = yield* invoke(config, "system.run.prepare", { command: ["/bin/sh", "-lc", "echo hi"] })
      expect(denied.allowed).toBe(false)
      expect(denied.execPolicy).toEqual({ security: "deny", ask: "off" })
      expect(denied.plan.commandText).toBe('/bin/sh -lc "echo hi"')
      expect(denied.reason).toContain("SYSTEM_RUN_DENIED")

      const asString = yield* Effect.flip(invoke(config, "system.run.prepare", { command: "touch x" }))
      expect(asString.message).toMatch(/command: must be an argv array/)

      // system.run with the prepared plan runs it; a plan that is not the command is refused.
      const ran = yield* run(config, { command: argv, systemRunPlan: prepared.plan })
      expect(ran).toMatchObject({ exitCode: 0, success: true })
      expect(yield* exists(marker)).toBe(true)
      const mismatch = yield* Effect.flip(run(config, { command: argv, systemRunPlan: { argv: ["/bin/sh", "-lc", "id"] } }))
      expect(mismatch).toMatchObject({ code: "INVALID_PARAMS" })
      expect(mismatch.message).toContain("systemRunPlan.argv")
    })
  )
})
