/**
 * The CLI as a user runs it: `node bin/clawgate.mjs ...` as a child process
 * (the bundle built by `npm run build`, which `npm test` runs first).
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, type Scope } from "effect"

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../bin/clawgate.mjs")

export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const baseEnv = (env: Record<string, string>) => {
  const clean: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && ((!k.startsWith("CLAWGATE_") && !k.startsWith("OPENCLAW_")) || k === "CLAWGATE_COMPILE_CACHE")) clean[k] = v
  }
  return { ...clean, ...env }
}

export const runCli = (args: ReadonlyArray<string>, env: Record<string, string>, timeoutMs = 20_000) =>
  Effect.promise(
    () =>
      new Promise<CliResult>((resolve) => {
        const child = spawn(process.execPath, [BIN, ...args], { env: baseEnv(env), stdio: ["ignore", "pipe", "pipe"] })
        let stdout = ""
        let stderr = ""
        child.stdout.on("data", (d) => (stdout += d))
        child.stderr.on("data", (d) => (stderr += d))
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
        child.on("close", (code) => {
          clearTimeout(timer)
          resolve({ code, stdout, stderr })
        })
      })
  )

export interface GatewayProcess {
  readonly child: ChildProcess
  readonly port: number
  readonly url: string
  readonly output: () => string
  /** Sends SIGTERM and resolves with the exit code. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

/** Runs `clawgate gateway run ...` and waits for its ready line; SIGKILLed with the scope if still running. */
export const spawnGateway = (
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  /** Global flags before the command, e.g. `["--profile", "work"]`. */
  globalArgs: ReadonlyArray<string> = []
): Effect.Effect<GatewayProcess, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<GatewayProcess, Error>((resume) => {
      const child = spawn(process.execPath, [BIN, ...globalArgs, "gateway", "run", ...args], {
        env: baseEnv(env),
        stdio: ["ignore", "pipe", "pipe"]
      })
      let out = ""
      let done = false
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)))
      const onData = (d: Buffer) => {
        out += d.toString()
        const m = /ready on (wss?):\/\/127\.0\.0\.1:(\d+)/.exec(out)
        if (m && !done) {
          done = true
          const port = Number(m[2])
          resume(
            Effect.succeed({
              child,
              port,
              url: `${m[1]}://127.0.0.1:${port}`,
              output: () => out,
              stop: (signal = "SIGTERM") => {
                if (child.exitCode === null) child.kill(signal)
                return exited
              }
            })
          )
        }
      }
      child.stdout!.on("data", onData)
      child.stderr!.on("data", onData)
      child.on("exit", (code) => {
        if (!done) {
          done = true
          resume(Effect.fail(new Error(`gateway exited with ${code} before it was ready:\n${out}`)))
        }
      })
    }),
    (gw) => Effect.sync(() => void (gw.child.exitCode === null && gw.child.kill("SIGKILL")))
  )

export interface CliProcess {
  readonly child: ChildProcess
  /** Everything it printed so far, stdout and stderr together. */
  readonly output: () => string
  readonly stdout: () => string
  /** Resolves with the first match of `re` in its output (a positive signal); rejects if it exits first or after `timeoutMs`. */
  readonly waitFor: (re: RegExp, timeoutMs?: number) => Promise<RegExpExecArray>
  /** Resolves with its exit code (or the signal) once it has exited. */
  readonly exited: Promise<number | string | null>
}

/** Runs a long-lived command (`dashboard --ssh`, `tunnel`); SIGKILLed with the scope if still running. */
export const spawnCli = (args: ReadonlyArray<string>, env: Record<string, string>): Effect.Effect<CliProcess, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, [BIN, ...args], { env: baseEnv(env), stdio: ["ignore", "pipe", "pipe"] })
      let out = ""
      let stdout = ""
      const waiters = new Set<() => void>()
      const wake = () => {
        for (const w of waiters) w()
      }
      child.stdout!.on("data", (d) => {
        out += d
        stdout += d
        wake()
      })
      child.stderr!.on("data", (d) => {
        out += d
        wake()
      })
      const exited = new Promise<number | string | null>((resolve) =>
        child.on("exit", (code, signal) => {
          wake()
          resolve(code ?? signal)
        })
      )
      const waitFor = (re: RegExp, timeoutMs = 20_000) =>
        new Promise<RegExpExecArray>((resolve, reject) => {
          const check = () => {
            const m = re.exec(out)
            if (m) return done(() => resolve(m))
            if (child.exitCode !== null || child.signalCode !== null) done(() => reject(new Error(`exited before ${re}:\n${out}`)))
          }
          const timer = setTimeout(() => done(() => reject(new Error(`no ${re} within ${timeoutMs} ms in:\n${out}`))), timeoutMs)
          const done = (f: () => void) => {
            clearTimeout(timer)
            waiters.delete(check)
            f()
          }
          waiters.add(check)
          check()
        })
      return { child, output: () => out, stdout: () => stdout, waitFor, exited }
    }),
    (p) => Effect.sync(() => void (p.child.exitCode === null && p.child.signalCode === null && p.child.kill("SIGKILL")))
  )
