import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Redacted } from "effect"
import { resolvePort, planBind, isLoopbackAddress, isTailnetIPv4 } from "../../src/config/bind.js"
import { redact, validateConfig } from "../../src/config/schema.js"
import { normalizeFingerprint, resolveTarget, type Target } from "../../src/config/target.js"
import { scopesFor } from "../../src/protocol/methods.js"
import { makeConfigFile, resolveEnv, resolvePaths } from "../../src/layers/ConfigFile.js"
import { configGet, configSet, configUnset, coerceValue } from "../../src/programs/config.js"
import { ConfigStore } from "../../src/services/Config.js"
import { tempDir } from "../support/gateway.js"

const issues = (raw: unknown) => Either.match(validateConfig(raw), { onLeft: (i) => i, onRight: () => [] })

describe("config validation", () => {
  it("names the path and what is allowed, one line per key", () => {
    expect(issues({ gateway: { bind: "everywhere", prot: 1 } })).toEqual([
      { path: "gateway.prot", message: "is not a known setting" },
      { path: "gateway.bind", message: 'must be one of "loopback", "lan", "tailnet", "custom", "auto" (got "everywhere")' }
    ])
    expect(issues({ gateway: { port: 70000 } })).toEqual([{ path: "gateway.port", message: "must be a port number from 1 to 65535" }])
    expect(issues({ gateway: { auth: { mode: "foo", token: 5 } } })).toEqual([
      { path: "gateway.auth.mode", message: 'must be one of "token", "password", "none" (got "foo")' },
      { path: "gateway.auth.token", message: "must be string (got 5)" }
    ])
    expect(issues({ gatway: {} })).toEqual([{ path: "gatway", message: "is not a known setting" }])
    expect(issues({ gateway: { port: 18789, bind: "loopback", auth: { token: "x" } } })).toEqual([])
  })

  it("redacts secrets at any depth", () => {
    expect(redact({ gateway: { auth: { token: "t", password: "p", mode: "token" }, remote: { token: "r", url: "u" } } })).toEqual({
      gateway: {
        auth: { token: "__CLAWGATE_REDACTED__", password: "__CLAWGATE_REDACTED__", mode: "token" },
        remote: { token: "__CLAWGATE_REDACTED__", url: "u" }
      }
    })
  })
})

describe("paths and environment", () => {
  it("CLAWGATE_CONFIG_PATH, else CLAWGATE_STATE_DIR/clawgate.json, else ~/.clawgate/clawgate.json", () => {
    expect(resolvePaths({}, "/home/u")).toEqual({
      configPath: "/home/u/.clawgate/clawgate.json",
      stateDir: "/home/u/.clawgate",
      configPathSource: "default"
    })
    expect(resolvePaths({ CLAWGATE_STATE_DIR: "/srv/cg" }, "/home/u").configPath).toBe("/srv/cg/clawgate.json")
    expect(resolvePaths({ CLAWGATE_STATE_DIR: "/srv/cg", CLAWGATE_CONFIG_PATH: "/etc/cg.json5" }, "/home/u")).toEqual({
      configPath: "/etc/cg.json5",
      stateDir: "/srv/cg",
      configPathSource: "CLAWGATE_CONFIG_PATH"
    })
  })

  it("CLAWGATE_GATEWAY_* win over OPENCLAW_GATEWAY_* fallbacks", () => {
    expect(resolveEnv({ OPENCLAW_GATEWAY_TOKEN: "oc", OPENCLAW_GATEWAY_PORT: "1" })).toEqual({
      port: { value: "1", name: "OPENCLAW_GATEWAY_PORT" },
      token: { value: "oc", name: "OPENCLAW_GATEWAY_TOKEN" },
      password: undefined
    })
    expect(resolveEnv({ OPENCLAW_GATEWAY_TOKEN: "oc", CLAWGATE_GATEWAY_TOKEN: "cg" }).token).toEqual({
      value: "cg",
      name: "CLAWGATE_GATEWAY_TOKEN"
    })
  })

  it("port precedence: --port > env > gateway.port > 18789, with bad values named", () => {
    const env = resolveEnv({ CLAWGATE_GATEWAY_PORT: "20000" })
    const cfg = { gateway: { port: 30000 } }
    expect(resolvePort(1234, env, cfg)).toEqual({ port: 1234, source: "--port" })
    expect(resolvePort(undefined, env, cfg)).toEqual({ port: 20000, source: "CLAWGATE_GATEWAY_PORT" })
    expect(resolvePort(undefined, {}, cfg)).toEqual({ port: 30000, source: "gateway.port" })
    expect(resolvePort(undefined, {}, {})).toEqual({ port: 18789, source: "default" })
    expect(() => resolvePort(undefined, resolveEnv({ CLAWGATE_GATEWAY_PORT: "http" }), {})).toThrow(
      /CLAWGATE_GATEWAY_PORT must be a port number/
    )
  })

  it("bind modes", () => {
    expect(planBind("loopback", {}).hosts).toEqual(["127.0.0.1", "::1"])
    expect(planBind("lan", {}).hosts).toEqual(["0.0.0.0"])
    expect(planBind("custom", { gateway: { customBindHost: "127.0.0.5" } })).toMatchObject({ hosts: ["127.0.0.5"], loopbackOnly: true })
    expect(() => planBind("custom", {})).toThrow(/gateway.customBindHost is not set/)
    expect(() => planBind("tailnet", {}, { eth0: [{ address: "192.168.1.2", family: "IPv4" } as never] })).toThrow(
      /no Tailscale IPv4 address/
    )
    expect(planBind("tailnet", {}, { ts0: [{ address: "100.101.102.103", family: "IPv4" } as never] }).hosts).toEqual(["100.101.102.103"])
    expect(isTailnetIPv4("100.63.0.1")).toBe(false)
    expect(isLoopbackAddress("::ffff:127.0.0.1")).toBe(true)
    expect(isLoopbackAddress("10.0.0.1")).toBe(false)
  })
})

/** A target with its credentials revealed, to compare with what was configured. */
const revealed = (t: Target) => ({
  ...t,
  token: t.token && Redacted.value(t.token),
  password: t.password && Redacted.value(t.password)
})
const resolved = (...args: Parameters<typeof resolveTarget>) => revealed(resolveTarget(...args))

describe("client target resolution", () => {
  const env = resolveEnv({ CLAWGATE_GATEWAY_TOKEN: "env-token" })
  const cfg = {
    gateway: { auth: { token: "auth-token" }, remote: { url: "wss://gw.example:443", token: "remote-token" } }
  } as const

  it("--url never falls back to config or env credentials", () => {
    expect(() => resolveTarget({ url: "ws://127.0.0.1:1" }, cfg, env)).toThrow(/--url needs --token or --password/)
    const t = resolved({ url: "ws://127.0.0.1:1", token: "flag" }, cfg, env)
    expect(t).toMatchObject({ url: "ws://127.0.0.1:1", urlSource: "--url", token: "flag", authSource: "--token" })
  })

  it("local mode: env token > gateway.auth.token > gateway.remote.token", () => {
    expect(resolved({}, cfg, env)).toMatchObject({ url: "ws://127.0.0.1:18789", mode: "local", token: "env-token" })
    expect(resolved({}, cfg, {})).toMatchObject({ token: "auth-token", authSource: "gateway.auth.token" })
    expect(resolved({}, { gateway: { remote: { token: "r" } } }, {})).toMatchObject({ token: "r" })
    expect(resolved({}, { gateway: { port: 20001 } }, {})).toMatchObject({
      url: "ws://127.0.0.1:20001",
      urlSource: "local (port from gateway.port)"
    })
  })

  it("remote mode: gateway.remote.token > env > gateway.auth.token; no URL is an error naming gateway.remote.url", () => {
    const remote = { gateway: { ...cfg.gateway, mode: "remote" as const } }
    expect(resolved({}, remote, env)).toMatchObject({
      url: "wss://gw.example:443",
      token: "remote-token",
      authSource: "gateway.remote.token"
    })
    expect(resolved({ token: "flag" }, remote, env)).toMatchObject({ token: "flag" })
    expect(() => resolveTarget({}, { gateway: { mode: "remote" } }, env)).toThrow(/gateway\.remote\.url is not set/)
  })

  it("plain ws:// to a non-loopback host is refused unless the user opts in", () => {
    expect(() => resolveTarget({ url: "ws://192.168.1.20:18789", token: "t" }, {}, {})).toThrow(/refusing plain ws:\/\/ to 192\.168\.1\.20/)
    expect(resolved({ url: "ws://192.168.1.20:18789", token: "t", allowInsecure: true }, {}, {}).url).toBe("ws://192.168.1.20:18789")
    expect(resolved({ url: "ws://[::1]:18789", token: "t" }, {}, {}).url).toBe("ws://[::1]:18789")
    expect(() => resolveTarget({ url: "http://127.0.0.1:1", token: "t" }, {}, {})).toThrow(/must start with ws:\/\/ or wss:\/\//)
    expect(() => resolveTarget({ url: "ws://127.0.0.1:1/?token=x", token: "t" }, {}, {})).toThrow(/query string/)
  })

  it("normalises fingerprints", () => {
    expect(normalizeFingerprint("sha256:AB:cd:EF")).toBe("abcdef")
    expect(normalizeFingerprint(" ab cd-ef ")).toBe("abcdef")
  })
})

describe("least-privilege scopes for a command", () => {
  it("asks only for what the methods need", () => {
    expect(scopesFor(["health"])).toEqual(["operator.read"])
    expect(scopesFor(["status", "health", "system-presence"])).toEqual(["operator.read"])
    expect(scopesFor(["send", "status"])).toEqual(["operator.write"])
    expect(scopesFor(["device.pair.list"])).toEqual(["operator.pairing"])
    expect(scopesFor(["config.set"])).toEqual(["operator.admin"])
    expect(scopesFor(["some.plugin.method"])).toEqual(["operator.admin"])
  })
})

describe("config file service", () => {
  const withFile = (dir: string) => makeConfigFile({ CLAWGATE_STATE_DIR: dir })

  it.scoped("set takes several pairs, coerces values by the schema, and writes 0600 atomically", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const config = yield* withFile(dir)
      yield* configSet([
        "gateway.mode",
        "remote",
        "gateway.remote.url",
        "ws://127.0.0.1:18789",
        "gateway.remote.token",
        "12345",
        "gateway.port",
        "18790"
      ]).pipe(Effect.provideService(ConfigStore, config))
      const file = path.join(dir, "clawgate.json")
      const saved = JSON.parse(yield* Effect.promise(() => fs.readFile(file, "utf8")))
      expect(saved).toEqual({ gateway: { mode: "remote", remote: { url: "ws://127.0.0.1:18789", token: "12345" }, port: 18790 } })
      expect((yield* Effect.promise(() => fs.stat(file))).mode & 0o777).toBe(0o600)
      expect(yield* Effect.promise(() => fs.readdir(dir))).toEqual(["clawgate.json"])
      const got = yield* configGet("gateway.remote.token", false).pipe(Effect.provideService(ConfigStore, config))
      expect(got.value).toBe("__CLAWGATE_REDACTED__")
      const shown = yield* configGet("gateway.remote.token", true).pipe(Effect.provideService(ConfigStore, config))
      expect(shown.value).toBe("12345")
      const unset = yield* configUnset(["gateway.port", "gateway.tailscale"]).pipe(Effect.provideService(ConfigStore, config))
      expect(unset).toMatchObject({ unset: ["gateway.port"], notSet: ["gateway.tailscale"] })
    })
  )

  it.scoped("an invalid change is refused with the key named, and the file is left as it was", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = path.join(dir, "clawgate.json")
      const original = "// my settings\n{ gateway: { port: 18790 } }\n"
      yield* Effect.promise(() => fs.writeFile(file, original))
      const config = yield* withFile(dir)
      const bad = yield* configSet(["gateway.bind", "everywhere"]).pipe(Effect.provideService(ConfigStore, config), Effect.flip)
      expect(bad.message).toMatch(/gateway\.bind: must be one of "loopback"/)
      const unknown = yield* configSet(["gateway.prot", "1"]).pipe(Effect.provideService(ConfigStore, config), Effect.flip)
      expect(unknown.message).toMatch(/gateway\.prot: is not a known setting/)
      const odd = yield* configSet(["gateway.port"]).pipe(Effect.provideService(ConfigStore, config), Effect.flip)
      expect(odd.message).toMatch(/"gateway.port" has no value/)
      expect(yield* Effect.promise(() => fs.readFile(file, "utf8"))).toBe(original)
    })
  )

  it.scoped("a file that is not JSON5 is reported with its path and never overwritten", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = path.join(dir, "clawgate.json")
      yield* Effect.promise(() => fs.writeFile(file, "{ gateway: { port: 1 "))
      const config = yield* withFile(dir)
      const err = yield* configSet(["gateway.port", "2"]).pipe(Effect.provideService(ConfigStore, config), Effect.flip)
      expect(err.message).toContain(file)
      expect(err.message).toMatch(/not valid JSON5/)
      expect(yield* Effect.promise(() => fs.readFile(file, "utf8"))).toBe("{ gateway: { port: 1 ")
    })
  )

  it.scoped("current re-reads the file only when it changed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const file = path.join(dir, "clawgate.json")
      yield* Effect.promise(() => fs.writeFile(file, JSON.stringify({ gateway: { port: 1000 } })))
      const config = yield* withFile(dir)
      expect((yield* config.current).gateway?.port).toBe(1000)
      yield* Effect.promise(() => fs.writeFile(file, JSON.stringify({ gateway: { port: 2000, bind: "lan" } })))
      expect((yield* config.current).gateway?.port).toBe(2000)
    })
  )

  it("coerceValue keeps text where the schema wants text", () => {
    expect(coerceValue({}, ["gateway", "port"], "18790")).toBe(18790)
    expect(coerceValue({}, ["gateway", "auth", "token"], "12345")).toBe("12345")
    expect(coerceValue({}, ["gateway", "trustedProxies"], '["10.0.0.1"]')).toEqual(["10.0.0.1"])
    expect(coerceValue({}, ["gateway", "remote", "url"], "ws://x:1")).toBe("ws://x:1")
  })
})

describe("ssh targets", () => {
  it("accepts user@host[:port] and refuses what ssh would read as an option", async () => {
    const { parseSshTarget } = await import("../../src/services/SshTunnel.js")
    const { sshArgs } = await import("../../src/layers/SshTunnelSystem.js")
    expect(parseSshTarget("me@gw.example")).toEqual({ destination: "me@gw.example", port: undefined })
    expect(parseSshTarget("me@gw.example:2222")).toEqual({ destination: "me@gw.example", port: 2222 })
    for (const bad of ["-oProxyCommand=x", "me@host -p 1", "", "me@:22"]) expect(() => parseSshTarget(bad)).toThrow(/ssh target/)
    const args = sshArgs({ target: "me@gw.example:2222", remotePort: 18789, identity: "/k" }, 40000)
    expect(args).toEqual(
      expect.arrayContaining([
        "-N",
        "BatchMode=yes",
        "ExitOnForwardFailure=yes",
        "ServerAliveInterval=15",
        "ControlMaster=no",
        "-p",
        "2222",
        "-i",
        "/k"
      ])
    )
    expect(args.slice(-4)).toEqual(["-L", "127.0.0.1:40000:127.0.0.1:18789", "--", "me@gw.example"])
  })
})
