/**
 * The list of OpenClaw's methods that docs/protocol.md's coverage is rendered from
 * (test/fixtures/openclaw-2026.9.6-methods.txt) is the real package's own list: asked of the
 * installed OpenClaw, with the Node 24 it needs.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { INTEROP_DIR, NODE24, OPENCLAW_VERSION, ROOT, unavailableReason } from "./openclaw-support.js"

describe.skipIf(unavailableReason !== undefined)(`OpenClaw ${OPENCLAW_VERSION}'s method list`, () => {
  it("is the list the docs' coverage is rendered from", () => {
    const dist = path.join(INTEROP_DIR, "node_modules/openclaw/dist")
    const file = fs
      .readdirSync(dist)
      .filter((f) => /^method-scopes-.*\.mjs$/.test(f))
      .find((f) => fs.readFileSync(path.join(dist, f), "utf8").includes("listCoreAdvertisedGatewayMethodNames as "))
    expect(file, "OpenClaw's module that exports listCoreAdvertisedGatewayMethodNames").toBeDefined()
    const text = fs.readFileSync(path.join(dist, file!), "utf8")
    const alias = /listCoreAdvertisedGatewayMethodNames as ([\w$]+)/.exec(text)?.[1]
    expect(alias, "the export of listCoreAdvertisedGatewayMethodNames").toBeDefined()
    const r = spawnSync(
      NODE24,
      [
        "--input-type=module",
        "-e",
        `const m = await import(${JSON.stringify(path.join(dist, file!))}); process.stdout.write(m[${JSON.stringify(alias)}]().join("\\n") + "\\n")`
      ],
      { encoding: "utf8", timeout: 60_000 }
    )
    expect(r.status, r.stderr).toBe(0)
    const fixture = fs.readFileSync(path.join(ROOT, "test/fixtures/openclaw-2026.9.6-methods.txt"), "utf8")
    expect(r.stdout).toBe(fixture)
  })
})
