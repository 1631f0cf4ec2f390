/**
 * Debian's Chromium, headless, driven by playwright-core, for tests that load
 * the Control UI in a real browser. A browser and a page are scoped resources
 * (closed with the test's scope); each page records what a person would see
 * go wrong: console errors, uncaught page errors, and Content-Security-Policy
 * violations (the `securitypolicyviolation` events, reported straight to the
 * test as they happen).
 *
 * Without /usr/bin/chromium the tests written with `itBrowser` are skipped,
 * with the reason; .ci/run installs it with apt-get.
 */
import * as fs from "node:fs"
import { it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import * as V from "vitest"

export const CHROMIUM_PATH = "/usr/bin/chromium"
export const chromiumAvailable = fs.existsSync(CHROMIUM_PATH)
export const CHROMIUM_SKIP_REASON = `${CHROMIUM_PATH} is absent: install Debian's chromium (apt-get install chromium) to run the browser tests`

/**
 * `it.scopedLive` when Chromium is installed; otherwise a test that is skipped with CHROMIUM_SKIP_REASON as
 * its note (the same name, so a report shows what did not run and why).
 */
export const itBrowser = <A, E>(
  name: string,
  self: (ctx: V.TestContext) => Effect.Effect<A, E, Scope.Scope>,
  timeout: number | V.TestOptions = 60_000
): void => {
  if (chromiumAvailable) return it.scopedLive(name, self, timeout)
  V.it(name, (ctx) => ctx.skip(CHROMIUM_SKIP_REASON))
}

/** Chromium headless, closed with the scope. As root (CI, this machine) it needs --no-sandbox. */
export const launchBrowser = (args: ReadonlyArray<string> = []): Effect.Effect<Browser, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() =>
      chromium.launch({
        executablePath: CHROMIUM_PATH,
        headless: true,
        args: [
          ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
          // Containers give /dev/shm 64 MB; Chromium then crashes on a big page.
          "--disable-dev-shm-usage",
          "--no-first-run",
          "--no-default-browser-check",
          ...args
        ]
      })
    ),
    (browser) => Effect.promise(() => browser.close().catch(() => undefined))
  )

export interface CspViolation {
  readonly violatedDirective: string
  readonly effectiveDirective: string
  readonly blockedURI: string
  readonly documentURI: string
  readonly disposition: string
}

export interface BrowserPage {
  readonly page: Page
  readonly context: BrowserContext
  /** `console.error` and Chromium's own error lines (a blocked resource, a failed load), as text. */
  readonly consoleErrors: ReadonlyArray<string>
  /** Uncaught exceptions and unhandled rejections in the page. */
  readonly pageErrors: ReadonlyArray<string>
  /** Every securitypolicyviolation event any document of the page saw. */
  readonly cspViolations: ReadonlyArray<CspViolation>
  /** Resolves with the first CSP violation that matches, or fails after `timeoutMs`. */
  readonly waitForViolation: (pred: (v: CspViolation) => boolean, timeoutMs?: number) => Effect.Effect<CspViolation>
}

export interface PageOptions {
  readonly viewport?: { readonly width: number; readonly height: number }
}

/** A fresh context (no shared storage) and page in `browser`, closed with the scope. */
export const openPage = (browser: Browser, options: PageOptions = {}): Effect.Effect<BrowserPage, never, Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Effect.acquireRelease(
      Effect.promise(() => browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 800 } })),
      (c) => Effect.promise(() => c.close().catch(() => undefined))
    )
    const consoleErrors: Array<string> = []
    const pageErrors: Array<string> = []
    const cspViolations: Array<CspViolation> = []
    const waiters = new Set<() => void>()
    // The binding is CDP's (Runtime.addBinding) and the init script is injected by the browser, not by the
    // page: neither needs the CSP's permission, so they observe the page as it is served.
    yield* Effect.promise(() =>
      context.exposeBinding("__clawgateCspViolation", (_source, v: CspViolation) => {
        cspViolations.push(v)
        for (const wake of waiters) wake()
      })
    )
    yield* Effect.promise(() =>
      context.addInitScript({
        content: `document.addEventListener("securitypolicyviolation", (e) => window.__clawgateCspViolation({
          violatedDirective: e.violatedDirective,
          effectiveDirective: e.effectiveDirective,
          blockedURI: e.blockedURI,
          documentURI: e.documentURI,
          disposition: e.disposition
        }))`
      })
    )
    const page = yield* Effect.promise(() => context.newPage())
    page.on("console", (msg) => {
      if (msg.type() === "error") consoleErrors.push(`${msg.text()} (${msg.location().url || "page"})`)
    })
    page.on("pageerror", (err) => pageErrors.push(String(err?.stack ?? err)))
    const waitForViolation = (pred: (v: CspViolation) => boolean, timeoutMs = 5_000) =>
      Effect.promise(
        () =>
          new Promise<CspViolation>((resolve, reject) => {
            const check = () => {
              const hit = cspViolations.find(pred)
              if (!hit) return false
              done()
              resolve(hit)
              return true
            }
            const timer = setTimeout(() => {
              done()
              reject(new Error(`no matching CSP violation within ${timeoutMs} ms; saw ${JSON.stringify(cspViolations)}`))
            }, timeoutMs)
            const done = () => {
              clearTimeout(timer)
              waiters.delete(wake)
            }
            const wake = () => void check()
            if (!check()) waiters.add(wake)
          })
      )
    return { page, context, consoleErrors, pageErrors, cspViolations, waitForViolation }
  })

/** A browser and one page in it, both closed with the scope. */
export const browserPage = (options: PageOptions = {}): Effect.Effect<BrowserPage & { readonly browser: Browser }, never, Scope.Scope> =>
  Effect.gen(function* () {
    const browser = yield* launchBrowser()
    const page = yield* openPage(browser, options)
    return { ...page, browser }
  })
