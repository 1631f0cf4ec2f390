/**
 * config.validate and config.set against a real Gateway through the real client: what the Config page
 * does (load, edit, validate, save), its refusals (scope, bounds, a stale hash, an invalid text), and that a
 * secret left redacted is kept, never written as its placeholder nor sent back.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import JSON5 from "json5"
import { REDACTED } from "../../src/config/schema.js"
import { ConfigMethods, Core } from "../../src/protocol/methods.js"
import { connectOperator } from "../support/client.js"
import { startGateway, TOKEN } from "../support/gateway.js"

const text = (value: unknown) => JSON.stringify(value, null, 2)
const readFile = (p: string) => Effect.promise(() => fs.readFile(p, "utf8"))

describe("config.validate", () => {
  it.scopedLive("checks a text with the Gateway's schema and start-up rules, each issue at its path", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const reader = yield* connectOperator(gw, { scopes: ["operator.read"] })
      const loaded = yield* reader.call(Core.ConfigGet)
      // The text config.get gives back (secrets as placeholders) is valid as it is.
      expect(yield* reader.call(ConfigMethods.ConfigValidate, { raw: text(loaded.config) })).toEqual({ ok: true, issues: [] })

      const bad = yield* reader.call(ConfigMethods.ConfigValidate, {
        raw: `{ gateway: { port: "x", tls: { enabled: "yes" }, auth: { token: "${REDACTED}" } }, nope: 1 }`
      })
      expect(bad.ok).toBe(false)
      expect(bad.issues.map((i) => i.path).sort()).toEqual(["gateway.port", "gateway.tls.enabled", "nope"])
      expect(bad.issues.find((i) => i.path === "nope")?.message).toBe("is not a known setting")

      // What start-up refuses is refused here too: a LAN bind without a credential.
      const open = yield* reader.call(ConfigMethods.ConfigValidate, { raw: `{ gateway: { bind: "lan" } }` })
      expect(open.issues).toEqual([
        { path: "gateway.bind", message: expect.stringMatching(/refusing to bind 0\.0\.0\.0.*without authentication/) }
      ])
      const custom = yield* reader.call(ConfigMethods.ConfigValidate, {
        raw: `{ gateway: { bind: "custom", auth: { token: "${REDACTED}" } } }`
      })
      expect(custom.issues).toEqual([
        { path: "gateway.customBindHost", message: expect.stringContaining("gateway.customBindHost is not set") }
      ])

      // Not JSON5: one issue at the root with where it went wrong.
      const broken = yield* reader.call(ConfigMethods.ConfigValidate, { raw: "{\n  gateway: {\n    port: 1,,\n  }\n}" })
      expect(broken.issues).toEqual([{ path: "(root)", message: expect.stringContaining("not valid JSON5"), line: 3, column: 13 }])
      // A placeholder where nothing is stored cannot be kept.
      const orphan = yield* reader.call(ConfigMethods.ConfigValidate, {
        raw: `{ gateway: { auth: { token: "${REDACTED}" }, remote: { token: "${REDACTED}" } } }`
      })
      expect(orphan.issues).toEqual([{ path: "gateway.remote.token", message: expect.stringContaining("no secret is stored there") }])
      // A secret's value is never repeated in an issue.
      const typed = yield* reader.call(ConfigMethods.ConfigValidate, { raw: `{ gateway: { auth: { token: 987654321 } } }` })
      expect(typed.issues.map((i) => i.path)).toEqual(["gateway.auth.token"])
      expect(JSON.stringify(typed)).not.toContain("987654321")
    })
  )

  it.scopedLive("bounded: at most 1 MiB of text, 32 levels deep", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const reader = yield* connectOperator(gw, { scopes: ["operator.read"] })
      const big = yield* reader.call(ConfigMethods.ConfigValidate, { raw: `{"$schema": "${"x".repeat(1024 * 1024)}"}` }).pipe(Effect.flip)
      expect(big).toMatchObject({ code: "INVALID_REQUEST", message: expect.stringContaining("invalid config.validate params: raw") })
      // Under the byte bound in UTF-16 units, over it in UTF-8.
      const wide = yield* reader.call(ConfigMethods.ConfigValidate, { raw: `{"$schema": "${"é".repeat(600_000)}"}` }).pipe(Effect.flip)
      expect(wide.message).toContain("UTF-8")
      const deep = yield* reader.call(ConfigMethods.ConfigValidate, { raw: `{"a":${"[".repeat(40)}${"]".repeat(40)}}` })
      expect(deep.issues).toEqual([{ path: "(root)", message: "nests deeper than 32 levels" }])
    })
  )
})

describe("config.set", () => {
  it.scopedLive("writes atomically (0600), keeps redacted secrets, and the running Gateway uses it at once", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const admin = yield* connectOperator(gw)
      const loaded = yield* admin.call(Core.ConfigGet)
      const before = yield* Effect.promise(() => fs.stat(gw.configPath))
      const edited = { ...(loaded.config as Record<string, any>) }
      edited.gateway = { ...edited.gateway, trustedProxies: ["10.0.0.1"] }
      const saved = yield* admin.call(ConfigMethods.ConfigSet, { raw: text(edited), baseHash: loaded.hash! })
      expect(saved).toMatchObject({ ok: true, path: gw.configPath, restartRequired: false, restartPaths: [] })
      expect(JSON.stringify(saved)).not.toContain(TOKEN)
      expect((saved.config as any).gateway.auth.token).toBe(REDACTED)

      // On disk: the stored token, never the placeholder; 0600; a new file renamed into place, no temp file left.
      const onDisk = JSON5.parse(yield* readFile(gw.configPath))
      expect(onDisk.gateway).toEqual({ auth: { token: TOKEN }, trustedProxies: ["10.0.0.1"] })
      const after = yield* Effect.promise(() => fs.stat(gw.configPath))
      expect(after.mode & 0o777).toBe(0o600)
      expect(after.ino).not.toBe(before.ino)
      const names = yield* Effect.promise(() => fs.readdir(path.dirname(gw.configPath)))
      expect(names.filter((n) => n.endsWith(".tmp"))).toEqual([])

      // The Gateway reads it now: config.get shows it, and its hash is the one config.set answered.
      const reloaded = yield* admin.call(Core.ConfigGet)
      expect((reloaded.config as any).gateway.trustedProxies).toEqual(["10.0.0.1"])
      expect(reloaded.hash).toBe(saved.hash)

      // A setting read only at start says so.
      const moved = { ...(reloaded.config as Record<string, any>) }
      moved.gateway = { ...moved.gateway, port: 45678 }
      const restart = yield* admin.call(ConfigMethods.ConfigSet, { raw: text(moved), baseHash: reloaded.hash! })
      expect(restart).toMatchObject({ restartRequired: true, restartPaths: ["gateway.port"] })

      // A new token typed in applies to the next connection at once; the old one is refused.
      const rotated = { ...moved, gateway: { ...moved.gateway, auth: { token: "a-new-token-0123456789abcdef" } } }
      yield* admin.call(ConfigMethods.ConfigSet, { raw: text(rotated), baseHash: restart.hash })
      const fresh = yield* connectOperator(gw, { token: "a-new-token-0123456789abcdef", scopes: ["operator.read"] })
      expect((yield* fresh.call(Core.Status)).gateway?.authMode).toBe("token")
      const old = yield* connectOperator(gw, { scopes: ["operator.read"] }).pipe(Effect.flip)
      expect(String((old as { message?: string }).message)).toContain("token mismatch")
    })
  )

  it.scopedLive("refuses a stale base hash (CONFIG_CHANGED, with the current hash) and writes nothing", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const admin = yield* connectOperator(gw)
      const loaded = yield* admin.call(Core.ConfigGet)
      // Someone else edits the file after the page loaded it.
      yield* Effect.promise(() =>
        fs.writeFile(gw.configPath, text({ gateway: { auth: { token: TOKEN }, trustedProxies: ["10.9.9.9"] } }), { mode: 0o600 })
      )
      const now = yield* admin.call(Core.ConfigGet)
      const stale = yield* admin.call(ConfigMethods.ConfigSet, { raw: text(loaded.config), baseHash: loaded.hash! }).pipe(Effect.flip)
      expect(stale).toMatchObject({
        code: "INVALID_REQUEST",
        message: "config changed since last load; re-run config.get and retry",
        details: { code: "CONFIG_CHANGED", hash: now.hash }
      })
      expect(JSON5.parse(yield* readFile(gw.configPath)).gateway.trustedProxies).toEqual(["10.9.9.9"])
      // Without a base hash while the file exists: asked for one, as on OpenClaw.
      const blind = yield* admin.call(ConfigMethods.ConfigSet, { raw: text(loaded.config) }).pipe(Effect.flip)
      expect(blind).toMatchObject({ details: { code: "CONFIG_BASE_HASH_REQUIRED" } })
    })
  )

  it.scopedLive("refuses an invalid text (CONFIG_INVALID, each issue at its path) and a placeholder with nothing stored", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const admin = yield* connectOperator(gw)
      const loaded = yield* admin.call(Core.ConfigGet)
      const before = yield* readFile(gw.configPath)
      const invalid = yield* admin
        .call(ConfigMethods.ConfigSet, { raw: `{ gateway: { port: 70000, auth: { token: "${REDACTED}" } } }`, baseHash: loaded.hash! })
        .pipe(Effect.flip)
      expect(invalid).toMatchObject({
        code: "INVALID_REQUEST",
        details: { code: "CONFIG_INVALID", issues: [{ path: "gateway.port", message: expect.stringContaining("1 to 65535") }] }
      })
      expect(invalid.message).toMatch(/^invalid config: gateway\.port: /)
      const orphan = yield* admin
        .call(ConfigMethods.ConfigSet, {
          raw: `{ gateway: { auth: { token: "${REDACTED}" }, remote: { password: "${REDACTED}" } } }`,
          baseHash: loaded.hash!
        })
        .pipe(Effect.flip)
      expect(orphan).toMatchObject({ details: { code: "CONFIG_INVALID", issues: [{ path: "gateway.remote.password" }] } })
      const unsafe = yield* admin
        .call(ConfigMethods.ConfigSet, { raw: `{ gateway: { bind: "lan" } }`, baseHash: loaded.hash! })
        .pipe(Effect.flip)
      expect(unsafe).toMatchObject({ details: { code: "CONFIG_INVALID", issues: [{ path: "gateway.bind" }] } })
      expect(yield* readFile(gw.configPath)).toBe(before)
    })
  )

  it.scopedLive("is operator.admin only; config.validate is operator.read", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const writer = yield* connectOperator(gw, { scopes: ["operator.write"] })
      const loaded = yield* writer.call(Core.ConfigGet)
      const refused = yield* writer.call(ConfigMethods.ConfigSet, { raw: "{}", baseHash: loaded.hash! }).pipe(Effect.flip)
      expect(refused).toMatchObject({
        code: "FORBIDDEN",
        message: "missing scope: operator.admin",
        details: { code: "MISSING_SCOPE", missingScope: "operator.admin" }
      })
      const nobody = yield* connectOperator(gw, { scopes: [] })
      const unread = yield* nobody.call(ConfigMethods.ConfigValidate, { raw: "{}" }).pipe(Effect.flip)
      expect(unread).toMatchObject({ code: "FORBIDDEN", details: { missingScope: "operator.read" } })
    })
  )
})
