import { describe, expect, it } from "@effect/vitest"
import { Redacted } from "effect"
import { resolveTarget } from "../../src/config/target.js"
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

describe("the client's credential", () => {
  it("is Redacted from the flag, env or config to the connect frame: a Target printed or serialised shows nothing", () => {
    const secret = "a-client-token-that-must-not-leak-0002"
    const password = "a-client-password-that-must-not-leak"
    for (const target of [
      resolveTarget({ url: "wss://gw.example:443", token: secret }, {}, {}),
      resolveTarget({}, { gateway: { mode: "remote", remote: { url: "wss://gw.example:443", token: secret } } }, {}),
      resolveTarget({}, {}, { token: { name: "CLAWGATE_GATEWAY_TOKEN", value: secret } })
    ]) {
      expect(target.token && Redacted.value(target.token)).toBe(secret)
      for (const shown of [String(target.token), JSON.stringify(target), `${target.token}`]) expect(shown).not.toContain(secret)
    }
    const p = resolveTarget({ url: "wss://gw.example:443", password }, {}, {})
    expect(JSON.stringify(p)).not.toContain(password)
  })
})
