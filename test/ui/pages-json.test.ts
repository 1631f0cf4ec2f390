/** The Nodes page's params editor: JSON checked in the browser, each mistake at its line and column. */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { checkJson, lineColumn, MAX_JSON_DEPTH } from "../../src/ui/pages/lib/json.js"
import { checkTimeout, invokeParams, invokePayloadText, nodeErrorOf } from "../../src/ui/pages/lib/nodes.js"
import { newIdempotencyKey } from "../../src/ui/pages/lib/ids.js"

const failure = (text: string) => {
  const r = checkJson(text)
  if (r.ok) throw new Error(`expected a failure for ${text}`)
  return r
}

describe("checkJson", () => {
  it("blank is no params; valid JSON gives its value", () => {
    expect(checkJson("  \n ")).toEqual({ ok: true, value: undefined, empty: true })
    expect(checkJson('{"command": "ls", "n": [1, 2.5e3, true, null]}')).toEqual({
      ok: true,
      value: { command: "ls", n: [1, 2500, true, null] },
      empty: false
    })
  })

  it("names the line and column of a mistake, in words that say what to fix", () => {
    const missingComma = failure('{\n  "a": 1\n  "b": 2\n}')
    expect([missingComma.line, missingComma.column]).toEqual([3, 3])
    expect(missingComma.message).toBe('expected "," or "}" after a property value, found """')
    const trailing = failure('{\n  "a": 1,\n}')
    expect(trailing.line).toBe(3)
    expect(trailing.message).toContain("trailing")
    const single = failure("{'a': 1}")
    expect(single.message).toContain("double quotes")
    const open = failure('{"a": "never closed}')
    expect([open.line, open.column]).toEqual([1, 7])
    expect(open.message).toContain("never closed")
    expect(failure("[1, 2] 3").message).toContain("only one value")
    expect(failure('"a\nb"').message).toContain("line break inside a string")
    expect(failure("01").message).toContain("after the value")
  })

  it("refuses nesting deeper than the bound instead of overflowing the stack", () => {
    const deep = "[".repeat(MAX_JSON_DEPTH + 2) + "]".repeat(MAX_JSON_DEPTH + 2)
    expect(failure(deep).message).toContain("nested deeper")
    expect(failure("[".repeat(100_000)).message).toContain("nested deeper")
  })

  it("accepts exactly what JSON.parse accepts", () => {
    const agrees = (text: string) => {
      let parsed = true
      try {
        JSON.parse(text)
      } catch {
        parsed = false
      }
      return text.trim() === "" || checkJson(text).ok === parsed
    }
    FastCheck.assert(
      FastCheck.property(FastCheck.json({ depthSize: "small" }), (text) => agrees(text)),
      { numRuns: 300 }
    )
    // Broken variants: a character dropped or inserted somewhere in valid JSON.
    FastCheck.assert(
      FastCheck.property(
        FastCheck.json({ depthSize: "small" }),
        FastCheck.nat(),
        FastCheck.constantFrom(",", "}", "]", '"', ":", "x", " ", "\n", "'"),
        (text, at, ch) => {
          const i = at % (text.length + 1)
          return agrees(text.slice(0, i) + ch + text.slice(i)) && agrees(text.slice(0, i) + text.slice(i + 1))
        }
      ),
      { numRuns: 500 }
    )
  })

  it("lineColumn counts from 1", () => {
    expect(lineColumn("ab\ncd", 0)).toEqual({ line: 1, column: 1 })
    expect(lineColumn("ab\ncd", 4)).toEqual({ line: 2, column: 2 })
  })
})

describe("the invoke form", () => {
  it("timeout: blank is the Gateway's default, otherwise whole milliseconds within its bound", () => {
    expect(checkTimeout("")).toEqual({ ok: true, value: undefined })
    expect(checkTimeout(" 5000 ")).toEqual({ ok: true, value: 5000 })
    expect(checkTimeout("1.5").ok).toBe(false)
    expect(checkTimeout("0").ok).toBe(false)
    expect(checkTimeout("600001").ok).toBe(false)
  })

  it("sends params and a timeout only when given", () => {
    expect(invokeParams({ nodeId: "n", command: "system.info", params: undefined, timeoutMs: undefined, idempotencyKey: "k" })).toEqual({
      nodeId: "n",
      command: "system.info",
      idempotencyKey: "k"
    })
    expect(invokeParams({ nodeId: "n", command: "c", params: { a: 1 }, timeoutMs: 10, idempotencyKey: "k" })).toMatchObject({
      params: { a: 1 },
      timeoutMs: 10
    })
  })

  it("shows the payload, or the payloadJSON it came as, pretty-printed; and the node's own error", () => {
    expect(invokePayloadText({ ok: true, payload: { a: 1 }, payloadJSON: null }).text).toBe('{\n  "a": 1\n}')
    expect(invokePayloadText({ ok: true, payload: null, payloadJSON: '{"b":2}' }).text).toBe('{\n  "b": 2\n}')
    const big = invokePayloadText({ payload: "x".repeat(300_000) })
    expect(big.cut).toBe(true)
    expect(nodeErrorOf({ code: "X", nodeError: { code: "TIMEOUT", message: "took too long" } })).toEqual({
      code: "TIMEOUT",
      message: "took too long"
    })
    expect(nodeErrorOf({ code: "X" })).toBeUndefined()
  })

  it("idempotency keys: randomUUID where there is one, else 16 random bytes as hex", () => {
    expect(newIdempotencyKey({ randomUUID: () => "uuid-1" })).toBe("uuid-1")
    const hex = newIdempotencyKey({
      getRandomValues: <T extends Uint8Array>(a: T) => {
        a.fill(0xab)
        return a
      }
    })
    expect(hex).toBe("ab".repeat(16))
    expect(newIdempotencyKey()).not.toBe(newIdempotencyKey())
    expect(() => newIdempotencyKey({})).toThrow(/random/)
  })
})
