/**
 * docs/protocol.md's list of OpenClaw's methods (served, empty truths, not served) is rendered
 * from the method table and OpenClaw 2026.9.6's own list (test/fixtures, checked against the real
 * package by the interop suite). A method added to the table without the docs fails here;
 * `CLAWGATE_UPDATE_DOCS=1 npx vitest run test/protocol/method-coverage.test.ts` rewrites the section.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { coverage, EMPTY_TRUTHS, renderCoverage } from "../../src/protocol/methodCoverage.js"
import { Methods } from "../../src/protocol/methods.js"

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const OPENCLAW_METHODS_FIXTURE = path.join(ROOT, "test/fixtures/openclaw-2026.9.6-methods.txt")
const DOC = path.join(ROOT, "docs/protocol.md")
const START = "<!-- method-coverage:start -->"
const END = "<!-- method-coverage:end -->"

describe("docs/protocol.md's method coverage", () => {
  const openclaw = fs.readFileSync(OPENCLAW_METHODS_FIXTURE, "utf8").split("\n").filter(Boolean)
  const table = Object.keys(Methods)

  it("every empty truth is a method clawgate serves and OpenClaw has", () => {
    for (const m of Object.keys(EMPTY_TRUTHS)) {
      expect(table, m).toContain(m)
      expect(openclaw, m).toContain(m)
    }
  })

  it("the section in docs/protocol.md is the one the table renders", () => {
    const rendered = renderCoverage("2026.9.6", coverage(openclaw, table))
    const doc = fs.readFileSync(DOC, "utf8")
    const a = doc.indexOf(START)
    const b = doc.indexOf(END)
    expect(a, `docs/protocol.md needs the markers ${START} … ${END}`).toBeGreaterThan(-1)
    const current = doc.slice(a + START.length, b).trim()
    if (current !== rendered && process.env.CLAWGATE_UPDATE_DOCS === "1") {
      fs.writeFileSync(DOC, `${doc.slice(0, a + START.length)}\n${rendered}\n${doc.slice(b)}`)
      return
    }
    expect(current, "run CLAWGATE_UPDATE_DOCS=1 npx vitest run test/protocol/method-coverage.test.ts").toBe(rendered)
  })
})
