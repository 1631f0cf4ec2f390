/**
 * Files and secrets, through the CLI a user runs: the Gateway takes its
 * state back to 0600/0700 at start, never writes its log through a symbolic
 * link, and takes secrets from files so they stay out of the process list;
 * a TLS pin mismatch stops every client at once.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnGateway } from "../support/cli.js"
import { tempDir, writeConfig } from "../support/gateway.js"

const TOKEN = "files-token-0123456789abcdef"
const mode = (p: string) => Effect.promise(() => fs.lstat(p).then((s) => s.mode & 0o777))

describe("the Gateway's files", () => {
  it.scopedLive("config, state dir and the files in it are tightened to 0600/0700 at start, and the log says what changed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: TOKEN } } })
      const config = path.join(dir, "clawgate.json")
      yield* Effect.promise(async () => {
        await fs.mkdir(path.join(dir, "identity"))
        await fs.writeFile(path.join(dir, "identity", "device.json"), "{}")
        await fs.chmod(path.join(dir, "identity", "device.json"), 0o644)
        await fs.chmod(path.join(dir, "identity"), 0o755)
        await fs.chmod(config, 0o644)
        await fs.chmod(dir, 0o755)
      })
      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      expect(yield* mode(dir)).toBe(0o700)
      expect(yield* mode(config)).toBe(0o600)
      expect(yield* mode(path.join(dir, "identity"))).toBe(0o700)
      expect(yield* mode(path.join(dir, "identity", "device.json"))).toBe(0o600)
      expect(gw.output()).toContain(`tightened ${config} from 0644 to 0600 (it was readable or writable by other users)`)
      expect(gw.output()).toContain(`tightened ${dir} from 0755 to 0700`)
      // The database and the log it created are private from the first byte.
      expect(yield* mode(path.join(dir, "logs", "gateway.log"))).toBe(0o600)
      expect(yield* mode(path.join(dir, "clawgate.sqlite"))).toBe(0o600)
    })
  )

  it.scopedLive("a symbolic link at logs/gateway.log stops the start with a clear message; its target is untouched", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const elsewhere = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: TOKEN } } })
      const victim = path.join(elsewhere, "victim.txt")
      yield* Effect.promise(async () => {
        await fs.writeFile(victim, "precious\n")
        await fs.mkdir(path.join(dir, "logs"), { mode: 0o700 })
        await fs.symlink(victim, path.join(dir, "logs", "gateway.log"))
      })
      const res = yield* runCli(["gateway", "run", "--port", "0"], { CLAWGATE_STATE_DIR: dir })
      expect(res.code).toBe(2)
      expect(res.stderr).toContain(
        `refusing to write the log through a symbolic link: ${path.join(dir, "logs", "gateway.log")} points to ${victim}. Remove the link`
      )
      expect(yield* Effect.promise(() => fs.readFile(victim, "utf8"))).toBe("precious\n")
      // A symlinked logs/ directory is refused the same way.
      yield* Effect.promise(async () => {
        await fs.rm(path.join(dir, "logs"), { recursive: true })
        await fs.symlink(elsewhere, path.join(dir, "logs"))
      })
      const dirLink = yield* runCli(["gateway", "run", "--port", "0"], { CLAWGATE_STATE_DIR: dir })
      expect(dirLink.code).toBe(2)
      expect(dirLink.stderr).toContain(`refusing to write the log through a symbolic link: ${path.join(dir, "logs")} is a symbolic link`)
      expect(yield* Effect.promise(() => fs.readdir(elsewhere))).toEqual(["victim.txt"])
    })
  )
})

describe("secrets stay out of the process list", () => {
  it.scopedLive("gateway run and client commands take --token-file; the token is not in the command line", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, {})
      const tokenFile = path.join(dir, "token")
      yield* Effect.promise(() => fs.writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 }))
      const gw = yield* spawnGateway(["--port", "0", "--token-file", tokenFile], { CLAWGATE_STATE_DIR: dir })
      const cmdline = yield* Effect.promise(() => fs.readFile(`/proc/${gw.child.pid}/cmdline`, "utf8"))
      expect(cmdline).toContain("--token-file")
      expect(cmdline).not.toContain(TOKEN)
      const other = yield* tempDir()
      const ok = yield* runCli(["health", "--url", gw.url, "--token-file", tokenFile, "--json"], { CLAWGATE_STATE_DIR: other })
      expect([ok.code, JSON.parse(ok.stdout).health.ok]).toEqual([0, true])
      // The environment works too, and is not in the process list either.
      const env = yield* runCli(["health", "--json"], {
        CLAWGATE_STATE_DIR: other,
        CLAWGATE_GATEWAY_TOKEN: TOKEN,
        CLAWGATE_GATEWAY_PORT: String(gw.port)
      })
      expect(env.code).toBe(0)
    })
  )

  it.scopedLive("a bad token file or both forms at once are usage errors naming the file; --token on gateway run warns", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, {})
      const empty = path.join(dir, "empty")
      yield* Effect.promise(() => fs.writeFile(empty, "\n", { mode: 0o600 }))
      const res = yield* runCli(["gateway", "run", "--port", "0", "--token-file", empty], { CLAWGATE_STATE_DIR: dir })
      expect([res.code, res.stderr.trim()]).toEqual([2, `error: --token-file ${empty}: cannot use it: it is empty`])
      const missing = yield* runCli(["health", "--url", "ws://127.0.0.1:1", "--token-file", path.join(dir, "nope")], {
        CLAWGATE_STATE_DIR: dir
      })
      expect(missing.code).toBe(2)
      expect(missing.stderr).toContain(`--token-file ${path.join(dir, "nope")}: cannot use it: ENOENT`)
      const both = yield* runCli(["health", "--url", "ws://127.0.0.1:1", "--token", "x", "--token-file", empty], {
        CLAWGATE_STATE_DIR: dir
      })
      expect([both.code, both.stderr.trim()]).toEqual([2, "error: --token and --token-file both given: use one of them"])
      const gw = yield* spawnGateway(["--port", "0", "--token", TOKEN], { CLAWGATE_STATE_DIR: dir })
      expect(gw.output()).toContain(
        "warning: --token on the command line is visible to other local users (ps); prefer --token-file or CLAWGATE_GATEWAY_TOKEN"
      )
    })
  )
})

describe("a TLS pin mismatch is final", () => {
  it.scopedLive("node run with a wrong --tls-fingerprint stops after one attempt with both fingerprints, exit 4", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: TOKEN }, tls: { enabled: true } } })
      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      const real = /sha256:([0-9a-f]{64})/.exec(gw.output())![1]
      const nodeDir = yield* tempDir()
      const wrong = "00".repeat(32)
      const node = yield* runCli(
        ["node", "run", "--url", gw.url, "--token", TOKEN, "--tls-fingerprint", `sha256:${wrong}`],
        { CLAWGATE_STATE_DIR: nodeDir },
        15_000
      )
      expect(node.code).toBe(4)
      expect(node.stderr).toContain(`expected sha256:${wrong}`)
      expect(node.stderr).toContain(`server presented sha256:${real}`)
      expect(node.stderr).not.toContain("retry in")
      expect(node.stderr.match(/connecting to /g)).toHaveLength(1)
    })
  )
})
