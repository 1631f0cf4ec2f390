/** The Config page: each issue the Gateway's own schema reports, found at its line in the editor's text (JSON or JSON5). */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import JSON5 from "json5"
import { validateConfig } from "../../src/config/schema.js"
import { issueLine, lineOfIssue, parseIssuePath, readIssues } from "../../src/ui/pages/lib/configPaths.js"

const lineWith = (text: string, needle: string) => text.split("\n").findIndex((l) => l.includes(needle)) + 1

describe("parseIssuePath", () => {
  it("splits keys on dots and reads array positions", () => {
    expect(parseIssuePath("gateway.trustedProxies[2]")).toEqual(["gateway", "trustedProxies", 2])
    expect(parseIssuePath("channels.telegram.allowFrom[0]")).toEqual(["channels", "telegram", "allowFrom", 0])
    expect(parseIssuePath("(root)")).toEqual([])
    expect(parseIssuePath("(file)")).toEqual([])
    expect(parseIssuePath("")).toEqual([])
  })
})

describe("lineOfIssue", () => {
  const config = {
    gateway: {
      port: "eighteen",
      bind: "everywhere",
      trustedProxies: ["127.0.0.1", "10.0.0.1", 7],
      auth: { mode: "token", token: "__CLAWGATE_REDACTED__" },
      nonsense: true
    },
    agents: { defaults: { model: "offline" } }
  }

  it("marks the key of every issue the real schema reports, in the JSON the page edits", () => {
    const text = JSON.stringify(config, null, 2)
    const result = validateConfig(config)
    expect(Either.isLeft(result)).toBe(true)
    const issues = Either.isLeft(result) ? result.left : []
    expect(issues.length).toBeGreaterThanOrEqual(3)
    for (const issue of issues) {
      const line = lineOfIssue(text, issue.path)
      expect(line, `${issue.path}: ${issue.message}`).toBeDefined()
      const last =
        issue.path
          .split(".")
          .at(-1)
          ?.replace(/\[\d+\]$/, "") ?? ""
      expect(text.split("\n")[(line ?? 1) - 1], issue.path).toMatch(new RegExp(`"${last}"|^\\s*7,?$`))
    }
    expect(lineOfIssue(text, "gateway.trustedProxies[2]")).toBe(lineWith(text, "      7"))
    expect(lineOfIssue(text, "gateway.bind")).toBe(lineWith(text, '"bind"'))
  })

  it("reads JSON5: comments, unquoted and single-quoted keys, trailing commas", () => {
    const text = `// clawgate
{
  gateway: {
    /* where to listen */ bind: 'lan', // a comment with "bind" in it
    'port': 18789,
    trustedProxies: [
      '127.0.0.1',
      "x",
    ],
  },
}
`
    expect(JSON5.parse(text)).toBeTruthy()
    expect(lineOfIssue(text, "gateway.bind")).toBe(4)
    expect(lineOfIssue(text, "gateway.port")).toBe(5)
    expect(lineOfIssue(text, "gateway.trustedProxies[1]")).toBe(8)
  })

  it("a key that is missing from the text marks its nearest parent; nothing at all when even the first is missing", () => {
    const text = JSON.stringify({ gateway: { auth: {} }, channels: {} }, null, 2)
    expect(lineOfIssue(text, "gateway.auth.token")).toBe(lineWith(text, '"auth"'))
    expect(lineOfIssue(text, "agents.defaults")).toBeUndefined()
    expect(lineOfIssue(text, "(root)")).toBeUndefined()
  })

  it("does not match a key of the same name in another object, or a string value that looks like the key", () => {
    const text = JSON.stringify({ a: { port: 1, note: "port" }, gateway: { port: 2 } }, null, 2)
    expect(lineOfIssue(text, "gateway.port")).toBe(lineWith(text, '"port": 2'))
  })

  it("never throws on text it cannot follow", () => {
    for (const text of ["", "{", "{gateway: [", "}}}", '{"gateway": {"bind": }', "/* never closed", "'open"]) {
      expect(() => lineOfIssue(text, "gateway.bind")).not.toThrow()
    }
    expect(lineOfIssue('{"gateway": {"bind": ', "gateway.bind")).toBe(1)
  })

  it("a syntax error of the whole file is marked at the line its message names", () => {
    const text = "{\n  gateway: {\n    bind: lan\n  }\n}\n"
    let message = ""
    try {
      JSON5.parse(text)
    } catch (e) {
      message = (e as Error).message
    }
    expect(issueLine(text, { path: "(file)", message })).toBe(3)
    expect(issueLine(text, { path: "(file)", message: "bad at line 2" })).toBe(2)
    expect(issueLine(text, { path: "(file)", message: "line 99" })).toBeUndefined()
  })

  it("reads issues from an answer without trusting it", () => {
    expect(readIssues([{ path: "a", message: "m" }, { message: "no path" }, { path: "p" }, 7, null])).toEqual([
      { path: "a", message: "m" },
      { path: "(file)", message: "no path" }
    ])
    expect(readIssues("x")).toEqual([])
  })
})
