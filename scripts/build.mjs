// Bundles the CLI into one ESM file so a one-shot command loads a single module
// instead of hundreds: this is what keeps `clawgate gateway health` and cold start fast.
// Beside it, the Control UI (src/ui) is bundled for the browser into dist/ui/: hashed, immutable
// assets, an index.html that names them by relative URL, .gz and .br siblings of every text file,
// and manifest.json (sizes and SHA-256 of each file), which the Gateway and the benchmarks read.
import { createHash } from "node:crypto"
import { mkdir, readFile, rm, writeFile } from "node:fs/promises"
import path from "node:path"
import { promisify } from "node:util"
import zlib from "node:zlib"
import { build, transform } from "esbuild"
import { effectDeepImports } from "./effect-deep-imports.mjs"

// CLAWGATE_BUILD_PROFILE=1: readable names in CPU profiles (bench --gateway-node-args "--cpu-prof"), and
// an unminified Control UI with source maps.
const PROFILE = process.env.CLAWGATE_BUILD_PROFILE === "1"
const UI_DIR = "dist/ui"

// Chunks are named by their content hash: without this, every build would leave the last one's behind.
await rm("dist", { recursive: true, force: true })

/**
 * The CLI, in two steps. esbuild bundles src/bin.ts as ESM with code splitting (a command loads only
 * the chunks it imports); then each chunk is turned into CommonJS (`.cjs`, dynamic import() becoming
 * require()), because Node 20 can keep V8's compiled code of a CommonJS file between runs and not of
 * an ES module: bin/clawgate.mjs compiles every chunk with a code cache (see src/bootstrap/), which
 * takes most of the parsing and compiling off each start.
 */
const buildCli = async () => {
  const esm = await build({
    entryPoints: ["src/bin.ts"],
    outdir: "dist",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    minify: !PROFILE,
    legalComments: "none",
    logLevel: "warning",
    write: false,
    // better-sqlite3 is a native addon: it is loaded from node_modules, not bundled.
    // The Anthropic provider pulls in tokenizers that find their WASM next to their own files (__dirname):
    // they are loaded from node_modules (their CommonJS build), and only when that provider is used.
    external: ["bufferutil", "utf-8-validate", "better-sqlite3", "@effect/ai-anthropic", "@effect/ai-openai"],
    // import.meta.url in the chunks (the Control UI finds dist/ui beside them) is the .cjs file's URL.
    define: { "import.meta.url": "__cgImportMetaUrl" },
    plugins: [unusedCliFileFormats, effectDeepImports]
  })
  await mkdir("dist", { recursive: true })
  const rename = (file) => file.replace(/\.js$/, ".cjs")
  await Promise.all(
    esm.outputFiles.map(async (out) => {
      const cjs = await transform(out.text, {
        format: "cjs",
        loader: "js",
        platform: "node",
        target: "node20",
        minify: !PROFILE,
        legalComments: "none",
        // import("./chunk.js") becomes a require() of its .cjs twin, so every chunk goes through the code cache.
        supported: { "dynamic-import": false },
        banner: 'var __cgImportMetaUrl = require("node:url").pathToFileURL(__filename).href;'
      })
      const code = cjs.code.replace(/(["'])\.\/([\w.-]+)\.js\1/g, (_, q, name) => `${q}./${name}.cjs${q}`)
      await writeFile(rename(out.path), code)
    })
  )
}

/**
 * @effect/cli can read option values from YAML, TOML and INI files (Options.file*), which no clawgate
 * command uses; their parsers would be a sixth of what every command loads. They are left out.
 */
const unusedCliFileFormats = {
  name: "unused-cli-file-formats",
  setup(b) {
    b.onResolve({ filter: /^(yaml|toml|ini)$/ }, (args) =>
      args.importer.includes("@effect/cli") ? { path: args.path, namespace: "unused-format" } : undefined
    )
    b.onLoad({ filter: /.*/, namespace: "unused-format" }, (args) => ({
      contents: `const no = () => { throw new Error("clawgate does not read ${args.path} option files") }; export const parse = no, stringify = no; export default { parse: no, stringify: no };`,
      loader: "js"
    }))
  }
}

/** Already-compressed formats get no .gz/.br siblings. */
const COMPRESSIBLE = /\.(html|js|mjs|css|json|svg|txt|map|webmanifest|xml|wasm)$/
const gzip = promisify(zlib.gzip)
const brotli = promisify(zlib.brotliCompress)

const escapeAttr = (s) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;")

/** A small icon, so the browser does not ask for /favicon.ico (img-src 'self'). */
const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1f6feb"/><path d="M9 23V9h4v11h5v3zm10 0V9h4v14z" fill="#fff"/></svg>\n`

const indexHtml = ({ css, js, preload, integrity, favicon }) => {
  const attr = (file) => ` integrity="${escapeAttr(integrity.get(file))}"`
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light dark">',
    '<meta name="referrer" content="no-referrer">',
    "<title>clawgate</title>",
    `<link rel="icon" href="./${favicon}" type="image/svg+xml">`,
    // Relative URLs: the page works under any gateway.controlUi.basePath, and behind a proxy that adds a prefix.
    ...css.map((f) => `<link rel="stylesheet" href="./${escapeAttr(f)}"${attr(f)}>`),
    ...preload.map((f) => `<link rel="modulepreload" href="./${escapeAttr(f)}"${attr(f)}>`),
    ...js.map((f) => `<script type="module" src="./${escapeAttr(f)}"${attr(f)}></script>`),
    "</head>",
    "<body>",
    '<div id="app"></div>',
    "<noscript>The clawgate Control UI needs JavaScript. Everything it does can also be done with the CLI: npx clawgate --help</noscript>",
    "</body>",
    "</html>",
    ""
  ].join("\n")
}

const buildUi = async () => {
  const result = await build({
    entryPoints: { main: "src/ui/main.tsx" },
    outdir: UI_DIR,
    // Content-hashed names: served with a one-year immutable cache lifetime.
    entryNames: "assets/[name]-[hash]",
    chunkNames: "assets/chunk-[hash]",
    assetNames: "assets/[name]-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "browser",
    target: ["es2022", "chrome100", "firefox100", "safari15"],
    tsconfig: "src/ui/tsconfig.json",
    jsx: "automatic",
    jsxImportSource: "preact",
    define: { "process.env.NODE_ENV": '"production"' },
    loader: { ".svg": "file", ".png": "file", ".webp": "file", ".woff2": "file", ".woff": "file" },
    charset: "utf8",
    minify: !PROFILE,
    sourcemap: PROFILE ? "linked" : false,
    legalComments: "none",
    metafile: true,
    logLevel: "warning"
  })
  const outputs = result.metafile.outputs
  const rel = (file) => path.relative(UI_DIR, file).split(path.sep).join("/")
  const [mainOut, main] = Object.entries(outputs).find(([, o]) => o.entryPoint === "src/ui/main.tsx") ?? []
  if (main === undefined) throw new Error("the Control UI build produced no output for src/ui/main.tsx")
  // The chunks main.js imports statically are fetched before it runs: preload them alongside it.
  const preload = []
  const visit = (file) => {
    for (const imp of outputs[file]?.imports ?? []) {
      if (imp.kind !== "import-statement" || imp.external || preload.includes(rel(imp.path))) continue
      preload.push(rel(imp.path))
      visit(imp.path)
    }
  }
  visit(mainOut)
  const page = { js: [rel(mainOut)], css: main.cssBundle ? [rel(main.cssBundle)] : [], preload }

  // Hashed and under assets/ like the rest: the page finds it by the same relative URL at a deep link too.
  const favicon = `assets/favicon-${createHash("sha256").update(FAVICON).digest("hex").slice(0, 8).toUpperCase()}.svg`
  await writeFile(path.join(UI_DIR, favicon), FAVICON)
  const files = [...Object.keys(outputs).map(rel), favicon]
  const integrity = new Map()
  for (const f of [...page.js, ...page.css, ...page.preload]) {
    integrity.set(
      f,
      `sha384-${createHash("sha384")
        .update(await readFile(path.join(UI_DIR, f)))
        .digest("base64")}`
    )
  }
  await writeFile(path.join(UI_DIR, "index.html"), indexHtml({ ...page, integrity, favicon }))
  files.push("index.html")

  // Precompressed siblings, so the Gateway never compresses at run time.
  const entries = await Promise.all(
    files.sort().map(async (f) => {
      const body = await readFile(path.join(UI_DIR, f))
      const entry = { size: body.length, gzip: null, brotli: null, sha256: createHash("sha256").update(body).digest("hex") }
      if (COMPRESSIBLE.test(f)) {
        const [gz, br] = await Promise.all([
          gzip(body, { level: 9 }),
          brotli(body, {
            params: {
              [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
              [zlib.constants.BROTLI_PARAM_QUALITY]: zlib.constants.BROTLI_MAX_QUALITY,
              [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length
            }
          })
        ])
        await Promise.all([writeFile(path.join(UI_DIR, `${f}.gz`), gz), writeFile(path.join(UI_DIR, `${f}.br`), br)])
        entry.gzip = gz.length
        entry.brotli = br.length
        // The Gateway checks each sibling against these at start instead of decompressing it.
        entry.gzipSha256 = createHash("sha256").update(gz).digest("hex")
        entry.brotliSha256 = createHash("sha256").update(br).digest("hex")
      }
      return [f, entry]
    })
  )
  const manifest = {
    version: 1,
    index: "index.html",
    // What the first page loads before it runs: the benchmark's budget (150 KB compressed) is for these.
    firstPage: [...page.css, ...page.js, ...page.preload],
    files: Object.fromEntries(entries)
  }
  await writeFile(path.join(UI_DIR, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n")
}

await Promise.all([buildCli(), buildUi()])
