/**
 * A static site served from memory: a directory of built files and its
 * manifest.json (written by scripts/build.mjs), read once at start, checked
 * against the manifest (size and SHA-256 of every file and of its .gz and .br
 * siblings), and answered from memory with every header computed
 * once. A request never reaches the filesystem: its path is only ever a key
 * into the map of files the manifest named, so nothing outside the directory
 * can be served, whatever the path says.
 *
 * The serving code takes any Site and any set of headers: the Control UI's
 * own files today (ControlUiLive), another UI's directory of files later,
 * under the same Content-Security-Policy.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import type * as http from "node:http"
import * as path from "node:path"
import { Data, Effect, Either, Schema } from "effect"
import type { HttpHandler } from "../../services/HttpRoutes.js"

/** Bounds on what start-up reads into memory: a UI's build is a few hundred KB. */
export const SITE_LIMITS = {
  files: 1_000,
  fileBytes: 16 * 1024 * 1024,
  siteBytes: 64 * 1024 * 1024,
  manifestBytes: 1024 * 1024,
  nameLength: 200,
  /** Longer request targets are refused (414) before they are looked at. */
  urlLength: 2_048
} as const

/**
 * Scripts, styles, fonts and images from the page's own origin only; the WebSocket only to the origin
 * that served the page (CSP3: 'self' in connect-src covers ws: and wss: to the same host and port);
 * no plugins, no <base>, no form posts, never in a frame.
 */
export const CONTROL_UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'"
].join("; ")

/**
 * The CSP of a UI served from `gateway.controlUi.root`: CONTROL_UI_CSP, plus its web app manifest from
 * the same origin (`<link rel="manifest">`) and `data:` URLs to fetch (OpenClaw's UI fetches its inline
 * SVG icons; a data: URL reaches no network), and `style` attributes (`style-src-attr`): OpenClaw's UI
 * lays itself out with computed ones (`style="flex: 1 1 0"`, `--side-panel-width: 480px`), which no hash
 * can name in advance, and without them its chat column collapses to nothing. Scripts and <style>
 * elements stay 'self' plus the SHA-256 of each inline block: each HTML page adds those hashes.
 */
export const ROOT_UI_CSP = `${CONTROL_UI_CSP.replace("connect-src 'self'", "connect-src 'self' data:")}; style-src-attr 'unsafe-inline'; manifest-src 'self'`

/** The headers on every answer a site gives, its errors included. */
export const securityHeaders = (csp: string): Readonly<Record<string, string>> => ({
  "content-security-policy": csp,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=()"
})

export const IMMUTABLE = "public, max-age=31536000, immutable"

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".webmanifest": "application/manifest+json; charset=utf-8",
  ".svg": "image/svg+xml; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".xml": "application/xml; charset=utf-8",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".wasm": "application/wasm"
}
export const contentType = (file: string): string => TYPES[path.posix.extname(file).toLowerCase()] ?? "application/octet-stream"

/** A content-hashed name under assets/ (`assets/main-KQEOPNZO.js`, Vite's `assets/index-Bx_12-aB.js`): it never changes. */
const isImmutable = (file: string) => file.startsWith("assets/") && /[-.][A-Za-z0-9_-]{8,}\.[A-Za-z0-9]+$/.test(file)

/** A file name the manifest may list: plain segments, no "." or "..", no backslash, nothing that needs escaping. */
const SAFE_NAME = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]*(\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*$/
const safeName = (name: string) =>
  name.length <= SITE_LIMITS.nameLength && SAFE_NAME.test(name) && !name.split("/").some((s) => s === "." || s === "..")

interface Representation {
  readonly body: Buffer
  readonly etag: string
  /** Every header of a 200, computed once. */
  readonly headers: Readonly<Record<string, string>>
  /** The same for a 304: no length, no type. */
  readonly notModified: Readonly<Record<string, string>>
}

export interface SiteFile {
  readonly name: string
  readonly immutable: boolean
  readonly identity: Representation
  readonly gzip: Representation | undefined
  readonly br: Representation | undefined
  /** The ETags of all three representations: a revalidation with any of them is the same file. */
  readonly etags: ReadonlySet<string>
}

export interface Site {
  readonly root: string
  readonly index: SiteFile
  readonly files: ReadonlyMap<string, SiteFile>
  /** Bytes held in memory, siblings included. */
  readonly bytes: number
}

export class SiteUnavailable extends Data.TaggedError("SiteUnavailable")<{
  /** Missing: the directory or its manifest is not there (not built). Invalid: the files do not match the manifest. */
  readonly reason: "Missing" | "Invalid"
  readonly root: string
  readonly message: string
}> {}

const ManifestEntry = Schema.Struct({
  size: Schema.Number,
  gzip: Schema.NullOr(Schema.Number),
  brotli: Schema.NullOr(Schema.Number),
  sha256: Schema.String,
  /** SHA-256 of the .gz and .br siblings, which a manifest lists beside their sizes. */
  gzipSha256: Schema.optional(Schema.String),
  brotliSha256: Schema.optional(Schema.String)
})
export const SiteManifest = Schema.Struct({
  version: Schema.Literal(1),
  index: Schema.String,
  firstPage: Schema.optional(Schema.Array(Schema.String)),
  files: Schema.Record({ key: Schema.String, value: ManifestEntry })
})
export type SiteManifest = typeof SiteManifest.Type

/**
 * Reads `rel` inside `rootReal`: the real path (symlinks resolved) must stay inside the directory, be a
 * regular file, and be at most SITE_LIMITS.fileBytes. Synchronous: a handful of small files at start-up
 * is read faster so than through the thread pool.
 */
const readInside = (rootReal: string, rel: string): Buffer => {
  const real = fs.realpathSync(path.join(rootReal, ...rel.split("/")))
  if (!real.startsWith(rootReal + path.sep)) throw new Error(`${rel} leads outside the directory (a symlink to ${real})`)
  const fd = fs.openSync(real, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
  try {
    const stat = fs.fstatSync(fd)
    if (!stat.isFile()) throw new Error(`${rel} is not a regular file`)
    if (stat.size > SITE_LIMITS.fileBytes) throw new Error(`${rel} is ${stat.size} bytes, over ${SITE_LIMITS.fileBytes}`)
    return fs.readFileSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

const etagOf = (sha256: Buffer, suffix: string) => `"${sha256.subarray(0, 18).toString("base64url")}${suffix}"`

const represent = (
  name: string,
  body: Buffer,
  etag: string,
  encoding: string | undefined,
  immutable: boolean,
  headers: Readonly<Record<string, string>>
): Representation => {
  const common = {
    ...headers,
    etag,
    "cache-control": immutable ? IMMUTABLE : "no-cache",
    vary: "Accept-Encoding"
  }
  return {
    body,
    etag,
    headers: {
      ...common,
      "content-type": contentType(name),
      "content-length": String(body.length),
      ...(encoding ? { "content-encoding": encoding } : {})
    },
    notModified: common
  }
}

/**
 * Reads a built site: `root/manifest.json` and every file it lists, each checked against the manifest.
 * `headers` (securityHeaders) go on every answer.
 */
export const loadSite = (root: string, headers: Readonly<Record<string, string>>): Effect.Effect<Site, SiteUnavailable> =>
  Effect.try({
    try: (): Site => {
      const missing = (message: string) => new SiteUnavailable({ reason: "Missing", root, message })
      const invalid = (message: string) => new SiteUnavailable({ reason: "Invalid", root, message })
      let rootReal: string
      try {
        rootReal = fs.realpathSync(root)
      } catch {
        throw missing(`${root} is missing`)
      }
      let manifestText: Buffer
      try {
        manifestText = readInside(rootReal, "manifest.json")
      } catch (e) {
        throw (e as NodeJS.ErrnoException).code === "ENOENT"
          ? missing(`${path.join(root, "manifest.json")} is missing`)
          : invalid(String(e))
      }
      if (manifestText.length > SITE_LIMITS.manifestBytes) throw invalid(`manifest.json is over ${SITE_LIMITS.manifestBytes} bytes`)
      let parsed: unknown
      try {
        parsed = JSON.parse(manifestText.toString("utf8"))
      } catch (e) {
        throw invalid(`manifest.json is not JSON: ${(e as Error).message}`)
      }
      const decoded = Schema.decodeUnknownEither(SiteManifest)(parsed)
      if (Either.isLeft(decoded)) throw invalid("manifest.json is not a site manifest (version 1)")
      const manifest = decoded.right
      const entries = Object.entries(manifest.files)
      if (entries.length > SITE_LIMITS.files) throw invalid(`manifest.json lists ${entries.length} files, over ${SITE_LIMITS.files}`)
      if (manifest.files[manifest.index] === undefined) throw invalid(`manifest.json's index ${manifest.index} is not among its files`)
      let bytes = 0
      const files = new Map<string, SiteFile>()
      for (const [name, entry] of entries) {
        if (!safeName(name) || name === "manifest.json")
          throw invalid(`manifest.json lists a file name that is not allowed: ${JSON.stringify(name)}`)
        const read = (rel: string) => {
          try {
            return readInside(rootReal, rel)
          } catch (e) {
            throw (e as NodeJS.ErrnoException).code === "ENOENT" ? invalid(`${rel} is missing`) : invalid(String((e as Error).message ?? e))
          }
        }
        const body = read(name)
        const sha = createHash("sha256").update(body).digest()
        if (body.length !== entry.size || sha.toString("hex") !== entry.sha256.toLowerCase()) {
          throw invalid(`${name} does not match manifest.json (another build's file?)`)
        }
        // A sibling is served only if it is smaller, and only if it is the one the build made beside this
        // file: its size and SHA-256 as manifest.json lists them (checked by hash, not by decompressing
        // every sibling at each start).
        const sibling = (suffix: ".gz" | ".br", size: number | null, sha256: string | undefined) => {
          if (size === null) return undefined
          if (sha256 === undefined)
            throw invalid(`manifest.json lists ${name}${suffix} without its sha256 (a build older than this Gateway?)`)
          const packed = read(`${name}${suffix}`)
          if (packed.length !== size || createHash("sha256").update(packed).digest("hex") !== sha256.toLowerCase())
            throw invalid(`${name}${suffix} does not match manifest.json (another build's file?)`)
          bytes += packed.length
          return packed.length < body.length ? packed : undefined
        }
        const gz = sibling(".gz", entry.gzip, entry.gzipSha256)
        const br = sibling(".br", entry.brotli, entry.brotliSha256)
        bytes += body.length
        if (bytes > SITE_LIMITS.siteBytes) throw invalid(`the files are over ${SITE_LIMITS.siteBytes} bytes together`)
        const immutable = isImmutable(name)
        const identity = represent(name, body, etagOf(sha, ""), undefined, immutable, headers)
        const gzip = gz && represent(name, gz, etagOf(sha, "-gz"), "gzip", immutable, headers)
        const brotli = br && represent(name, br, etagOf(sha, "-br"), "br", immutable, headers)
        const etags = new Set([identity.etag, ...(gzip ? [gzip.etag] : []), ...(brotli ? [brotli.etag] : [])])
        files.set(name, { name, immutable, identity, gzip, br: brotli, etags })
      }
      const index = files.get(manifest.index)
      if (index === undefined) throw invalid(`manifest.json's index ${manifest.index} is not among its files`)
      return { root, index, files, bytes }
    },
    catch: (e) =>
      e instanceof SiteUnavailable ? e : new SiteUnavailable({ reason: "Invalid", root, message: String((e as Error)?.message ?? e) })
  })

/** Where a request under the site's basePath goes. */
export type Resolved =
  | { readonly _tag: "File"; readonly file: SiteFile }
  | { readonly _tag: "Redirect"; readonly location: string }
  | { readonly _tag: "NotFound" }
  | { readonly _tag: "BadPath"; readonly reason: string }
  | { readonly _tag: "TooLong" }

/** A last segment with an extension names a file: unknown, it is a 404, not the page. */
const HAS_EXTENSION = /\.[A-Za-z0-9]{1,10}$/

/**
 * The file for a request target (`/ui/assets/main-X.js?v=1`), under `basePath` ("/" or "/prefix/"):
 * - `/prefix` (no slash) redirects to `prefix/` (relative, so it also works behind a proxy that adds a prefix);
 * - the path after basePath is decoded once and refused if malformed, with a NUL, a control character, a
 *   backslash, a "." or ".." segment or an empty one;
 * - a file of the site is served; `…/assets/<file>` at any depth is that asset (the page's relative URLs, read
 *   at a deep link); an unknown path without an extension is the page itself (client-side routes); anything
 *   else is a 404.
 */
export const resolveRequest = (site: Site, basePath: string, url: string): Resolved => {
  if (url.length > SITE_LIMITS.urlLength) return { _tag: "TooLong" }
  const q = url.indexOf("?")
  const pathname = q === -1 ? url : url.slice(0, q)
  if (basePath !== "/" && pathname === basePath.slice(0, -1)) {
    const last = basePath.slice(0, -1).split("/").pop() ?? ""
    return { _tag: "Redirect", location: `${last}/${q === -1 ? "" : url.slice(q)}` }
  }
  if (!pathname.startsWith(basePath)) return { _tag: "NotFound" }
  let rest: string
  try {
    rest = decodeURIComponent(pathname.slice(basePath.length))
  } catch {
    return { _tag: "BadPath", reason: "a malformed %-escape" }
  }
  if (/[\u0000-\u001f\u007f]/.test(rest)) return { _tag: "BadPath", reason: "a control character" }
  if (rest.includes("\\")) return { _tag: "BadPath", reason: "a backslash" }
  const segments = rest.split("/")
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]
    if (s === "." || s === "..") return { _tag: "BadPath", reason: `a "${s}" segment` }
    if (s === "" && i < segments.length - 1) return { _tag: "BadPath", reason: "an empty segment" }
  }
  if (rest === "") return { _tag: "File", file: site.index }
  const direct = site.files.get(rest)
  if (direct) return { _tag: "File", file: direct }
  const at = segments.lastIndexOf("assets")
  if (at > 0 && at < segments.length - 1) {
    const asset = site.files.get(segments.slice(at).join("/"))
    if (asset) return { _tag: "File", file: asset }
  }
  if (HAS_EXTENSION.test(segments[segments.length - 1] ?? "")) return { _tag: "NotFound" }
  return { _tag: "File", file: site.index }
}

/** br, else gzip, else none, as the client's Accept-Encoding allows (q=0 refuses; `*` stands for the rest). */
export const pickEncoding = (header: string | ReadonlyArray<string> | undefined): "br" | "gzip" | undefined => {
  const text = (typeof header === "string" ? header : (header ?? []).join(",")).slice(0, 1024).toLowerCase()
  const weights = new Map<string, number>()
  for (const part of text.split(",")) {
    const [name, ...params] = part.split(";").map((s) => s.trim())
    if (!name) continue
    let q = 1
    for (const p of params) {
      const m = /^q=([0-9.]{1,6})$/.exec(p)
      if (m) q = Number(m[1])
    }
    weights.set(name, Number.isFinite(q) ? q : 0)
  }
  const allowed = (enc: string) => (weights.get(enc) ?? weights.get("*") ?? 0) > 0
  return allowed("br") ? "br" : allowed("gzip") ? "gzip" : undefined
}

/** If-None-Match names one of the file's ETags (weak or strong), or `*`. */
const notModified = (header: string | undefined, file: SiteFile) => {
  if (header === undefined) return false
  for (const raw of header.slice(0, 4096).split(",")) {
    const tag = raw.trim().replace(/^W\//, "")
    if (tag === "*" || file.etags.has(tag)) return true
  }
  return false
}

export interface SiteHandlerOptions {
  /** "/" or "/prefix/" (normalizeBasePath). */
  readonly basePath: string
  /** securityHeaders(csp): on every answer. */
  readonly headers: Readonly<Record<string, string>>
  /** What a 503 says when the site could not be loaded (default: the dist/ui build's advice). */
  readonly unavailable?: string | undefined
}

const UNBUILT = "Run `npm run build` in the clawgate directory (npm install runs it too), then restart the Gateway."

/**
 * Answers every request under basePath from `site`, or, when it could not be loaded, with 503 and what
 * to run. Only GET and HEAD.
 */
export const makeSiteHandler = (site: Either.Either<Site, SiteUnavailable>, options: SiteHandlerOptions): HttpHandler => {
  const { basePath, headers } = options
  const text = (req: http.IncomingMessage, res: http.ServerResponse, status: number, body: string, extra: Record<string, string> = {}) => {
    const bytes = Buffer.from(body + "\n", "utf8")
    res.writeHead(status, {
      ...headers,
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
      "content-length": String(bytes.length),
      ...extra
    })
    res.end(req.method === "HEAD" ? undefined : bytes)
  }
  const unbuilt =
    Either.isLeft(site) &&
    (options.unavailable ??
      (site.left.reason === "Missing"
        ? `The Control UI is not built: its files (dist/ui) are missing. ${UNBUILT}`
        : `The Control UI's files (dist/ui) do not match their manifest: the build is incomplete. ${UNBUILT}`))

  return (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return text(req, res, 405, "method not allowed", { allow: "GET, HEAD" })
    if (Either.isLeft(site)) return text(req, res, 503, unbuilt || "The Control UI is not available.")
    const resolved = resolveRequest(site.right, basePath, req.url ?? "/")
    switch (resolved._tag) {
      case "TooLong":
        return text(req, res, 414, `the path is over ${SITE_LIMITS.urlLength} characters`)
      case "BadPath":
        return text(req, res, 400, `bad path: ${resolved.reason}`)
      case "NotFound":
        return text(req, res, 404, "not found")
      case "Redirect":
        return text(req, res, 301, `moved to ${resolved.location}`, { location: resolved.location, "cache-control": "no-cache" })
      case "File": {
        const file = resolved.file
        const encoding = pickEncoding(req.headers["accept-encoding"])
        const rep = (encoding === "br" ? file.br : encoding === "gzip" ? file.gzip : undefined) ?? file.identity
        if (notModified(req.headers["if-none-match"], file)) {
          res.writeHead(304, rep.notModified)
          return res.end()
        }
        res.writeHead(200, rep.headers)
        return res.end(req.method === "HEAD" ? undefined : rep.body)
      }
    }
  }
}

/**
 * Bounds on a directory named by `gateway.controlUi.root` (another UI's build, such as OpenClaw's
 * dist/control-ui: ~1,800 entries, ~780 files without their .gz/.br siblings, ~37 MB).
 */
export const ROOT_LIMITS = {
  /** Directory entries looked at, siblings and directories included. */
  entries: 10_000,
  /** Files held in memory. */
  files: 4_000,
  depth: 16,
  siteBytes: 128 * 1024 * 1024,
  /** An inline <script> or <style> hashed into the CSP. */
  inlineBlocks: 64
} as const

/** The CSP of a page with inline blocks: their SHA-256 hashes beside 'self', never 'unsafe-inline'. */
export const cspWithHashes = (csp: string, scripts: ReadonlyArray<string>, styles: ReadonlyArray<string>): string =>
  csp
    .split("; ")
    .map((d) => {
      const extra = d.startsWith("script-src ") ? scripts : d.startsWith("style-src ") ? styles : []
      return extra.length === 0 ? d : `${d} ${extra.map((h) => `'sha256-${h}'`).join(" ")}`
    })
    .join("; ")

const SRC_ATTRIBUTE = /\ssrc\s*=/i

/**
 * The SHA-256 (base64) of each inline `<script>` (without a src) and `<style>` block of an HTML page, as
 * CSP hashes them: over the exact text between the tags.
 */
export const inlineHashes = (html: string): { readonly scripts: Array<string>; readonly styles: Array<string> } => {
  const hash = (text: string) => createHash("sha256").update(text, "utf8").digest("base64")
  const scripts: Array<string> = []
  const styles: Array<string> = []
  for (const m of html.matchAll(/<script(\s[^>]*)?>([\s\S]*?)<\/script\s*>/gi)) {
    if (SRC_ATTRIBUTE.test(m[1] ?? "") || !m[2]) continue
    scripts.push(hash(m[2]))
  }
  for (const m of html.matchAll(/<style(\s[^>]*)?>([\s\S]*?)<\/style\s*>/gi)) if (m[2]) styles.push(hash(m[2]))
  if (scripts.length + styles.length > ROOT_LIMITS.inlineBlocks)
    throw new Error(`it has ${scripts.length + styles.length} inline <script>/<style> blocks, over ${ROOT_LIMITS.inlineBlocks}`)
  return { scripts: [...new Set(scripts)], styles: [...new Set(styles)] }
}

/**
 * Reads a directory of static files that has no manifest (`gateway.controlUi.root`): every regular file
 * under it whose name is a plain path, at most ROOT_LIMITS; `.gz`/`.br` siblings are not read (each file
 * is served as it is). A symlink is followed only while it stays inside the directory. Each HTML file
 * gets `csp` with the hashes of its inline scripts and styles; `index.html` is the page.
 * `key` names the setting in every error (`gateway.controlUi.root`).
 */
export const loadDirectorySite = (root: string, csp: string, key: string): Effect.Effect<Site, SiteUnavailable> =>
  Effect.try({
    try: (): Site => {
      const missing = (message: string) => new SiteUnavailable({ reason: "Missing", root, message: `${key}: ${message}` })
      const invalid = (message: string) => new SiteUnavailable({ reason: "Invalid", root, message: `${key}: ${message}` })
      let rootReal: string
      try {
        rootReal = fs.realpathSync(root)
        if (!fs.statSync(rootReal).isDirectory()) throw missing(`${root} is not a directory`)
      } catch (e) {
        throw e instanceof SiteUnavailable ? e : missing(`${root} does not exist`)
      }
      if (!fs.existsSync(path.join(rootReal, "index.html"))) throw missing(`${root} has no index.html`)
      const names: Array<string> = []
      let entries = 0
      const walk = (dir: string, rel: string, depth: number) => {
        if (depth > ROOT_LIMITS.depth) throw invalid(`${rel} is nested over ${ROOT_LIMITS.depth} directories deep`)
        for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
          if (++entries > ROOT_LIMITS.entries) throw invalid(`${root} holds over ${ROOT_LIMITS.entries} entries`)
          const name = rel === "" ? d.name : `${rel}/${d.name}`
          if (!safeName(name) || d.name.endsWith(".gz") || d.name.endsWith(".br")) continue
          if (d.isDirectory()) walk(path.join(dir, d.name), name, depth + 1)
          else if (d.isFile() || d.isSymbolicLink()) names.push(name)
        }
      }
      walk(rootReal, "", 0)
      if (names.length > ROOT_LIMITS.files) throw invalid(`${root} holds ${names.length} files, over ${ROOT_LIMITS.files}`)
      const base = securityHeaders(csp)
      let bytes = 0
      const files = new Map<string, SiteFile>()
      for (const name of names) {
        let body: Buffer
        try {
          body = readInside(rootReal, name)
        } catch (e) {
          throw invalid(String((e as Error).message ?? e))
        }
        bytes += body.length
        if (bytes > ROOT_LIMITS.siteBytes) throw invalid(`the files under ${root} are over ${ROOT_LIMITS.siteBytes} bytes together`)
        let headers = base
        if (name.endsWith(".html")) {
          try {
            const { scripts, styles } = inlineHashes(body.toString("utf8"))
            headers = securityHeaders(cspWithHashes(csp, scripts, styles))
          } catch (e) {
            throw invalid(`${name}: ${(e as Error).message}`)
          }
        }
        const sha = createHash("sha256").update(body).digest()
        const immutable = isImmutable(name)
        const identity = represent(name, body, etagOf(sha, ""), undefined, immutable, headers)
        files.set(name, { name, immutable, identity, gzip: undefined, br: undefined, etags: new Set([identity.etag]) })
      }
      const index = files.get("index.html")
      if (index === undefined) throw missing(`${root} has no index.html`)
      return { root, index, files, bytes }
    },
    catch: (e) =>
      e instanceof SiteUnavailable
        ? e
        : new SiteUnavailable({ reason: "Invalid", root, message: `${key}: ${String((e as Error)?.message ?? e)}` })
  })
