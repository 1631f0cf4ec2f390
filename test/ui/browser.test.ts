/**
 * The Control UI in headless Chromium against a real Gateway on port 0: the
 * bundle of src/ui served under a strict CSP by a small server that passes
 * WebSocket upgrades through to the Gateway (test/support/ui-page.ts), so
 * the page connects to its own origin, as it does when the Gateway serves it.
 *
 * Screenshots go to $CLAWGATE_UI_SCREENSHOTS (default: test-results/ui/ in the repository).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { type Browser, chromium, type Page } from "playwright-core"
import { WebSocketServer } from "ws"
import { ModelsFixed } from "../../src/layers/ModelsLive.js"
import { chromiumAvailable } from "../support/browser.js"
import { startGateway, TOKEN } from "../support/gateway.js"
import { lastUserText, scriptedModel, textReply, type Parts } from "../support/model.js"
import { bundleUi, serveUi } from "../support/ui-page.js"
import { connectParams, handshake } from "../support/ws.js"

const CHROMIUM = process.env.CLAWGATE_CHROMIUM ?? "/usr/bin/chromium"
const SHOTS =
  process.env.CLAWGATE_UI_SCREENSHOTS ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "test-results", "ui")

const launch = Effect.acquireRelease(
  Effect.promise(() => chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] })),
  (b: Browser) => Effect.promise(() => b.close())
)

/** A fresh browser profile (its own IndexedDB) with one page; console errors (CSP violations among them) collected. */
const openPage = (browser: Browser, viewport = { width: 1280, height: 800 }) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const context = await browser.newContext({ viewport })
      const page = await context.newPage()
      const errors: Array<string> = []
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text())
      })
      page.on("pageerror", (e) => errors.push(String(e)))
      return { context, page, errors }
    }),
    ({ context }) => Effect.promise(() => context.close())
  )

const operator = (url: string) =>
  Effect.map(handshake(url, connectParams({ auth: { token: TOKEN }, scopes: ["operator.admin"] })), ({ peer, res }) => {
    expect(res.ok).toBe(true)
    return peer
  })

const p = <A>(f: () => Promise<A>) => Effect.promise(f)

const stateText = (page: Page) => page.locator(".conn-text")

const shot = (page: Page, name: string) =>
  p(async () => {
    fs.mkdirSync(SHOTS, { recursive: true })
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`) })
  })

/** Logs in with the token, reads the approve command off the page, approves it as the local operator. */
const loginAndApprove = (page: Page, gatewayUrl: string) =>
  Effect.gen(function* () {
    yield* p(() => page.getByRole("heading", { name: "Log in to the Gateway" }).waitFor())
    yield* p(() => page.getByLabel("Gateway token").fill(TOKEN))
    yield* p(() => page.getByRole("button", { name: "Connect" }).click())
    yield* p(() => page.getByRole("heading", { name: "Waiting for approval" }).waitFor())
    const command = yield* p(async () => (await page.locator(".codeline code").textContent()) ?? "")
    expect(command).toMatch(/^clawgate devices approve [A-Za-z0-9][A-Za-z0-9._:-]*$/)
    const admin = yield* operator(gatewayUrl)
    const res = yield* p(() => admin.call("device.pair.approve", { requestId: command.split(" ").at(-1) }))
    expect(res.ok).toBe(true)
    yield* p(() =>
      stateText(page)
        .filter({ hasText: /^Connected$/ })
        .waitFor({ timeout: 15_000 })
    )
    return admin
  })

const gated = (gate: Promise<void>, then: Parts): Parts => Stream.concat(Stream.drain(Stream.fromEffect(Effect.promise(() => gate))), then)

describe.skipIf(!chromiumAvailable)("the Control UI in Chromium (skipped without /usr/bin/chromium; .ci/run installs it)", () => {
  it.scopedLive(
    "token login, waiting for approval, a chat reply streamed in; a reload connects with the stored device and shows each message once",
    () =>
      Effect.gen(function* () {
        const gw = yield* startGateway()
        const bundle = yield* bundleUi
        const ui = yield* serveUi(bundle.dir, gw.port)
        const browser = yield* launch
        const { page, errors } = yield* openPage(browser)
        yield* p(() => page.goto(ui.url))
        // With no credential the page asks the Gateway once, which says it wants a token: the form, no error.
        yield* p(() =>
          stateText(page)
            .filter({ hasText: /^Disconnected: log in$/ })
            .waitFor()
        )
        expect(yield* p(() => page.getByRole("alert").count())).toBe(0)
        yield* shot(page, "login-1280x800")
        yield* p(() => page.getByLabel("Gateway token").fill(TOKEN))
        yield* p(() => page.getByRole("button", { name: "Connect" }).click())
        yield* p(() => page.getByRole("heading", { name: "Waiting for approval" }).waitFor())
        expect(yield* p(async () => (await stateText(page).textContent()) ?? "")).toBe("Waiting for approval")
        yield* p(() => page.getByText("This page connects by itself once approved.").waitFor())
        yield* shot(page, "pairing-1280x800")
        const command = yield* p(async () => (await page.locator(".codeline code").textContent()) ?? "")
        const admin = yield* operator(gw.url)
        yield* p(() => admin.call("device.pair.approve", { requestId: command.split(" ").at(-1) }))
        yield* p(() =>
          stateText(page)
            .filter({ hasText: /^Connected$/ })
            .waitFor({ timeout: 15_000 })
        )

        // Landmarks and names a screen reader finds.
        const nav = page.getByRole("navigation", { name: "Main" })
        expect(yield* p(() => nav.getByRole("link").count())).toBe(8)
        expect(yield* p(() => nav.getByRole("link", { name: "Chat" }).getAttribute("aria-current"))).toBe("page")
        expect(yield* p(() => page.getByRole("banner").count())).toBe(1)
        expect(yield* p(() => page.getByRole("main").count())).toBe(1)

        const message = page.getByRole("textbox", { name: "Message" })
        yield* p(() => message.fill("hello from the browser"))
        yield* p(() => message.press("Enter"))
        yield* p(() => page.locator(".msg-assistant .msg-text", { hasText: "[offline model]" }).first().waitFor({ timeout: 15_000 }))
        yield* p(() => page.locator(".msg-live").waitFor({ state: "detached", timeout: 15_000 }))
        const userMessages = page.locator(".msg-user .msg-text", { hasText: "hello from the browser" })
        expect(yield* p(() => userMessages.count())).toBe(1)
        yield* p(() => page.getByRole("button", { name: "Send" }).isDisabled()).pipe(Effect.map((d) => expect(d).toBe(true)))
        yield* shot(page, "chat-1280x800")

        // A reload: no login, the device token from IndexedDB; the transcript from history, each message once.
        yield* p(() => page.reload())
        yield* p(() =>
          stateText(page)
            .filter({ hasText: /^Connected$/ })
            .waitFor({ timeout: 15_000 })
        )
        yield* p(() => userMessages.first().waitFor())
        expect(yield* p(() => userMessages.count())).toBe(1)
        expect(yield* p(() => page.locator(".msg-assistant .msg-text", { hasText: "[offline model]" }).count())).toBe(1)

        // A new chat: its own session key, listed with its channel once it has a message; search finds it.
        yield* p(() => page.getByRole("button", { name: "New chat" }).click())
        yield* p(() => page.getByRole("heading", { name: "New chat" }).waitFor())
        expect(page.url()).toMatch(/#\/chat\/agent%3Amain%3Adashboard%3A[0-9a-f-]{36}$/)
        yield* p(() => message.fill("second chat"))
        yield* p(() => page.getByRole("button", { name: "Send" }).click())
        yield* p(() => page.locator(".msg-assistant .msg-text", { hasText: "You said: second chat" }).first().waitFor({ timeout: 15_000 }))
        const chats = page.getByRole("complementary", { name: "Chats" })
        yield* p(() => chats.getByRole("link").nth(1).waitFor())
        yield* p(() => chats.getByRole("searchbox", { name: "Search chats" }).fill("dashboard"))
        yield* p(() => chats.getByRole("link").filter({ hasText: "Main chat" }).waitFor({ state: "detached" }))
        expect(yield* p(() => chats.getByRole("link").count())).toBe(1)
        expect(yield* p(() => chats.getByRole("link").first().getAttribute("aria-current"))).toBe("true")
        expect(yield* p(async () => (await chats.locator(".badge").first().textContent()) ?? "")).toBe("webchat")
        yield* p(() => chats.getByRole("searchbox", { name: "Search chats" }).fill(""))
        yield* p(() => chats.getByRole("link", { name: /Main chat/ }).click())
        yield* p(() => userMessages.first().waitFor())
        expect(yield* p(() => page.locator(".msg-user .msg-text", { hasText: "second chat" }).count())).toBe(0)

        // A phone: nothing wider than the screen; the chat list behind a button that says whether it is open.
        yield* p(() => page.setViewportSize({ width: 375, height: 812 }))
        expect(yield* p(() => page.evaluate<number>("document.documentElement.scrollWidth"))).toBeLessThanOrEqual(375)
        const toggle = page.getByRole("button", { name: "Chats" })
        expect(yield* p(() => toggle.getAttribute("aria-expanded"))).toBe("false")
        yield* shot(page, "chat-375x812")
        yield* p(() => toggle.click())
        expect(yield* p(() => toggle.getAttribute("aria-expanded"))).toBe("true")
        yield* p(() => page.getByRole("link", { name: /Main chat/ }).waitFor())
        yield* shot(page, "chat-list-375x812")
        yield* p(() => page.getByRole("button", { name: "Close" }).click())
        expect(yield* p(() => toggle.getAttribute("aria-expanded"))).toBe("false")
        // Touch targets: every visible button and nav link at least 40 px tall.
        const small = yield* p(() =>
          // A string, evaluated in the page (this file is compiled without the DOM library).
          page.evaluate<Array<string | null>>(
            `[...document.querySelectorAll("button, .nav a")]
              .filter((e) => e.offsetParent !== null && e.getBoundingClientRect().height < 40)
              .map((e) => e.textContent)`
          )
        )
        expect(small).toEqual([])
        yield* p(() => page.emulateMedia({ colorScheme: "dark" }))
        yield* shot(page, "chat-dark-375x812")
        expect(errors).toEqual([])
      })
  )

  it.scopedLive("a hostile gatewayUrl (query and fragment) opens no connection anywhere else; the fragment's token is removed", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const bundle = yield* bundleUi
      const ui = yield* serveUi(bundle.dir, gw.port)
      let decoyConnections = 0
      const decoy = yield* Effect.acquireRelease(
        p(
          () =>
            new Promise<WebSocketServer>((resolve) => {
              const s: WebSocketServer = new WebSocketServer({ host: "127.0.0.1", port: 0 }, () => resolve(s))
              s.on("connection", () => decoyConnections++)
            })
        ),
        (s) => p(() => new Promise<void>((r) => s.close(() => r())))
      )
      const evil = `ws://127.0.0.1:${(decoy.address() as { port: number }).port}/`
      const browser = yield* launch
      const { page, errors } = yield* openPage(browser)
      yield* p(() => page.goto(`${ui.url}?gatewayUrl=${encodeURIComponent(evil)}#gatewayUrl=${encodeURIComponent(evil)}&token=${TOKEN}`))
      // A positive signal: the page used the fragment's token on its own Gateway, which asks for approval.
      yield* p(() => page.getByRole("heading", { name: "Waiting for approval" }).waitFor())
      expect(page.url()).not.toContain("token=")
      expect(page.url()).not.toContain("#gatewayUrl")
      expect(ui.upgrades()).toBeGreaterThanOrEqual(1)
      expect(decoyConnections).toBe(0)
      expect(errors).toEqual([])
    })
  )

  it.scopedLive("a socket dropped during a run: the page reconnects and the reply arrives once; Abort stops a run", () =>
    Effect.gen(function* () {
      let open!: () => void
      const gate = new Promise<void>((r) => (open = r))
      const m = scriptedModel((prompt) => {
        const text = lastUserText(prompt)
        return text === "forever" ? gated(new Promise<void>(() => {}), textReply("never")) : gated(gate, textReply(`You said: ${text}`))
      })
      const gw = yield* startGateway(undefined, { models: ModelsFixed(m.model) })
      const bundle = yield* bundleUi
      const ui = yield* serveUi(bundle.dir, gw.port)
      const browser = yield* launch
      const { page, errors } = yield* openPage(browser)
      yield* p(() => page.goto(ui.url))
      yield* loginAndApprove(page, gw.url)
      const message = page.getByRole("textbox", { name: "Message" })
      yield* p(() => message.fill("slow one"))
      yield* p(() => page.getByRole("button", { name: "Send" }).click())
      yield* p(() => page.getByRole("button", { name: "Abort" }).waitFor())
      ui.dropSockets()
      yield* p(() =>
        stateText(page)
          .filter({ hasText: /^Reconnecting/ })
          .waitFor()
      )
      yield* p(() =>
        page
          .getByText(/Connection lost/)
          .first()
          .waitFor()
      )
      yield* shot(page, "reconnecting-1280x800")
      yield* p(() =>
        stateText(page)
          .filter({ hasText: /^Connected$/ })
          .waitFor({ timeout: 15_000 })
      )
      open()
      yield* p(() => page.locator(".msg-assistant .msg-text", { hasText: "You said: slow one" }).first().waitFor({ timeout: 15_000 }))
      yield* p(() => page.locator(".msg-live").waitFor({ state: "detached", timeout: 15_000 }))
      expect(yield* p(() => page.locator(".msg-user .msg-text", { hasText: "slow one" }).count())).toBe(1)
      expect(yield* p(() => page.locator(".msg-assistant .msg-text", { hasText: "You said: slow one" }).count())).toBe(1)
      expect(m.calls()).toBe(1)

      yield* p(() => message.fill("forever"))
      yield* p(() => message.press("Enter"))
      const abort = page.getByRole("button", { name: "Abort" })
      yield* p(() => abort.click())
      yield* p(() => page.getByText("The run was aborted.").waitFor({ timeout: 15_000 }))
      yield* p(() => abort.waitFor({ state: "detached" }))

      // The account menu: logging out and forgetting the key makes this browser a new device.
      const account = page.getByRole("button", { name: "Account" })
      yield* p(() => account.click())
      expect(yield* p(() => account.getAttribute("aria-expanded"))).toBe("true")
      const before = yield* p(async () => (await page.locator("#account-menu code").textContent()) ?? "")
      yield* p(() => page.getByRole("button", { name: "Log out and forget this browser's key" }).click())
      yield* p(() => page.getByRole("heading", { name: "Log in to the Gateway" }).waitFor())
      yield* p(() => page.getByLabel("Gateway token").fill(TOKEN))
      yield* p(() => page.getByRole("button", { name: "Connect" }).click())
      yield* p(() => page.getByRole("heading", { name: "Waiting for approval" }).waitFor())
      const after = yield* p(async () => (await page.locator("section code").last().textContent()) ?? "")
      expect(before).toMatch(/^[0-9a-f]{12}$/)
      expect(after).toMatch(/^[0-9a-f]{12}$/)
      expect(after).not.toBe(before)
      expect(errors).toEqual([])
    })
  )

  it.scopedLive("a page that is not a secure context (plain http to a LAN address) signs with the pure-JS key and pairs", () =>
    Effect.gen(function* () {
      const lan = Object.values(os.networkInterfaces())
        .flat()
        .find((a) => a && a.family === "IPv4" && !a.internal)?.address
      if (!lan) return
      const gw = yield* startGateway()
      const bundle = yield* bundleUi
      const ui = yield* serveUi(bundle.dir, gw.port, lan)
      const browser = yield* launch
      const { page, errors } = yield* openPage(browser)
      yield* p(() => page.goto(ui.url))
      expect(yield* p(() => page.evaluate("[window.isSecureContext, typeof crypto.subtle]"))).toEqual([false, "undefined"])
      yield* loginAndApprove(page, gw.url)
      yield* p(() => page.reload())
      yield* p(() =>
        stateText(page)
          .filter({ hasText: /^Connected$/ })
          .waitFor({ timeout: 15_000 })
      )
      expect(errors).toEqual([])
    })
  )
})
