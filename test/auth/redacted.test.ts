import { describe, expect, it } from "@effect/vitest"
import { Redacted } from "effect"
import { resolveServerAuth } from "../../src/services/Auth.js"

describe("the Gateway's own secret", () => {
  it("is Redacted from the config to the comparison: printed, logged or serialised it shows nothing", () => {
    const secret = "a-long-random-token-that-must-not-leak-0001"
    const r = resolveServerAuth({ gateway: { auth: { token: secret } } }, {}, {})
    expect(r.tokenSource).toBe("gateway.auth.token")
    expect(r.token && Redacted.value(r.token)).toBe(secret)
    for (const shown of [String(r.token), JSON.stringify(r), `${r.token}`]) expect(shown).not.toContain(secret)
    const p = resolveServerAuth(
      { gateway: { auth: { mode: "password" } } },
      { password: { name: "CLAWGATE_GATEWAY_PASSWORD", value: "hunter2-but-longer" } },
      {}
    )
    expect(p.passwordSource).toBe("CLAWGATE_GATEWAY_PASSWORD")
    expect(JSON.stringify(p)).not.toContain("hunter2")
  })
})
