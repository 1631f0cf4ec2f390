/**
 * `gateway.controlUi.root`: a directory of another UI's static files (no manifest) served in place of
 * dist/ui, under the same CSP, its HTML pages' inline scripts and <style> blocks allowed by their SHA-256
 * only; a directory that is missing, has no index.html or leads outside itself through a symlink is
 * answered 503 naming the key, and the Gateway keeps running. A real Gateway on port 0.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startGateway, tempDir, TOKEN } from "../support/gateway.js"

const INLINE_SCRIPT = "\n      globalThis.booted = true;\n    "
const INLINE_STYLE = "body{margin:0}"
const PAGE = `<!doctype html><html><head>
    <script>${INLINE_SCRIPT}</script>
    <style>${INLINE_STYLE}</style>
    <script type="module" src="./assets/app-ABCDEFGH.js"></script>
  </head><body><main>other UI</main></body></html>`

const sha = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`

/** A UI build: index.html, an asset, and a .gz sibling that must not be served. */
const writeSite = (root: string) =>
  Effect.promise(async () => {
    await fs.mkdir(path.join(root, "assets"), { recursive: true })
    await fs.writeFile(path.join(root, "index.html"), PAGE)
    await fs.writeFile(path.join(root, "assets", "app-ABCDEFGH.js"), "console.log('app')\n")
    await fs.writeFile(path.join(root, "assets", "app-ABCDEFGH.js.gz"), "not gzip")
  })

const gatewayWithRoot = (root: string) => startGateway({ gateway: { auth: { token: TOKEN }, controlUi: { root } } })

const get = (port: number, p: string, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const res = await fetch(`http://127.0.0.1:${port}${p}`, { headers })
    return { status: res.status, headers: res.headers, body: await res.text() }
  })

describe("gateway.controlUi.root", () => {
  it.scoped("serves the directory's files, each HTML page under the CSP with its inline blocks' hashes", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("clawgate-root-")
      const root = path.join(dir, "ui")
      yield* writeSite(root)
      const gw = yield* gatewayWithRoot(root)

      const page = yield* get(gw.port, "/")
      expect(page.status).toBe(200)
      expect(page.body).toContain("other UI")
      const csp = page.headers.get("content-security-policy") ?? ""
      const directives = csp.split("; ")
      expect(directives).toContain(`script-src 'self' ${sha(INLINE_SCRIPT)}`)
      expect(directives).toContain(`style-src 'self' ${sha(INLINE_STYLE)}`)
      expect(directives).toContain("default-src 'none'")
      expect(directives).toContain("frame-ancestors 'none'")
      expect(directives.filter((d) => d.startsWith("script-src") || d.startsWith("style-src ")).join(" ")).not.toContain("unsafe")

      const asset = yield* get(gw.port, "/assets/app-ABCDEFGH.js", { "accept-encoding": "gzip" })
      expect(asset.status).toBe(200)
      expect(asset.body).toBe("console.log('app')\n")
      expect(asset.headers.get("content-encoding")).toBeNull()
      expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable")
      // A client-side route is the page; the sibling is not a file of the site.
      expect((yield* get(gw.port, "/chat/main")).body).toContain("other UI")
      expect((yield* get(gw.port, "/assets/app-ABCDEFGH.js.gz")).status).toBe(404)
    })
  )

  it.scoped("a relative root is read from the config file's directory", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, controlUi: { root: "ui" } } }).pipe(
        Effect.tap((g) => writeSite(path.join(g.stateDir, "ui")))
      )
      // Written after start: not there when the Gateway read it, so the answer says what is missing, where.
      const res = yield* get(gw.port, "/")
      expect(res.status).toBe(503)
      expect(res.body).toContain(`gateway.controlUi.root: ${path.join(gw.stateDir, "ui")} does not exist`)
    })
  )

  it.scoped("a missing directory, one without index.html, and a symlink out of it are each 503 naming the key", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("clawgate-root-")
      const missing = yield* gatewayWithRoot(path.join(dir, "nope"))
      const a = yield* get(missing.port, "/")
      expect(a.status).toBe(503)
      expect(a.body).toContain(`gateway.controlUi.root: ${path.join(dir, "nope")} does not exist`)
      expect(a.body).toContain("Fix gateway.controlUi.root in the config")
      expect((yield* get(missing.port, "/healthz")).status).toBe(200)

      const empty = path.join(dir, "empty")
      yield* Effect.promise(() => fs.mkdir(empty))
      const noIndex = yield* gatewayWithRoot(empty)
      expect((yield* get(noIndex.port, "/")).body).toContain(`gateway.controlUi.root: ${empty} has no index.html`)

      const escaping = path.join(dir, "escaping")
      yield* writeSite(escaping)
      yield* Effect.promise(() => fs.writeFile(path.join(dir, "secret.txt"), "secret"))
      yield* Effect.promise(() => fs.symlink(path.join(dir, "secret.txt"), path.join(escaping, "leak.txt")))
      const leaking = yield* gatewayWithRoot(escaping)
      const c = yield* get(leaking.port, "/leak.txt")
      expect(c.status).toBe(503)
      expect(c.body).toContain("leak.txt leads outside the directory")
      expect(c.body).not.toContain("secret\n")
    })
  )
})
