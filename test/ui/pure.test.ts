/** The Control UI's pure logic: the fragment, the backoff, the routes, the state text. */
import { describe, expect, it } from "@effect/vitest"
import { BACKOFF_MAX_MS, backoffDelay } from "../../src/ui/client/backoff.js"
import { gatewaySocketUrl } from "../../src/ui/client/browser-url.js"
import { describeState } from "../../src/ui/client/describe.js"
import { readFragment } from "../../src/ui/client/fragment.js"
import { uuidFromBytes } from "../../src/ui/client/random.js"
import { parseRoute, routeHref } from "../../src/ui/client/routes.js"

describe("credentials in the URL fragment", () => {
  it("reads #token= and leaves nothing of it in the address bar", () => {
    const r = readFragment("#token=abc123")
    expect(r.credential).toEqual({ token: "abc123" })
    expect(r).toMatchObject({ hash: "", changed: true })
  })

  it("reads the dashboard's one-time #bootstrapToken=, which wins over a token", () => {
    expect(readFragment("#bootstrapToken=one-time&token=t").credential).toEqual({ bootstrapToken: "one-time" })
  })

  it("ignores gatewayUrl and every other key, and still clears them from the address bar", () => {
    const r = readFragment("#gatewayUrl=wss://evil.example&token=t")
    expect(r.credential).toEqual({ token: "t" })
    expect(r.hash).toBe("")
    const only = readFragment("#gatewayUrl=wss://evil.example")
    expect(only.credential).toBeUndefined()
    expect(only.changed).toBe(true)
  })

  it("leaves a route alone and never takes a credential from it", () => {
    expect(readFragment("#/devices")).toEqual({ credential: undefined, hash: "#/devices", changed: false })
    expect(readFragment("#/chat?token=x").credential).toBeUndefined()
    expect(readFragment("")).toEqual({ credential: undefined, hash: "", changed: false })
  })

  it("refuses values that cannot be a credential (empty, whitespace, huge)", () => {
    expect(readFragment("#token=").credential).toBeUndefined()
    expect(readFragment("#token=a%20b").credential).toBeUndefined()
    expect(readFragment(`#token=${"x".repeat(5000)}`).credential).toBeUndefined()
  })
})

describe("the Gateway's WebSocket URL", () => {
  it("is the page's own origin and directory, the scheme swapped, with no query or fragment", () => {
    expect(gatewaySocketUrl("http://127.0.0.1:18789/?gatewayUrl=wss://evil#token=x")).toBe("ws://127.0.0.1:18789/")
    expect(gatewaySocketUrl("https://box.tailnet.ts.net/clawgate/index.html#/chat")).toBe("wss://box.tailnet.ts.net/clawgate/")
    expect(gatewaySocketUrl("https://proxy.example/ui/?gatewayUrl=ws://10.0.0.9:1")).toBe("wss://proxy.example/ui/")
  })
})

describe("reconnect backoff", () => {
  const mid = () => 0.5
  it("starts at 1 s and doubles up to 30 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((n) => backoffDelay(n, mid))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
  })

  it("spreads each delay by at most ±25 % and never past the cap", () => {
    expect(backoffDelay(1, () => 0)).toBe(750)
    expect(backoffDelay(1, () => 0.9999)).toBeLessThanOrEqual(1250)
    expect(backoffDelay(1, () => 0.9999)).toBeGreaterThan(1200)
    for (let n = 1; n < 100; n++) expect(backoffDelay(n, () => 0.9999)).toBeLessThanOrEqual(BACKOFF_MAX_MS)
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, mid)).toBe(BACKOFF_MAX_MS)
  })
})

describe("hash routes", () => {
  it("defaults to Chat and reads a session key after it", () => {
    expect(parseRoute("")).toEqual({ page: "chat" })
    expect(parseRoute("#/nope")).toEqual({ page: "chat" })
    expect(parseRoute("#/devices")).toEqual({ page: "devices" })
    expect(parseRoute(routeHref("chat", "agent:main:telegram:42"))).toEqual({ page: "chat", arg: "agent:main:telegram:42" })
    expect(parseRoute("#/chat/%E0%A4%A")).toEqual({ page: "chat" })
  })
})

describe("the header's connection state", () => {
  it("says each state in words, with a countdown while reconnecting", () => {
    expect(describeState({ _tag: "connecting" }, 0).text).toBe("Connecting…")
    expect(describeState({ _tag: "pairing", requestId: "r", deviceId: "d" }, 0).text).toBe("Waiting for approval")
    expect(describeState({ _tag: "reconnecting", attempt: 1, inMs: 4000, reason: "x", at: 10_000 }, 6_500).text).toBe("Reconnecting in 4 s")
    expect(describeState({ _tag: "reconnecting", attempt: 1, inMs: 4000, reason: "x", at: 10_000 }, 10_500).text).toBe("Reconnecting…")
    expect(describeState({ _tag: "login" }, 0).text).toBe("Disconnected: log in")
    expect(describeState({ _tag: "failed", message: "m" }, 0).announce).toContain("m")
  })
})

describe("random ids without randomUUID", () => {
  it("are RFC 4122 v4 UUIDs", () => {
    const id = uuidFromBytes(new Uint8Array(16).fill(0xff))
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })
})
