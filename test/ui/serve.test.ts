/**
 * The Control UI as the Gateway serves it over HTTP: headers, the CSP, cache
 * lifetimes, ETags, compression, basePath, deep links, what is refused, and
 * what happens when it is turned off or not built. A real Gateway on port 0,
 * serving the files `node scripts/build.mjs` wrote to dist/ui (or a copy).
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { basePathProblem, normalizeBasePath } from "../../src/config/basePath.js"
import { formatIssues, validateConfig } from "../../src/config/schema.js"
import { defaultControlUiRoot } from "../../src/layers/ui/ControlUiLive.js"
import { CONTROL_UI_CSP, pickEncoding } from "../../src/layers/ui/staticSite.js"
import { startGateway, tempDir, TOKEN } from "../support/gateway.js"
import { rawRequest } from "../support/http.js"
import { openPeer } from "../support/ws.js"

const DIST_UI = defaultControlUiRoot()
const builtUi = Effect.promise(() =>
  fs.access(path.join(DIST_UI, "manifest.json")).then(
    () => DIST_UI,
    () => {
      throw new Error(`${DIST_UI} is not built: run \`node scripts/build.mjs\` (npm test builds first)`)
    }
  )
)

/** A copy of dist/ui in a temp dir, to remove or tamper with. */
const copyOfUi = Effect.gen(function* () {
  const src = yield* builtUi
  const dir = yield* tempDir("clawgate-ui-")
  const root = path.join(dir, "site")
  yield* Effect.promise(() => fs.cp(src, root, { recursive: true }))
  return { dir, root }
})

const EXPECTED_SECURITY = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=()"
}

/** The ./-relative URLs the page loads (stylesheets, modules, the icon). */
const pageUrls = (html: string) => [...html.matchAll(/(?:src|href)="\.\/([^"]+)"/g)].map((m) => m[1] ?? "")

/** Lines of the Gateway's log file, waited for until one matches (a positive signal, bounded). */
const logLine = (stateDir: string, re: RegExp) =>
  Effect.promise(async () => {
    const file = path.join(stateDir, "logs", "gateway.log")
    for (const deadline = Date.now() + 5_000; ; ) {
      const text = await fs.readFile(file, "utf8").catch(() => "")
      const hit = text.split("\n").find((l) => re.test(l))
      if (hit !== undefined) return hit
      if (Date.now() > deadline) throw new Error(`no log line matching ${re} in:\n${text}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  })

describe("gateway.controlUi.basePath", () => {
  it("is checked when the config is read, each problem named with its path", () => {
    const problems = (basePath: string) => {
      const r = validateConfig({ gateway: { controlUi: { basePath } } })
      return Either.isLeft(r) ? formatIssues(r.left) : undefined
    }
    for (const ok of ["/", "/ui", "/ui/", "/clawgate/ui", "/a.b~c_d-e"]) expect(problems(ok)).toBeUndefined()
    expect(problems("ui")).toMatch(/gateway\.controlUi\.basePath: must start with "\/"/)
    expect(problems("/a/../b")).toMatch(/"\." or "\.\." segments/)
    expect(problems("/ui?x=1")).toMatch(/without a query or fragment/)
    expect(problems("/ui#x")).toMatch(/without a query or fragment/)
    expect(problems("/a//b")).toMatch(/empty segment/)
    expect(problems("/a b")).toMatch(/only letters, digits/)
    expect(problems("/a%2e")).toMatch(/only letters, digits/)
    expect(problems("/a\\b")).toMatch(/only letters, digits/)
    expect(problems("/health")).toMatch(/health probe answers there/)
    expect(problems(`/${"x".repeat(200)}`)).toMatch(/at most 128 characters/)
    expect(basePathProblem("/healthz/ui")).toBeUndefined()
  })

  it("is normalised to end with a slash", () => {
    expect(normalizeBasePath(undefined)).toBe("/")
    expect(normalizeBasePath("/")).toBe("/")
    expect(normalizeBasePath("/ui")).toBe("/ui/")
    expect(normalizeBasePath("/a/b/")).toBe("/a/b/")
  })
})

describe("Accept-Encoding", () => {
  it("br before gzip, q=0 refuses, * stands for the rest", () => {
    expect(pickEncoding("gzip, deflate, br, zstd")).toBe("br")
    expect(pickEncoding("gzip")).toBe("gzip")
    expect(pickEncoding("br;q=0, gzip;q=0.5")).toBe("gzip")
    expect(pickEncoding("*")).toBe("br")
    expect(pickEncoding("*;q=0")).toBeUndefined()
    expect(pickEncoding("identity")).toBeUndefined()
    expect(pickEncoding(undefined)).toBeUndefined()
  })
})

describe("the Control UI over HTTP", () => {
  it.scopedLive("/ is the page: not cached, with the security headers and a strict CSP", () =>
    Effect.gen(function* () {
      yield* builtUi
      const gw = yield* startGateway()
      const res = yield* rawRequest(gw.port, "/")
      expect(res.status).toBe(200)
      expect(res.headers).toMatchObject(EXPECTED_SECURITY)
      expect(CONTROL_UI_CSP).toBe(EXPECTED_SECURITY["content-security-policy"])
      expect(res.headers["content-type"]).toBe("text/html; charset=utf-8")
      expect(res.headers["cache-control"]).toBe("no-cache")
      expect(res.headers.vary).toBe("Accept-Encoding")
      expect(res.headers.etag).toMatch(/^"[A-Za-z0-9_-]+"$/)
      const html = res.body.toString("utf8")
      expect(html).toMatch(/^<!doctype html>/i)
      expect(html).toContain('<html lang="en">')
      expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">')
      expect(html).toContain('<meta name="color-scheme" content="light dark">')
      expect(html).toContain("<title>clawgate</title>")
      expect(html).toMatch(/<noscript>[^<]+<\/noscript>/)
      // Relative URLs only (any basePath, any proxy prefix), and never another host.
      expect(html).not.toMatch(/(?:src|href)="(?:\/|https?:)/)
      expect(pageUrls(html).some((u) => /^assets\/main-[A-Z0-9]+\.js$/.test(u))).toBe(true)

      // Revalidation: 304 with no body; HEAD: the same headers, no body.
      const again = yield* rawRequest(gw.port, "/", { headers: { "If-None-Match": res.headers.etag ?? "" } })
      expect(again.status).toBe(304)
      expect(again.body.length).toBe(0)
      expect(again.headers.etag).toBe(res.headers.etag)
      const head = yield* rawRequest(gw.port, "/", { method: "HEAD" })
      expect(head.status).toBe(200)
      expect(head.headers["content-length"]).toBe(String(res.body.length))
      expect(head.body.length).toBe(0)
    })
  )

  it.scopedLive("assets: immutable for a year, typed with a charset, ETag and 304, br or gzip as asked", () =>
    Effect.gen(function* () {
      yield* builtUi
      const gw = yield* startGateway()
      const html = (yield* rawRequest(gw.port, "/")).body.toString("utf8")
      const assets = pageUrls(html).filter((u) => u.startsWith("assets/"))
      const manifest = JSON.parse(yield* Effect.promise(() => fs.readFile(path.join(DIST_UI, "manifest.json"), "utf8")))
      expect(assets.some((a) => a.endsWith(".js"))).toBe(true)
      expect(assets.some((a) => a.endsWith(".css"))).toBe(true)
      // The scripts, at least, are big enough to be sent compressed.
      for (const js of assets.filter((a) => a.endsWith(".js"))) expect(manifest.files[js].brotli).toBeLessThan(manifest.files[js].size)
      for (const asset of assets) {
        const plain = yield* rawRequest(gw.port, `/${asset}`)
        expect(plain.status).toBe(200)
        expect(plain.headers).toMatchObject(EXPECTED_SECURITY)
        expect(plain.headers["cache-control"]).toBe("public, max-age=31536000, immutable")
        expect(plain.headers["content-type"]).toBe(
          asset.endsWith(".js")
            ? "text/javascript; charset=utf-8"
            : asset.endsWith(".css")
              ? "text/css; charset=utf-8"
              : "image/svg+xml; charset=utf-8"
        )
        expect(plain.headers["content-encoding"]).toBeUndefined()
        expect(plain.headers.vary).toBe("Accept-Encoding")

        // A compressed copy is sent only where it is smaller (a tiny file is not).
        const sizes = manifest.files[asset]
        expect(plain.body.length).toBe(sizes.size)
        const br = yield* rawRequest(gw.port, `/${asset}`, { headers: { "Accept-Encoding": "gzip, deflate, br" } })
        expect(br.headers["content-encoding"]).toBe(sizes.brotli < sizes.size ? "br" : undefined)
        if (sizes.brotli < sizes.size) expect(zlib.brotliDecompressSync(br.body).equals(plain.body)).toBe(true)
        const gz = yield* rawRequest(gw.port, `/${asset}`, { headers: { "Accept-Encoding": "gzip, br;q=0" } })
        expect(gz.headers["content-encoding"]).toBe(sizes.gzip < sizes.size ? "gzip" : undefined)
        if (sizes.gzip < sizes.size) expect(zlib.gunzipSync(gz.body).equals(plain.body)).toBe(true)
        expect(new Set([plain.headers.etag, br.headers.etag, gz.headers.etag]).size).toBe(
          1 + Number(sizes.brotli < sizes.size) + Number(sizes.gzip < sizes.size)
        )

        // Any of the three tags revalidates (weak or strong); HEAD tells the size of what GET sends.
        const notModified = yield* rawRequest(gw.port, `/${asset}`, {
          headers: { "Accept-Encoding": "br", "If-None-Match": `"other", W/${br.headers.etag}` }
        })
        expect(notModified.status).toBe(304)
        expect(notModified.body.length).toBe(0)
        expect(notModified.headers["cache-control"]).toBe("public, max-age=31536000, immutable")
        const head = yield* rawRequest(gw.port, `/${asset}`, { method: "HEAD", headers: { "Accept-Encoding": "br" } })
        expect(head.headers["content-length"]).toBe(String(br.body.length))
        expect(head.headers["content-encoding"]).toBe(br.headers["content-encoding"])
        expect(head.body.length).toBe(0)
      }
      const icon = assets.find((a) => a.endsWith(".svg")) ?? "(no icon)"
      expect(icon).toMatch(/^assets\/favicon-[A-Z0-9]{8}\.svg$/)
      expect((yield* rawRequest(gw.port, `/${icon}`)).headers["content-type"]).toBe("image/svg+xml; charset=utf-8")
    })
  )

  it.scopedLive("the probes, the ?token= refusal and the WebSocket keep working beside the page at /", () =>
    Effect.gen(function* () {
      yield* builtUi
      const gw = yield* startGateway()
      for (const probe of ["/health", "/healthz"])
        expect(JSON.parse((yield* rawRequest(gw.port, probe)).body.toString())).toEqual({ ok: true, status: "live" })
      for (const probe of ["/ready", "/readyz"])
        expect(JSON.parse((yield* rawRequest(gw.port, probe)).body.toString())).toMatchObject({ ok: true, status: "ready" })
      for (const probe of ["/startup", "/startupz"])
        expect(JSON.parse((yield* rawRequest(gw.port, probe)).body.toString())).toMatchObject({ ok: true, status: "started" })
      const token = yield* rawRequest(gw.port, `/?token=${TOKEN}`)
      expect(token.status).toBe(400)
      expect(token.body.toString()).toMatch(/credentials are never accepted in a URL query string/)
      expect((yield* rawRequest(gw.port, "/chat?password=x")).status).toBe(400)
      // An upgrade on any path reaches the Gateway's WebSocket, not the page.
      for (const at of ["", "/", "/chat/deep"]) {
        const peer = yield* openPeer(`${gw.url}${at}`)
        const challenge = yield* Effect.promise(() => peer.waitFor((f) => f.event === "connect.challenge"))
        expect(challenge.payload.nonce).toEqual(expect.any(String))
      }
    })
  )

  it.scopedLive("a deep link is the page, an unknown file is a 404, and only GET and HEAD are answered", () =>
    Effect.gen(function* () {
      yield* builtUi
      const gw = yield* startGateway()
      const index = (yield* rawRequest(gw.port, "/")).body
      for (const link of ["/chat", "/chat/", "/sessions/agent:main:main", "/nodes/abc?tab=commands", "/index.html"]) {
        const res = yield* rawRequest(gw.port, link)
        expect(res.status, link).toBe(200)
        expect(res.headers["cache-control"]).toBe("no-cache")
        expect(res.body.equals(index), link).toBe(true)
      }
      // The page's relative URLs, read at a deep link, still find the assets.
      const asset = pageUrls(index.toString()).find((u) => u.endsWith(".js")) ?? ""
      const deep = yield* rawRequest(gw.port, `/sessions/x/${asset}`)
      expect(deep.status).toBe(200)
      expect(deep.headers["content-type"]).toBe("text/javascript; charset=utf-8")
      for (const missing of ["/nope.js", "/assets/main-NOPE1234.js", "/favicon.ico", "/manifest.json", `/${asset}.br`]) {
        const res = yield* rawRequest(gw.port, missing)
        expect(res.status, missing).toBe(404)
        expect(res.headers).toMatchObject(EXPECTED_SECURITY)
        expect(res.headers["content-type"]).toBe("text/plain; charset=utf-8")
      }
      for (const method of ["POST", "PUT", "DELETE", "OPTIONS"]) {
        expect((yield* rawRequest(gw.port, "/", { method, headers: { "Content-Length": "0" } })).status, method).toBe(405)
      }
    })
  )

  it.scopedLive("under basePath /ui: /ui redirects to ui/, the page is at /ui/, and / is not the page", () =>
    Effect.gen(function* () {
      yield* builtUi
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, controlUi: { basePath: "/ui" } } })
      const redirect = yield* rawRequest(gw.port, "/ui")
      expect(redirect.status).toBe(301)
      expect(redirect.headers.location).toBe("ui/")
      expect((yield* rawRequest(gw.port, "/ui?x=1")).headers.location).toBe("ui/?x=1")
      const page = yield* rawRequest(gw.port, "/ui/")
      expect(page.status).toBe(200)
      expect(page.headers["content-type"]).toBe("text/html; charset=utf-8")
      const asset = pageUrls(page.body.toString()).find((u) => u.endsWith(".js")) ?? ""
      expect((yield* rawRequest(gw.port, `/ui/${asset}`)).status).toBe(200)
      expect((yield* rawRequest(gw.port, "/ui/chat/x")).body.equals(page.body)).toBe(true)
      expect((yield* rawRequest(gw.port, "/")).status).toBe(404)
      expect((yield* rawRequest(gw.port, `/${asset}`)).status).toBe(404)
      expect((yield* rawRequest(gw.port, "/uix")).status).toBe(404)
      expect((yield* rawRequest(gw.port, "/health")).status).toBe(200)
    })
  )

  it.scopedLive("traversal is refused without reading outside the UI's directory: encoded ../, %2e%2e, backslashes, NUL, overlong", () =>
    Effect.gen(function* () {
      const { dir, root } = yield* copyOfUi
      const SECRET = "TOPSECRET-outside-the-ui"
      yield* Effect.promise(async () => {
        await fs.writeFile(path.join(dir, "secret.txt"), SECRET)
        // Links in the directory that the manifest does not name: never served.
        await fs.symlink(path.join(dir, "secret.txt"), path.join(root, "link.txt"))
        await fs.symlink("../../secret.txt", path.join(root, "assets", "evil.js"))
      })
      const gw = yield* startGateway(undefined, { controlUiDir: root })
      const attempts = [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/..\\secret.txt",
        "/%5c..%5csecret.txt",
        "/assets\\..\\..\\secret.txt",
        "/index.html%00.js",
        "/%00",
        "/%c0%ae%c0%ae/secret.txt",
        "/%252e%252e/secret.txt",
        "//secret.txt",
        "/./index.html",
        "/....//secret.txt",
        "/link.txt",
        "/assets/evil.js",
        `/${"a".repeat(3_000)}`,
        `/${"../".repeat(500)}secret.txt`
      ]
      for (const target of attempts) {
        const res = yield* rawRequest(gw.port, target)
        expect([400, 404, 414], target).toContain(res.status)
        expect(res.body.toString("latin1"), target).not.toContain(SECRET)
      }
      // A raw NUL in the request line: the HTTP parser drops the connection before any route sees it.
      expect((yield* rawRequest(gw.port, "/\u0000../secret.txt")).status).toBe(0)
      // The files were read once at start: with the directory gone, the page is still served from memory.
      yield* Effect.promise(() => fs.rm(root, { recursive: true, force: true }))
      expect((yield* rawRequest(gw.port, "/")).status).toBe(200)
      expect((yield* rawRequest(gw.port, "/chat")).status).toBe(200)
    })
  )

  it.scopedLive("a manifest that names a link leading outside, or a file that does not match, is not served (503)", () =>
    Effect.gen(function* () {
      const outside = yield* copyOfUi
      const SECRET = "TOPSECRET-outside-the-ui"
      yield* Effect.promise(async () => {
        await fs.writeFile(path.join(outside.dir, "secret.txt"), SECRET)
        await fs.symlink("../secret.txt", path.join(outside.root, "leak.txt"))
        const manifestPath = path.join(outside.root, "manifest.json")
        const manifest = JSON.parse(await fs.readFile(manifestPath, "utf8"))
        manifest.files["leak.txt"] = { size: SECRET.length, gzip: null, brotli: null, sha256: "0".repeat(64) }
        await fs.writeFile(manifestPath, JSON.stringify(manifest))
      })
      const gw = yield* startGateway(undefined, { controlUiDir: outside.root })
      const res = yield* rawRequest(gw.port, "/leak.txt")
      expect(res.status).toBe(503)
      expect(res.body.toString()).not.toContain(SECRET)
      expect(yield* logLine(gw.stateDir, /control UI not served/)).toMatch(/leak\.txt leads outside the directory/)

      const tampered = yield* copyOfUi
      yield* Effect.promise(async () => {
        const js = (await fs.readdir(path.join(tampered.root, "assets"))).find((f) => f.endsWith(".js")) ?? ""
        await fs.appendFile(path.join(tampered.root, "assets", js), "\n// changed after the build")
      })
      const gw2 = yield* startGateway(undefined, { controlUiDir: tampered.root })
      const page = yield* rawRequest(gw2.port, "/")
      expect(page.status).toBe(503)
      expect(page.body.toString()).toMatch(/do not match their manifest.*npm run build/)

      // A precompressed copy swapped for other bytes of the same size: not served in place of the file.
      const swapped = yield* copyOfUi
      const br = yield* Effect.promise(async () => {
        const name = (await fs.readdir(path.join(swapped.root, "assets"))).find((f) => f.endsWith(".js.br")) ?? ""
        const file = path.join(swapped.root, "assets", name)
        const bytes = await fs.readFile(file)
        await fs.writeFile(file, Buffer.alloc(bytes.length, 0x61))
        return name
      })
      const gw3 = yield* startGateway(undefined, { controlUiDir: swapped.root })
      expect((yield* rawRequest(gw3.port, "/")).status).toBe(503)
      expect(yield* logLine(gw3.stateDir, /control UI not served/)).toContain(`assets/${br} does not match manifest.json`)
    })
  )

  it.scopedLive("gateway.controlUi.enabled false: 404, and the start-up log says so", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, controlUi: { enabled: false } } })
      const res = yield* rawRequest(gw.port, "/")
      expect(res.status).toBe(404)
      expect((yield* rawRequest(gw.port, "/chat")).status).toBe(404)
      expect((yield* rawRequest(gw.port, "/health")).status).toBe(200)
      expect(yield* logLine(gw.stateDir, /control UI disabled/)).toContain("gateway.controlUi.enabled is false")
    })
  )

  it.scopedLive("without dist/ui the Gateway still starts, and / answers 503 saying to run npm run build", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("clawgate-ui-")
      const gw = yield* startGateway(undefined, { controlUiDir: path.join(dir, "never-built") })
      for (const at of ["/", "/chat", "/assets/main-ABCDEFGH.js"]) {
        const res = yield* rawRequest(gw.port, at)
        expect(res.status, at).toBe(503)
        expect(res.headers["content-type"]).toBe("text/plain; charset=utf-8")
        expect(res.body.toString()).toMatch(/The Control UI is not built.*Run `npm run build`/)
        // The filesystem path stays in the log, not in an answer to whoever asks.
        expect(res.body.toString()).not.toContain(dir)
      }
      expect((yield* rawRequest(gw.port, "/health")).status).toBe(200)
      const peer = yield* openPeer(gw.url)
      yield* Effect.promise(() => peer.waitFor((f) => f.event === "connect.challenge"))
      expect(yield* logLine(gw.stateDir, /control UI not served/)).toContain("npm run build")
    })
  )

  it.scopedLive("the start-up log names the Control UI's URL", () =>
    Effect.gen(function* () {
      yield* builtUi
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, controlUi: { basePath: "/ui/" } } })
      expect(yield* logLine(gw.stateDir, /control UI at/)).toContain(`control UI at http://127.0.0.1:${gw.port}/ui/`)
    })
  )
})
