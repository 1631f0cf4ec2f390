/** A real `clawgate node run` process for tests, with its own state dir and exec allowlist. */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect } from "effect"
import { BIN } from "./cli.js"
import { tempDir } from "./gateway.js"

export interface NodeProcess {
  readonly child: ChildProcess
  readonly output: () => string
  readonly waitFor: (re: RegExp, timeoutMs?: number) => Promise<RegExpExecArray>
}

/** Starts `clawgate node run` with its own state dir (its own device identity and allowlist). */
export const spawnNode = (url: string, name: string, allow: Array<Array<string>>, extraArgs: Array<string>) =>
  Effect.gen(function* () {
    const dir = yield* tempDir("clawgate-node-")
    yield* Effect.promise(() => fs.mkdir(path.join(dir, "node"), { recursive: true }))
    yield* Effect.promise(() => fs.writeFile(path.join(dir, "node", "exec-allowlist.json"), JSON.stringify({ version: 1, allow })))
    return yield* Effect.acquireRelease(
      Effect.sync((): NodeProcess => {
        const env: Record<string, string> = {}
        for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("CLAWGATE_")) env[k] = v
        const child = spawn(process.execPath, [BIN, "node", "run", "--url", url, "--name", name, ...extraArgs], {
          env: { ...env, CLAWGATE_STATE_DIR: dir },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let out = ""
        const waiters: Array<() => void> = []
        const onData = (d: Buffer) => {
          out += d.toString()
          for (const w of waiters.splice(0)) w()
        }
        child.stdout!.on("data", onData)
        child.stderr!.on("data", onData)
        const waitFor = async (re: RegExp, timeoutMs = 15_000) => {
          const deadline = Date.now() + timeoutMs
          for (;;) {
            const m = re.exec(out)
            if (m) return m
            if (Date.now() > deadline) throw new Error(`node ${name}: timed out waiting for ${re}; output:\n${out}`)
            await new Promise<void>((r) => {
              const t = setTimeout(r, 200)
              waiters.push(() => {
                clearTimeout(t)
                r()
              })
            })
          }
        }
        return { child, output: () => out, waitFor }
      }),
      (n) => Effect.sync(() => void (n.child.exitCode === null && n.child.kill("SIGKILL")))
    )
  })
