/**
 * The pages' scope checks and error descriptions, held to the Gateway's own
 * method table: a method whose scope changes there fails here.
 */
import { describe, expect, it } from "@effect/vitest"
import { Methods, requirementOf } from "../../src/protocol/methods.js"
import { MAX_INVOKE_TIMEOUT_MS } from "../../src/protocol/methods/nodes.js"
import { scopeSatisfies } from "../../src/protocol/scopes.js"
import { MAX_INVOKE_TIMEOUT_MS_UI } from "../../src/ui/pages/lib/limits.js"
import { describeError, mayCall, METHOD_SCOPES, missingScopeHint, offers, scopeOf } from "../../src/ui/pages/lib/scopes.js"

describe("METHOD_SCOPES", () => {
  it("says the same scope as the Gateway's method table for every method the table has", () => {
    const served = new Set(Object.keys(Methods))
    const checked = Object.keys(METHOD_SCOPES).filter((m) => served.has(m))
    expect(checked.length).toBeGreaterThanOrEqual(15)
    for (const m of checked) {
      const r = requirementOf(m)
      expect(scopeOf(m), m).toBe(r._tag === "Scope" ? r.scope : undefined)
    }
  })

  it("a method the pages do not know is treated as admin-only, as the Gateway treats it", () => {
    expect(scopeOf("something.new")).toBe("operator.admin")
    expect(requirementOf("something.new")).toEqual({ _tag: "Scope", scope: "operator.admin" })
  })

  it("the invoke form's timeout bound is the Gateway's", () => {
    expect(MAX_INVOKE_TIMEOUT_MS_UI).toBe(MAX_INVOKE_TIMEOUT_MS)
  })
})

describe("mayCall", () => {
  const can = (granted: Array<string>) => (scope: string) => scopeSatisfies(granted, scope)

  it("read-only browsers read but do not invoke, pair or save; admin does everything", () => {
    const read = can(["operator.read"])
    expect(["status", "node.list", "logs.tail", "config.get", "health"].every((m) => mayCall(read, m))).toBe(true)
    expect(["node.invoke", "device.pair.approve", "config.set", "channels.logout"].some((m) => mayCall(read, m))).toBe(false)
    expect(mayCall(can(["operator.write"]), "node.invoke")).toBe(true)
    expect(mayCall(can(["operator.write"]), "node.list")).toBe(true)
    expect(mayCall(can(["operator.pairing"]), "device.token.rotate")).toBe(true)
    expect(mayCall(can(["operator.pairing"]), "node.list")).toBe(false)
    expect(Object.keys(METHOD_SCOPES).every((m) => mayCall(can(["operator.admin"]), m))).toBe(true)
    expect(mayCall(can([]), "health")).toBe(true)
  })

  it("offers: only what hello-ok lists", () => {
    const hello = { features: { methods: ["health", "channels.status"] } }
    expect(offers(hello, "channels.status")).toBe(true)
    expect(offers(hello, "channels.logout")).toBe(false)
    expect(offers(undefined, "health")).toBe(false)
  })
})

describe("describeError", () => {
  it("MISSING_SCOPE names the scope this browser lacks and the commands that grant it", () => {
    const v = describeError({
      code: "FORBIDDEN",
      message: "missing scope: operator.admin",
      details: { code: "MISSING_SCOPE", missingScope: "operator.admin", requiredScopes: ["operator.admin"] }
    })
    expect(v.title).toBe("Not allowed: this browser lacks operator.admin")
    expect(v.hint).toContain("This browser was paired without operator.admin")
    expect(v.commands).toEqual(["clawgate devices list", "clawgate devices approve <requestId>"])
    expect(v.missingScope).toBe("operator.admin")
    // Without details, the message still names it.
    expect(describeError({ code: "FORBIDDEN", message: "missing scope: operator.pairing" }).missingScope).toBe("operator.pairing")
    expect(missingScopeHint("operator.write").text).toContain("operator.write")
  })

  it("an unknown method, a dropped connection and anything thrown", () => {
    expect(
      describeError({ code: "INVALID_REQUEST", message: "unknown method: config.validate" }, { method: "config.validate" }).title
    ).toBe("This Gateway does not offer config.validate")
    expect(describeError({ code: "UNAVAILABLE", message: "not connected" }, { connected: false }).title).toBe("Not connected")
    // UNAVAILABLE while connected is the Gateway's own answer (a node offline): its message is what counts.
    const node = describeError(
      { code: "UNAVAILABLE", message: "node not connected", details: { code: "NOT_CONNECTED" } },
      { connected: true }
    )
    expect([node.title, node.message, node.detailCode]).toEqual(["The Gateway refused: UNAVAILABLE", "node not connected", "NOT_CONNECTED"])
    expect(describeError(new Error("boom")).message).toBe("boom")
    expect(describeError("text").message).toBe("text")
    expect(describeError(undefined).message).toBe("something went wrong")
    expect(describeError({ code: "X", message: "m".repeat(10_000) }).message.length).toBeLessThanOrEqual(2000)
  })
})
