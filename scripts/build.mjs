// Bundles the CLI into one ESM file so a one-shot command loads a single module
// instead of hundreds: this is what keeps `clawgate gateway health` and cold start fast.
import { rm } from "node:fs/promises"
import { build } from "esbuild"

// Chunks are named by their content hash: without this, every build would leave the last one's behind.
await rm("dist", { recursive: true, force: true })

await build({
  entryPoints: ["src/bin.ts"],
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // CLAWGATE_BUILD_PROFILE=1: readable names in CPU profiles (bench --gateway-node-args "--cpu-prof").
  minify: process.env.CLAWGATE_BUILD_PROFILE !== "1",
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
  // better-sqlite3 is a native addon: it is loaded from node_modules, not bundled.
  // The Anthropic provider pulls in tokenizers that find their WASM next to their own files (__dirname):
  // they are loaded from node_modules, and only when that provider is used.
  external: ["bufferutil", "utf-8-validate", "better-sqlite3", "@effect/ai-anthropic", "@effect/ai-openai"],
  banner: {
    // `ws` and a few CommonJS dependencies call require(); give the ESM bundle one.
    js: "import { createRequire as __cgCreateRequire } from 'node:module'; const require = __cgCreateRequire(import.meta.url);"
  }
})
