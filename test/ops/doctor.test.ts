/**
 * `clawgate doctor`, as a user runs it (real `node bin/clawgate.mjs doctor` processes on a temp
 * HOME and state dir): modes repaired by --fix, a stale lock removed and a live one left alone,
 * an invalid config, a damaged store, a TLS pair that does not match, weak and reused tokens, a
 * port held by another process, tailscale's Funnel on while the config says Serve, and the JSON.
 */
import { generateKeyPairSync } from "node:crypto"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Effect } from "effect"
import { parseServeStatus } from "../../src/layers/TailscaleCli.js"
import { runCli, spawnGateway } from "../support/cli.js"
import { tempDir } from "../support/gateway.js"
import { freePort } from "../support/process.js"

interface Finding {
  id: string
  area: string
  severity: "ok" | "info" | "warn" | "critical"
  message: string
  fix: string
  fixed?: true
}
interface Report {
  profile: string
  stateDir: string
  configPath: string
  findings: Array<Finding>
  summary: { critical: number; warn: number; info: number; ok: number }
  fixed: number
}

/** A temp HOME with the default state dir inside it; `env` for runCli. */
const host = Effect.gen(function* () {
  const home = yield* tempDir("clawgate-doctor-")
  const stateDir = path.join(home, ".clawgate")
  yield* Effect.promise(() => fs.mkdir(stateDir, { mode: 0o700 }))
  return { home, stateDir, env: { HOME: home } as Record<string, string> }
})

const writeConfig = (stateDir: string, config: unknown, mode = 0o600) =>
  Effect.promise(async () => {
    const file = path.join(stateDir, "clawgate.json")
    await fs.writeFile(file, typeof config === "string" ? config : JSON.stringify(config, null, 2), { mode })
    await fs.chmod(file, mode)
  })

const doctorJson = (env: Record<string, string>, args: ReadonlyArray<string> = []) =>
  Effect.map(runCli(["doctor", "--json", ...args], env), (r) => ({ ...r, report: JSON.parse(r.stdout) as Report }))

const byId = (r: Report, id: string) => r.findings.find((f) => f.id === id)
const modeOf = (file: string) => Effect.promise(() => fs.stat(file).then((s) => s.mode & 0o777))
const exists = (file: string) =>
  Effect.promise(() =>
    fs.lstat(file).then(
      () => true,
      () => false
    )
  )

/** Statements run on the store `file` (opened read-write, closed after). */
const onStore = (file: string, statements: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows: Array<ReadonlyArray<Record<string, unknown>>> = []
    for (const s of statements) rows.push(yield* sql.unsafe<Record<string, unknown>>(s))
    return rows
  }).pipe(Effect.provide(SqliteClient.layer({ filename: file })), Effect.orDie)

/** A pid that is certainly not running: a process that has already exited. */
const deadPid = () => spawnSync(process.execPath, ["-e", ""]).pid as number

const strongToken = "Zq8v0rK3mJx1Tn6bWc4YpLs9Hd2Gf7AeQu5NiRoVkEt"

describe("clawgate doctor", () => {
  it.scopedLive("--fix repairs a 0644 config and a 0755 state dir, reports them fixed, and a second run is clean", () =>
    Effect.gen(function* () {
      const { stateDir, env } = yield* host
      yield* writeConfig(stateDir, { gateway: { auth: { token: strongToken } } }, 0o644)
      yield* Effect.promise(() => fs.chmod(stateDir, 0o755))
      const configPath = path.join(stateDir, "clawgate.json")

      const before = yield* runCli(["doctor"], env)
      // A world-readable config holding a token is critical, as `security audit` says.
      expect(before.code).toBe(5)
      expect(before.stdout).toContain(`${configPath} is mode 0644 (want 0600)`)
      expect(before.stdout).toContain(`fix: chmod 600 ${configPath}`)
      expect(before.stdout).toContain(`chmod 700 ${stateDir}`)
      expect(yield* modeOf(configPath)).toBe(0o644)

      const fixed = yield* doctorJson(env, ["--fix"])
      expect(fixed.code).toBe(0)
      expect(byId(fixed.report, "fs.config.perms_world_readable")).toMatchObject({ severity: "critical", fixed: true })
      expect(byId(fixed.report, "fs.state_dir.perms_world_readable")).toMatchObject({ fixed: true })
      expect(fixed.report.fixed).toBe(2)
      expect(fixed.report.summary.critical).toBe(0)
      expect(yield* modeOf(configPath)).toBe(0o600)
      expect(yield* modeOf(stateDir)).toBe(0o700)

      const again = yield* runCli(["doctor"], env)
      expect(again.code).toBe(0)
      expect(again.stdout).toMatch(/ok\s+\d+ files and directories of .* are owner-only/)
      expect(again.stdout).not.toMatch(/WARN|CRITICAL|FIXED/)
    })
  )

  it.scopedLive("--fix never chmods through a symbolic link", () =>
    Effect.gen(function* () {
      const { home, stateDir, env } = yield* host
      const elsewhere = path.join(home, "elsewhere.json")
      yield* Effect.promise(() => fs.writeFile(elsewhere, "{}", { mode: 0o644 }))
      yield* Effect.promise(() => fs.chmod(elsewhere, 0o644))
      yield* Effect.promise(() => fs.mkdir(path.join(stateDir, "identity"), { mode: 0o700 }))
      yield* Effect.promise(() => fs.symlink(elsewhere, path.join(stateDir, "identity", "device.json")))
      const r = yield* doctorJson(env, ["--fix"])
      expect(byId(r.report, "fs.symlink")?.message).toContain("is a symbolic link")
      expect(yield* modeOf(elsewhere)).toBe(0o644)
    })
  )

  it.scopedLive("a stale lock (dead pid, old mtime) is reported and removed by --fix", () =>
    Effect.gen(function* () {
      const { stateDir, env } = yield* host
      const lock = path.join(stateDir, "gateway.lock")
      const owner = path.join(stateDir, "gateway.lock.json")
      const pid = deadPid()
      yield* Effect.promise(async () => {
        await fs.mkdir(lock, { mode: 0o700 })
        await fs.writeFile(owner, JSON.stringify({ pid, stateDir, startedAt: "2026-01-01T00:00:00.000Z" }), { mode: 0o600 })
        const old = new Date(Date.now() - 60_000)
        await fs.utimes(lock, old, old)
      })

      const seen = yield* runCli(["doctor"], env)
      expect(seen.code).toBe(0)
      expect(seen.stdout).toMatch(new RegExp(`WARN\\s+${lock} is stale: the lock of pid ${pid} .*not running`))
      expect(seen.stdout).toContain("clawgate doctor --fix removes it")
      expect(yield* exists(lock)).toBe(true)

      const fixed = yield* doctorJson(env, ["--fix"])
      expect(byId(fixed.report, "lock.stale")).toMatchObject({ severity: "warn", fixed: true })
      expect(yield* exists(lock)).toBe(false)
      expect(yield* exists(owner)).toBe(false)
      const after = yield* doctorJson(env)
      expect(byId(after.report, "lock.free")?.severity).toBe("ok")
    })
  )

  it.scopedLive("a live Gateway's lock is reported as running and left alone by --fix; its port is its own", () =>
    Effect.gen(function* () {
      const { stateDir, env } = yield* host
      const port = yield* freePort
      const genv = { ...env, CLAWGATE_GATEWAY_PORT: String(port) }
      const gw = yield* spawnGateway([], genv)
      const r = yield* doctorJson(genv, ["--fix"])
      const held = byId(r.report, "lock.held")
      expect(held?.severity).toBe("info")
      expect(held?.message).toContain(`pid ${gw.child.pid}`)
      expect(held?.message).toContain(gw.url)
      expect(held?.fixed).toBeUndefined()
      expect(byId(r.report, "port.own")?.message).toContain(`port ${port}`)
      expect(yield* exists(path.join(stateDir, "gateway.lock"))).toBe(true)
      // The Gateway still holds it: it answers, and stops cleanly.
      expect((yield* runCli(["health"], genv)).code).toBe(0)
      expect(yield* Effect.promise(() => gw.stop())).toBe(0)
    })
  )

  it.scopedLive("a port held by another process while no Gateway runs is a warning naming the fix", () =>
    Effect.gen(function* () {
      const { stateDir, env } = yield* host
      const server = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const s = net.createServer()
          s.listen({ host: "127.0.0.1", port: 0 }, () => resume(Effect.succeed(s)))
        }),
        (s) => Effect.promise(() => new Promise<void>((r) => s.close(() => r())))
      )
      const port = (server.address() as net.AddressInfo).port
      yield* writeConfig(stateDir, { gateway: { port } })
      const r = yield* doctorJson(env)
      const f = byId(r.report, "port.in_use")
      expect(f?.severity).toBe("warn")
      expect(f?.message).toContain(`port ${port} (gateway.port) on 127.0.0.1 is held by another process`)
      expect(f?.fix).toContain(`config set gateway.port ${port + 1}`)
    })
  )

  it.scopedLive("an invalid config is critical, exit 5, with the issue named as the config code formats it", () =>
    Effect.gen(function* () {
      const { stateDir, env } = yield* host
      yield* writeConfig(stateDir, { gateway: { port: "not-a-port", bind: "everywhere" } })
      const r = yield* runCli(["doctor"], env)
      expect(r.code).toBe(5)
      expect(r.stdout).toMatch(/CRITICAL\s+invalid config in .*clawgate\.json/)
      expect(r.stdout).toMatch(/- gateway\.port: /)
      expect(r.stdout).toMatch(/- gateway\.bind: /)
      expect(r.stdout).toContain(`fix: edit ${path.join(stateDir, "clawgate.json")}`)

      yield* writeConfig(stateDir, "{ gateway: ")
      const parse = yield* doctorJson(env)
      expect(parse.code).toBe(5)
      expect(byId(parse.report, "config.parse")?.message).toContain("is not valid JSON5")
    })
  )

  it.scopedLive("a damaged SQLite store is critical: garbage in place of the file, and a page torn inside it", () =>
    Effect.gen(function* () {
      const { stateDir, env } = yield* host
      const db = path.join(stateDir, "clawgate.sqlite")
      yield* Effect.promise(() => fs.writeFile(db, Buffer.alloc(8192, 0x5a), { mode: 0o600 }))
      const garbage = yield* doctorJson(env)
      expect(garbage.code).toBe(5)
      expect(byId(garbage.report, "store.unreadable")?.message).toMatch(/not a database/)

      // A real store (the Gateway made it), then an index page overwritten: the integrity check fails.
      yield* Effect.promise(() => fs.rm(db))
      const gw = yield* spawnGateway(["--port", "0"], env)
      expect(yield* Effect.promise(() => gw.stop())).toBe(0)
      const sound = yield* doctorJson(env)
      expect(byId(sound.report, "store.ok")?.message).toMatch(/is sound and its \d+ migrations are current/)

      const filler = Array.from({ length: 2000 }, (_, i) => `INSERT INTO filler (v) VALUES ('value-${i}-${"x".repeat(40)}')`)
      const rows = yield* onStore(db, [
        "CREATE TABLE filler (id INTEGER PRIMARY KEY, v TEXT)",
        "CREATE INDEX filler_v ON filler (v)",
        ...filler,
        "SELECT rootpage FROM sqlite_master WHERE name = 'filler_v'",
        "PRAGMA page_size",
        "PRAGMA wal_checkpoint(TRUNCATE)",
        "PRAGMA journal_mode = DELETE"
      ])
      const root = Number(rows[filler.length + 2]?.[0]?.rootpage)
      const pageSize = Number(rows[filler.length + 3]?.[0]?.page_size)
      yield* Effect.promise(async () => {
        const h = await fs.open(db, "r+")
        // Keep the page header, scramble the cells: the index no longer matches the table.
        await h.write(Buffer.alloc(pageSize - 200, 0x41), 0, pageSize - 200, (root - 1) * pageSize + 100)
        await h.close()
      })
      const torn = yield* doctorJson(env)
      expect(torn.code).toBe(5)
      const f = byId(torn.report, "store.integrity")
      expect(f?.message).toContain("fails its integrity check")
      expect(f?.severity).toBe("critical")
      expect(f?.fix).toContain(`mv ${db} ${db}.broken`)
    })
  )

  it.scopedLive("pending pairing requests: the count, the oldest's age and the approve command", () =>
    Effect.gen(function* () {
      const { stateDir, env } = yield* host
      const gw = yield* spawnGateway(["--port", "0"], env)
      expect(yield* Effect.promise(() => gw.stop())).toBe(0)
      const insert = (id: string, device: string, at: number) =>
        `INSERT INTO pairing_requests (request_id, device_id, request, created_at) VALUES ('${id}', '${device}', '{}', ${at})`
      yield* onStore(path.join(stateDir, "clawgate.sqlite"), [
        insert("req-old", "dev-1", Date.now() - 3 * 3600_000),
        insert("req-new", "dev-2", Date.now() - 60_000)
      ])
      const r = yield* runCli(["--profile", "default", "doctor"], env)
      expect(r.stdout).toMatch(/info\s+2 pairing requests wait for approval, the oldest \(req-old\) for 3 h/)
      expect(r.stdout).toContain("fix: clawgate devices list, then clawgate devices approve req-old")
    })
  )

  it.scopedLive("TLS: absent is generated at next start; a key that does not match its certificate is critical", () =>
    Effect.gen(function* () {
      const { stateDir, env } = yield* host
      yield* writeConfig(stateDir, { gateway: { auth: { token: strongToken }, tls: { enabled: true } } })
      const absent = yield* doctorJson(env)
      expect(byId(absent.report, "tls.absent")?.message).toContain("generated at next start")
      // doctor never generates one itself.
      expect(yield* exists(path.join(stateDir, "tls", "gateway-cert.pem"))).toBe(false)

      expect((yield* runCli(["gateway", "tls", "fingerprint"], env)).code).toBe(0)
      const valid = yield* doctorJson(env)
      expect(byId(valid.report, "tls.valid")?.message).toMatch(/matches its key and is valid for \d+ more days/)

      const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" })
      yield* Effect.promise(() => fs.writeFile(path.join(stateDir, "tls", "gateway-key.pem"), other, { mode: 0o600 }))
      const r = yield* runCli(["doctor"], env)
      expect(r.code).toBe(5)
      expect(r.stdout).toMatch(/CRITICAL\s+the key .*gateway-key\.pem does not belong to the certificate/)
      expect(r.stdout).toContain("rm ")
    })
  )

  it.scopedLive("weak tokens and a token reused by another profile are reported, without printing either secret", () =>
    Effect.gen(function* () {
      const { home, stateDir, env } = yield* host
      yield* writeConfig(stateDir, { gateway: { auth: { token: "changeme" } } })
      const weak = yield* runCli(["doctor"], env)
      expect(weak.stdout).toMatch(/WARN\s+The Gateway's token is a well-known value/)
      expect(weak.stdout).toContain('clawgate config set gateway.auth.token "$(openssl rand -base64 32)"')

      const patterned = "abababababababababababababababab"
      yield* writeConfig(stateDir, { gateway: { auth: { token: patterned } } })
      const low = yield* doctorJson(env)
      expect(byId(low.report, "gateway.token_low_entropy")?.message).toContain("uses only 2 different characters")
      expect(low.stdout).not.toContain(patterned)

      // The same token in profile work's config, and as this config's remote token.
      const work = path.join(home, ".clawgate-work")
      yield* Effect.promise(() => fs.mkdir(work, { mode: 0o700 }))
      yield* writeConfig(work, { gateway: { auth: { token: strongToken } } })
      yield* writeConfig(stateDir, {
        gateway: { auth: { token: strongToken }, remote: { url: "ws://10.0.0.2:18789", token: strongToken } }
      })
      const reused = yield* doctorJson(env)
      expect(byId(reused.report, "gateway.credential_reused")?.severity).toBe("warn")
      const cross = byId(reused.report, "gateway.credential_reused_profile")
      expect(cross?.message).toContain(`gateway.auth.token is the same secret as gateway.auth.token in ${path.join(work, "clawgate.json")}`)
      expect(reused.stdout).not.toContain(strongToken)

      // From the other side, with --profile: it checks that profile's state dir.
      const profiled = yield* Effect.map(runCli(["--profile", "work", "doctor", "--json"], env), (r) => JSON.parse(r.stdout) as Report)
      expect(profiled.profile).toBe("work")
      expect(profiled.stateDir).toBe(work)
      expect(byId(profiled, "gateway.credential_reused_profile")?.message).toContain(path.join(stateDir, "clawgate.json"))
      expect(byId(profiled, "gateway.credential_reused_profile")?.fix).toContain("clawgate --profile work config set")
    })
  )

  it.scopedLive("tailscale: missing from PATH is critical; Funnel on while the mode is serve is a warning", () =>
    Effect.gen(function* () {
      const { home, stateDir, env } = yield* host
      yield* writeConfig(stateDir, { gateway: { auth: { token: strongToken }, tailscale: { mode: "serve" } } })
      const bin = path.join(home, "bin")
      yield* Effect.promise(() => fs.mkdir(bin))
      const missing = yield* doctorJson({ ...env, PATH: bin })
      expect(missing.code).toBe(5)
      expect(byId(missing.report, "tools.tailscale_missing")?.fix).toContain("config set gateway.tailscale.mode off")

      const status = {
        TCP: { "443": { HTTPS: true } },
        Web: { "gw.tailnet.ts.net:443": { Handlers: { "/": { Proxy: "http://127.0.0.1:18789" } } } },
        AllowFunnel: { "gw.tailnet.ts.net:443": true }
      }
      const script = `#!/bin/sh\nif [ "$1 $2 $3" = "serve status --json" ]; then echo '${JSON.stringify(status)}'; exit 0; fi\nexit 1\n`
      yield* Effect.promise(() => fs.writeFile(path.join(bin, "tailscale"), script, { mode: 0o755 }))
      const r = yield* doctorJson({ ...env, PATH: `${bin}:${process.env.PATH}` })
      expect(byId(r.report, "tools.tailscale_funnel_on")?.fix).toContain("tailscale funnel reset")
    })
  )

  it.scopedLive("--json: findings, summary by severity and the fixed count; the human form groups by area", () =>
    Effect.gen(function* () {
      const { stateDir, env } = yield* host
      yield* writeConfig(stateDir, { gateway: { auth: { token: strongToken } } })
      const r = yield* doctorJson(env)
      expect(r.code).toBe(0)
      expect(Object.keys(r.report).sort()).toEqual(["configPath", "findings", "fixed", "profile", "stateDir", "summary"])
      expect(Object.keys(r.report.summary).sort()).toEqual(["critical", "info", "ok", "warn"])
      expect(r.report.fixed).toBe(0)
      for (const f of r.report.findings) {
        expect(["ok", "info", "warn", "critical"]).toContain(f.severity)
        expect(typeof f.id).toBe("string")
        expect(typeof f.message).toBe("string")
        expect(typeof f.fix).toBe("string")
      }
      const counted = r.report.summary.critical + r.report.summary.warn + r.report.summary.info + r.report.summary.ok
      expect(counted).toBe(r.report.findings.length)
      expect(byId(r.report, "store.missing")?.message).toContain("created at first start")

      const human = yield* runCli(["doctor"], env)
      for (const title of ["Config", "File modes", "State-dir lock", "Port", "Credentials", "SQLite store", "Service unit"]) {
        expect(human.stdout).toMatch(new RegExp(`^${title}$`, "m"))
      }
      // The one info beyond the earlier ones: no service is installed for this profile.
      expect(human.stdout).toMatch(/^Summary: 0 critical · 0 warn · 2 info · \d+ ok$/m)
      expect(human.stdout).toContain("no service is installed for this profile (clawgate-gateway.service)")
    })
  )
})

describe("tailscale serve status", () => {
  it("reads what is served and whether Funnel is on", () => {
    expect(parseServeStatus("{}")).toEqual({ serving: false, funnel: false, proxies: [] })
    expect(
      parseServeStatus(
        JSON.stringify({ TCP: { "443": { HTTPS: true } }, Web: { "h:443": { Handlers: { "/": { Proxy: "http://127.0.0.1:1" } } } } })
      )
    ).toEqual({ serving: true, funnel: false, proxies: ["http://127.0.0.1:1"] })
    expect(parseServeStatus(JSON.stringify({ TCP: { "443": {} }, AllowFunnel: { "h:443": true } }))?.funnel).toBe(true)
    expect(parseServeStatus("not json")).toBeUndefined()
  })
})
