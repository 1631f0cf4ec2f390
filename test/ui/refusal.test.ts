/** What the page does with each refusal of `connect`, and with a socket that closed before any answer. */
import { describe, expect, it } from "@effect/vitest"
import { decideEarlyClose, decideRefusal, LINK_USED, REFUSED_UPGRADES_BEFORE_FAILING } from "../../src/ui/client/refusal.js"

const err = (code: string, detail?: string, extra: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => ({
  code,
  message: `refused (${detail ?? code})`,
  details: detail ? { code: detail, ...extra } : undefined,
  ...top
})

describe("refusals of connect", () => {
  it("pairing: shows the request id to approve (and only an id a shell takes as it is)", () => {
    expect(decideRefusal(err("NOT_PAIRED", "PAIRING_REQUIRED", { requestId: "5f1c-77" }), "token")).toEqual({
      _tag: "pairing",
      requestId: "5f1c-77"
    })
    expect(decideRefusal(err("NOT_PAIRED", "PAIRING_REQUIRED", { requestId: "x; rm -rf /" }), "token")).toEqual({
      _tag: "pairing",
      requestId: ""
    })
  })

  it("a wrong or missing token or password goes back to the login form, saying what to do", () => {
    const wrong = decideRefusal(err("INVALID_REQUEST", "AUTH_TOKEN_MISMATCH"), "token")
    expect(wrong).toMatchObject({ _tag: "login", prefer: "token" })
    expect(wrong._tag === "login" && wrong.error).toContain("clawgate config get gateway.auth.token --show-secrets")
    expect(decideRefusal(err("INVALID_REQUEST", "AUTH_PASSWORD_MISMATCH"), "password")).toMatchObject({ _tag: "login", prefer: "password" })
    // Nothing presented yet: the form, without an error.
    expect(decideRefusal(err("INVALID_REQUEST", "AUTH_TOKEN_MISSING"), "none")).toEqual({ _tag: "login", prefer: "token" })
    expect(decideRefusal(err("INVALID_REQUEST", "AUTH_PASSWORD_MISSING"), "none")).toEqual({ _tag: "login", prefer: "password" })
    // A password typed where the Gateway wants a token.
    const kind = decideRefusal(err("INVALID_REQUEST", "AUTH_TOKEN_MISSING"), "password")
    expect(kind._tag === "login" && kind.error).toContain("token, not a password")
  })

  it("a revoked or rotated device token is forgotten and the login form says why", () => {
    const d = decideRefusal(err("INVALID_REQUEST", "AUTH_DEVICE_TOKEN_MISMATCH"), "deviceToken")
    expect(d).toMatchObject({ _tag: "login", forgetDeviceToken: true })
    expect(d._tag === "login" && d.error).toContain("revoked or rotated")
  })

  it("a device token holding fewer scopes asks again for exactly those", () => {
    expect(
      decideRefusal(err("INVALID_REQUEST", "AUTH_SCOPE_MISMATCH", { grantedScopes: ["operator.read", "bogus"] }), "deviceToken")
    ).toEqual({ _tag: "narrowScopes", scopes: ["operator.read"] })
  })

  it("a used or expired one-time link says to run clawgate dashboard again", () => {
    expect(decideRefusal(err("INVALID_REQUEST", "AUTH_BOOTSTRAP_TOKEN_INVALID"), "bootstrapToken")).toEqual({
      _tag: "login",
      error: LINK_USED
    })
    expect(decideRefusal(err("INVALID_REQUEST", "AUTH_TOKEN_MISMATCH"), "bootstrapToken")).toEqual({ _tag: "login", error: LINK_USED })
    expect(LINK_USED).toContain("already used or has expired: run `clawgate dashboard` again")
  })

  it("an origin the Gateway does not allow is final and names gateway.controlUi.allowedOrigins", () => {
    const d = decideRefusal(err("INVALID_REQUEST", "CONTROL_UI_ORIGIN_NOT_ALLOWED"), "token", "https://proxy.example")
    expect(d._tag).toBe("failed")
    expect(d._tag === "failed" && d.message).toContain("gateway.controlUi.allowedOrigins")
    expect(d._tag === "failed" && d.message).toContain("https://proxy.example")
  })

  it("rate limiting waits as long as the Gateway says (bounded)", () => {
    expect(decideRefusal(err("INVALID_REQUEST", "AUTH_RATE_LIMITED", {}, { retryAfterMs: 42_000 }), "token")).toMatchObject({
      _tag: "retry",
      delayMs: 42_000
    })
    expect(decideRefusal(err("RATE_LIMITED", undefined, {}, { retryAfterMs: 10 ** 12 }), "token")).toMatchObject({ delayMs: 600_000 })
  })

  it("a Gateway that is not ready is retried; an unknown refusal is final with its words", () => {
    expect(decideRefusal(err("UNAVAILABLE"), "token")._tag).toBe("retry")
    const d = decideRefusal({ code: "INVALID_REQUEST", message: "invalid connect params: client.id\u0007" }, "token")
    expect(d).toEqual({ _tag: "failed", message: "The Gateway refused the connection: invalid connect params: client.id." })
  })
})

describe("a socket that closed before any answer", () => {
  const facts = { opened: false, code: 1006, reason: "", neverOpenedStreak: 1, origin: "http://10.0.0.5:18789" }
  it("retries while the Gateway is simply down", () => {
    expect(decideEarlyClose(facts)._tag).toBe("retry")
    expect(decideEarlyClose({ ...facts, neverOpenedStreak: 9, httpUp: false })._tag).toBe("retry")
  })

  it("stops and names allowedOrigins when the page's HTTP answers but its upgrades keep being refused", () => {
    const d = decideEarlyClose({ ...facts, neverOpenedStreak: REFUSED_UPGRADES_BEFORE_FAILING, httpUp: true })
    expect(d._tag).toBe("failed")
    expect(d._tag === "failed" && d.message).toContain("gateway.controlUi.allowedOrigins")
  })

  it("stops at once on a close whose reason is the origin", () => {
    const d = decideEarlyClose({ ...facts, opened: true, code: 1008, reason: "origin not allowed" })
    expect(d._tag).toBe("failed")
  })
})
