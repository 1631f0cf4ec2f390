/**
 * A Gateway with gateway.tls.enabled: a self-signed certificate generated on
 * first start (0600), TLS 1.3 only, the fingerprint printed by
 * `clawgate gateway tls fingerprint`, pinned clients, and the local CLI pinned
 * to the local certificate without any flag.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import * as tls from "node:tls"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnGateway } from "../support/cli.js"
import { tempDir, writeConfig } from "../support/gateway.js"

const TOKEN = "tls-token-abcdefghijklmnop"

describe("TLS on the Gateway", () => {
  it.scopedLive("generates a certificate, serves wss:// with TLS 1.3 only, and clients pin its fingerprint", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: TOKEN }, tls: { enabled: true } } })
      const env = { CLAWGATE_STATE_DIR: dir }
      const fp = yield* runCli(["gateway", "tls", "fingerprint", "--json"], env)
      expect(fp.code).toBe(0)
      const printed = JSON.parse(fp.stdout)
      expect(printed.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/)
      for (const f of ["gateway-cert.pem", "gateway-key.pem"]) {
        expect((yield* Effect.promise(() => fs.stat(path.join(dir, "tls", f)))).mode & 0o777).toBe(0o600)
      }

      const gw = yield* spawnGateway(["--port", "0"], env)
      expect(gw.output()).toContain(`ready on wss://127.0.0.1:${gw.port}`)
      expect(gw.output()).toContain(printed.fingerprint)
      const url = `wss://127.0.0.1:${gw.port}`

      const other = yield* tempDir()
      const pinned = yield* runCli(["health", "--url", url, "--token", TOKEN, "--tls-fingerprint", printed.fingerprint, "--json"], {
        CLAWGATE_STATE_DIR: other
      })
      expect(pinned.stderr).toBe("")
      expect(JSON.parse(pinned.stdout).health.ok).toBe(true)

      const wrong = yield* runCli(["health", "--url", url, "--token", TOKEN, "--tls-fingerprint", "sha256:" + "00".repeat(32)], {
        CLAWGATE_STATE_DIR: other
      })
      expect(wrong.code).toBe(4)
      expect(wrong.stderr).toContain(`presented ${printed.fingerprint}`)

      // The local CLI reaches it over wss://, pinned to the local certificate, with no flag.
      const local = yield* runCli(["status", "--json"], { ...env, CLAWGATE_GATEWAY_PORT: String(gw.port) })
      expect(local.code).toBe(0)
      expect(JSON.parse(local.stdout).target.url).toBe(url)

      // TLS 1.2 is refused.
      const old = yield* Effect.promise(
        () =>
          new Promise<string>((resolve) => {
            const s = tls.connect({ host: "127.0.0.1", port: gw.port, maxVersion: "TLSv1.2", rejectUnauthorized: false })
            s.on("secureConnect", () => {
              s.destroy()
              resolve("connected")
            })
            s.on("error", (e) => resolve(`refused: ${(e as NodeJS.ErrnoException).code}`))
          })
      )
      expect(old).toMatch(/^refused/)
    })
  )

  it.scopedLive("a certificate named in the config that cannot be read stops the start with the file named", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, {
        gateway: { auth: { token: TOKEN }, tls: { enabled: true, certPath: "/nonexistent/cert.pem", keyPath: "/nonexistent/key.pem" } }
      })
      const res = yield* runCli(["gateway", "run", "--port", "0"], { CLAWGATE_STATE_DIR: dir })
      expect(res.code).toBe(2)
      expect(res.stderr).toContain("cannot read the TLS certificate /nonexistent/cert.pem")
    })
  )
})
