/**
 * The Control UI in headless Chromium, from a real Gateway on port 0: the page
 * loads with no console error and no CSP violation, its WebSocket to its own
 * origin opens (CSP3: connect-src 'self' covers ws: to the same host and port),
 * one to another origin is blocked by the CSP, and the same holds behind a
 * reverse proxy listed in gateway.trustedProxies and under a basePath.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import type { AddressInfo } from "node:net"
import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import { WebSocketServer } from "ws"
import { defaultControlUiRoot } from "../../src/layers/ui/ControlUiLive.js"
import { type BrowserPage, browserPage, itBrowser } from "../support/browser.js"
import { startGateway, TOKEN } from "../support/gateway.js"
import { startProxy } from "../support/proxy.js"

const builtUi = Effect.promise(() =>
  fs.access(path.join(defaultControlUiRoot(), "manifest.json")).catch(() => {
    throw new Error(`${defaultControlUiRoot()} is not built: run \`node scripts/build.mjs\` (npm test builds first)`)
  })
)

// Functions given to page.evaluate run in the page, where `globalThis` is its window: this file is typechecked
// without the DOM's types, so they reach the page's globals through it.

/** Loads `url` and waits until the page's module ran and its stylesheet applied. */
const load = (b: BrowserPage, url: string) =>
  Effect.gen(function* () {
    const res = yield* Effect.promise(() => b.page.goto(url, { waitUntil: "load" }))
    expect(res?.status()).toBe(200)
    yield* Effect.promise(() =>
      b.page.waitForFunction(() => ((globalThis as any).document.getElementById("app")?.childElementCount ?? 0) > 0)
    )
    const sheets: Array<{ href: string; rules: number }> = yield* Effect.promise(() =>
      b.page.evaluate(() =>
        [...(globalThis as any).document.styleSheets].map((s: any) => ({ href: s.href ?? "", rules: s.cssRules.length }))
      )
    )
    expect(sheets.length).toBeGreaterThan(0)
    expect(sheets.every((s) => /\/assets\/main-[A-Z0-9]+\.css$/.test(s.href))).toBe(true)
    expect(yield* Effect.promise(() => b.page.title())).toMatch(/(^| · )clawgate$/)
  })

/**
 * Opens a WebSocket from the page to `target` (its own origin when undefined) and says what happened:
 * "open" with the first frame's event, or how it failed.
 */
const socketFromPage = (b: BrowserPage, target?: string) =>
  Effect.promise(() =>
    b.page.evaluate(
      (to) =>
        new Promise<{ outcome: string; firstEvent?: string }>((resolve) => {
          const { WebSocket, location } = globalThis as any
          let ws: any
          try {
            ws = new WebSocket(to ?? location.origin.replace("http", "ws"))
          } catch (e) {
            return resolve({ outcome: `threw ${(e as Error).name}` })
          }
          ws.onmessage = (m: { data: unknown }) => {
            resolve({ outcome: "open", firstEvent: JSON.parse(String(m.data)).event })
            ws.close()
          }
          ws.onerror = () => resolve({ outcome: "error" })
        }),
      target
    )
  )

const expectClean = (b: BrowserPage) => {
  expect(b.consoleErrors).toEqual([])
  expect(b.pageErrors).toEqual([])
  expect(b.cspViolations).toEqual([])
}

describe("the Control UI in Chromium", () => {
  itBrowser("loads from a real Gateway with no console error and no CSP violation, and connects to its own origin", () =>
    Effect.gen(function* () {
      yield* builtUi
      const gw = yield* startGateway()
      const b = yield* browserPage()
      yield* load(b, `http://127.0.0.1:${gw.port}/`)
      expect(yield* socketFromPage(b)).toEqual({ outcome: "open", firstEvent: "connect.challenge" })
      // A deep link loads the same page, its relative asset URLs included.
      yield* load(b, `http://127.0.0.1:${gw.port}/sessions/agent:main:main`)
      expectClean(b)
    })
  )

  itBrowser("a WebSocket to another origin is blocked by the CSP before it reaches that server", () =>
    Effect.gen(function* () {
      yield* builtUi
      const gw = yield* startGateway()
      // A real server on another port (another origin), so only the CSP stands between the page and it.
      let reached = 0
      const other = yield* Effect.acquireRelease(
        Effect.promise(
          () =>
            new Promise<WebSocketServer>((resolve) => {
              const wss: WebSocketServer = new WebSocketServer({ host: "127.0.0.1", port: 0 }, () => resolve(wss))
              wss.on("connection", () => void reached++)
            })
        ),
        (wss) => Effect.promise(() => new Promise<void>((resolve) => wss.close(() => resolve())))
      )
      const otherUrl = `ws://127.0.0.1:${(other.address() as AddressInfo).port}`
      const b = yield* browserPage()
      yield* load(b, `http://127.0.0.1:${gw.port}/`)
      expectClean(b)
      const attempt = yield* socketFromPage(b, otherUrl)
      expect(attempt.outcome).not.toBe("open")
      const violation = yield* b.waitForViolation((v) => v.blockedURI.startsWith(otherUrl))
      expect(violation.effectiveDirective).toBe("connect-src")
      expect(violation.disposition).toBe("enforce")
      expect(reached).toBe(0)
      // The page's own origin is still fine after that.
      expect((yield* socketFromPage(b)).outcome).toBe("open")
    })
  )

  itBrowser("behind a reverse proxy in gateway.trustedProxies: the page loads and its WebSocket goes through the proxy", () =>
    Effect.gen(function* () {
      yield* builtUi
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, trustedProxies: ["127.0.0.1"] } })
      const proxy = yield* startProxy({ targetPort: gw.port })
      const b = yield* browserPage()
      yield* load(b, `${proxy.origin}/`)
      expect(yield* socketFromPage(b)).toEqual({ outcome: "open", firstEvent: "connect.challenge" })
      expect(proxy.forwarded).toContain("GET /")
      expect(proxy.forwarded).toContain("UPGRADE /")
      expect(proxy.forwarded.some((r) => /^GET \/assets\/main-[A-Z0-9]+\.js$/.test(r))).toBe(true)
      expectClean(b)
    })
  )

  itBrowser("under basePath /ui, at /ui (redirected) and at a deep link under it, on a phone-sized screen", () =>
    Effect.gen(function* () {
      yield* builtUi
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, controlUi: { basePath: "/ui" } } })
      const b = yield* browserPage({ viewport: { width: 375, height: 812 } })
      yield* load(b, `http://127.0.0.1:${gw.port}/ui`)
      expect(b.page.url()).toBe(`http://127.0.0.1:${gw.port}/ui/`)
      expect(yield* socketFromPage(b)).toEqual({ outcome: "open", firstEvent: "connect.challenge" })
      yield* load(b, `http://127.0.0.1:${gw.port}/ui/chat/a/b`)
      expectClean(b)
    })
  )
})
