import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnGateway } from "../support/cli.js"
import { tempDir, writeConfig } from "../support/gateway.js"

const readJson = (file: string) => Effect.promise(async () => JSON.parse(await fs.readFile(file, "utf8")))

/** A TCP listener that counts every connection made to it: proof that nothing was sent. */
const connectionCounter = Effect.acquireRelease(
  Effect.async<{ port: number; count: () => number; server: net.Server }>((resume) => {
    let count = 0
    const server = net.createServer((s) => {
      count++
      s.destroy()
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({ port: (server.address() as net.AddressInfo).port, count: () => count, server }))
    )
  }),
  ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
)

describe("the CLI against a real Gateway process", () => {
  it.scopedLive("first start generates and prints a token once; the local CLI then needs no flags", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const env = { CLAWGATE_STATE_DIR: dir }
      const gw = yield* spawnGateway(["--port", "0"], env)
      const banner = gw.output()
      const saved = yield* readJson(path.join(dir, "clawgate.json"))
      const token: string = saved.gateway.auth.token
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(banner).toContain(token)
      expect(banner).toContain("npx clawgate health")
      expect((yield* Effect.promise(() => fs.stat(path.join(dir, "clawgate.json")))).mode & 0o777).toBe(0o600)

      // The local CLI reads the port from the env and the token from the config.
      const health = yield* runCli(["health"], { ...env, CLAWGATE_GATEWAY_PORT: String(gw.port) })
      expect(health.stderr).toBe("")
      expect(health.code).toBe(0)
      expect(health.stdout).toMatch(/healthy/)
      const asJson = yield* runCli(["gateway", "health", "--json"], { ...env, CLAWGATE_GATEWAY_PORT: String(gw.port) })
      expect(JSON.parse(asJson.stdout).health.ok).toBe(true)

      // SIGTERM: graceful stop, exit 0, and the token is in no log line.
      expect(yield* Effect.promise(() => gw.stop())).toBe(0)
      const log = yield* Effect.promise(() => fs.readFile(path.join(dir, "logs", "gateway.log"), "utf8"))
      expect(log).toContain("gateway stopped")
      expect(log).not.toContain(token)
      const console = gw.output().replace(banner, "")
      expect(console).not.toContain(token)

      // Second start: the stored token is used, no banner.
      const again = yield* spawnGateway(["--port", "0"], env)
      expect(again.output()).not.toContain(token)
      expect(again.output()).not.toContain("generated")
      expect(yield* Effect.promise(() => again.stop("SIGINT"))).toBe(0)
    })
  )

  it.scopedLive("remote mode set with one `config set` sends status --deep to gateway.remote.url", () =>
    Effect.gen(function* () {
      const serverDir = yield* tempDir()
      yield* writeConfig(serverDir, { gateway: { auth: { token: "server-token-1234567890" } } })
      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: serverDir })

      const clientDir = yield* tempDir()
      const env = { CLAWGATE_STATE_DIR: clientDir }
      const set = yield* runCli(
        ["config", "set", "gateway.mode", "remote", "gateway.remote.url", gw.url, "gateway.remote.token", "server-token-1234567890"],
        env
      )
      expect(set.stderr).toBe("")
      expect(set.code).toBe(0)
      const status = yield* runCli(["status", "--deep", "--json"], env)
      expect(status.code).toBe(0)
      const report = JSON.parse(status.stdout)
      expect(report.target).toMatchObject({
        url: gw.url,
        urlSource: "gateway.remote.url",
        mode: "remote",
        authSource: "gateway.remote.token"
      })
      expect(report.reachable).toBe(true)
      expect(report.status.gateway.port).toBe(gw.port)
      expect(report.health.ok).toBe(true)
      expect(report.presence.length).toBeGreaterThanOrEqual(2)
      const human = yield* runCli(["status", "--deep"], env)
      expect(human.stdout).toContain(`Target:    ${gw.url} (gateway.remote.url)`)
      expect(human.stdout).toMatch(/Health: +ok/)
      const get = yield* runCli(["config", "get", "gateway.remote.token"], env)
      expect(get.stdout.trim()).toBe("__CLAWGATE_REDACTED__")
    })
  )

  it.scopedLive("gateway call with --url and --token prints JSON; exit codes are ones scripts can trust", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: "call-token-abcdefghijk" } } })
      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      const other = yield* tempDir()
      const env = { CLAWGATE_STATE_DIR: other }

      const ok = yield* runCli(["gateway", "call", "status", "--url", gw.url, "--token", "call-token-abcdefghijk", "--json"], env)
      expect(ok.code).toBe(0)
      expect(JSON.parse(ok.stdout).gateway.port).toBe(gw.port)

      const params = yield* runCli(
        ["gateway", "call", "logs.tail", "--params", '{"limit":5}', "--url", gw.url, "--token", "call-token-abcdefghijk", "--json"],
        env
      )
      expect(params.code).toBe(0)
      expect(JSON.parse(params.stdout).lines.length).toBeLessThanOrEqual(5)

      const wrong = yield* runCli(["gateway", "call", "status", "--url", gw.url, "--token", "wrong"], env)
      expect(wrong.code).toBe(4)
      expect(wrong.stderr).toContain(`${gw.url} (from --url) refused the connection: unauthorized: gateway token mismatch`)

      const unknown = yield* runCli(
        ["gateway", "call", "no.such.method", "--url", gw.url, "--token", "call-token-abcdefghijk", "--json"],
        env
      )
      expect(unknown.code).toBe(1)
      expect(JSON.parse(unknown.stdout).error.message).toBe("unknown method: no.such.method")

      const badParams = yield* runCli(["gateway", "call", "status", "--params", "{nope", "--url", gw.url, "--token", "x"], env)
      expect(badParams.code).toBe(2)
      expect(badParams.stderr).toMatch(/--params is not valid JSON/)

      yield* Effect.promise(() => gw.stop())
      const down = yield* runCli(["gateway", "health", "--url", gw.url, "--token", "call-token-abcdefghijk"], env)
      expect(down.code).toBe(3)
      expect(down.stderr).toMatch(/cannot reach the Gateway at ws:\/\/127\.0\.0\.1:\d+ \(from --url\): ECONNREFUSED/)
      const status = yield* runCli(["gateway", "status", "--url", gw.url, "--token", "x"], env)
      expect(status.code).toBe(3)
      expect(status.stdout).toMatch(/Reachable: no/)
    })
  )

  it.scopedLive("--url without --token/--password fails before any socket is opened, even with credentials in config and env", () =>
    Effect.gen(function* () {
      const counter = yield* connectionCounter
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: "config-token-xyz" }, remote: { token: "remote-token-xyz" } } })
      const env = { CLAWGATE_STATE_DIR: dir, CLAWGATE_GATEWAY_TOKEN: "env-token-xyz" }
      const res = yield* runCli(["gateway", "call", "health", "--url", `ws://127.0.0.1:${counter.port}`], env)
      expect(res.code).toBe(2)
      expect(res.stderr).toContain("--url needs --token or --password")
      const health = yield* runCli(["health", "--url", `ws://127.0.0.1:${counter.port}`, "--json"], env)
      expect(health.code).toBe(2)
      expect(JSON.parse(health.stdout).error.kind).toBe("Target")
      expect(counter.count()).toBe(0)
    })
  )

  it.scopedLive("plain ws:// to a LAN address is refused before connecting unless --allow-insecure", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const res = yield* runCli(["health", "--url", "ws://192.168.77.20:18789", "--token", "t"], { CLAWGATE_STATE_DIR: dir })
      expect(res.code).toBe(2)
      expect(res.stderr).toMatch(/refusing plain ws:\/\/ to 192\.168\.77\.20:18789 \(--url\)/)
    })
  )

  it.scopedLive("bad config and bad flags: a clear message naming the thing to fix, non-zero exit, nothing lost", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { port: "eighty", auth: { token: "keep-me-1234567890" } } })
      const before = yield* Effect.promise(() => fs.readFile(path.join(dir, "clawgate.json"), "utf8"))
      const run = yield* runCli(["gateway", "run", "--port", "0"], { CLAWGATE_STATE_DIR: dir })
      expect(run.code).toBe(2)
      expect(run.stderr).toContain('gateway.port: must be number (got "eighty")')
      const set = yield* runCli(["config", "set", "gateway.bind", "moon"], { CLAWGATE_STATE_DIR: dir })
      expect(set.code).toBe(2)
      expect(set.stderr).toMatch(/gateway\.bind: must be one of "loopback"/)
      expect(yield* Effect.promise(() => fs.readFile(path.join(dir, "clawgate.json"), "utf8"))).toBe(before)

      const lan = yield* runCli(["gateway", "run", "--port", "0", "--bind", "lan"], { CLAWGATE_STATE_DIR: yield* tempDir() })
      expect(lan.code).toBe(2)
      expect(lan.stderr).toMatch(/refusing to bind 0\.0\.0\.0 .* without authentication/)

      const bind = yield* runCli(["gateway", "run", "--bind", "moon"], { CLAWGATE_STATE_DIR: dir })
      expect(bind.code).not.toBe(0)
      expect(bind.stdout + bind.stderr).toMatch(/moon/)

      const envPort = yield* runCli(["health"], { CLAWGATE_STATE_DIR: yield* tempDir(), CLAWGATE_GATEWAY_PORT: "http" })
      expect(envPort.code).toBe(2)
      expect(envPort.stderr).toMatch(/CLAWGATE_GATEWAY_PORT must be a port number/)
    })
  )

  it.scopedLive("a port already in use is reported with the settings that chose it", () =>
    Effect.gen(function* () {
      const counter = yield* connectionCounter
      const dir = yield* tempDir()
      const res = yield* runCli(["gateway", "run"], { CLAWGATE_STATE_DIR: dir, CLAWGATE_GATEWAY_PORT: String(counter.port) })
      expect(res.code).toBe(2)
      expect(res.stderr).toContain(`port ${counter.port} on 127.0.0.1 is already in use`)
      expect(res.stderr).toContain("now from CLAWGATE_GATEWAY_PORT")
      // A failed start stores no token that nobody saw.
      const exists = yield* Effect.promise(() =>
        fs.access(path.join(dir, "clawgate.json")).then(
          () => true,
          () => false
        )
      )
      expect(exists).toBe(false)
    })
  )
})
