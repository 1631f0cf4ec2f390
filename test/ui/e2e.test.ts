/**
 * The Control UI as a user meets it: the page the Gateway itself serves (dist/ui, under its CSP), in
 * headless Chromium, against a real Gateway on port 0. The dashboard link used once and refused the
 * second time; a second browser's pairing approved from the first browser's Devices page; a chat
 * message answered by the offline model; a node command invoked from the Nodes page against a real
 * `clawgate node run`; a config edit refused at its path and one accepted; the page behind a reverse
 * proxy in gateway.trustedProxies; and a screenshot of every page at 1280x800 and 375x812.
 *
 * Screenshots go to $CLAWGATE_UI_SCREENSHOTS, by default test-results/ui/ in the repository (the README
 * names it).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import type { Browser, Page } from "playwright-core"
import { type BrowserPage, itBrowser, launchBrowser, openPage } from "../support/browser.js"
import { connectOperator } from "../support/client.js"
import { spawnCli } from "../support/cli.js"
import { startGateway, tempDir, TOKEN } from "../support/gateway.js"
import { spawnNode } from "../support/node.js"
import { startProxy } from "../support/proxy.js"
import { sshdAvailable, startSshd } from "../support/sshd.js"

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const SCREENSHOTS = process.env.CLAWGATE_UI_SCREENSHOTS ?? path.join(ROOT, "test-results", "ui")

const p = <A>(f: () => Promise<A>) => Effect.promise(f)
const WAIT = { timeout: 15_000 }

/** The header's connection state, as the user reads it. */
const stateIs = (page: Page, text: string | RegExp) => p(() => page.locator(".conn-text").filter({ hasText: text }).waitFor(WAIT))

const expectClean = (b: BrowserPage) => {
  expect(b.consoleErrors).toEqual([])
  expect(b.pageErrors).toEqual([])
  expect(b.cspViolations).toEqual([])
}

/** A one-time dashboard link minted by an admin, as `clawgate dashboard` mints it. */
const dashboardLink = (gw: { url: string; port: number }, origin = `http://127.0.0.1:${gw.port}`) =>
  Effect.gen(function* () {
    const admin = yield* connectOperator(gw)
    const issued = (yield* admin.connection.request("device.bootstrap.issue", {})) as { token: string; basePath: string }
    yield* admin.close
    return `${origin}${issued.basePath}#bootstrapToken=${encodeURIComponent(issued.token)}`
  })

/** A fresh browser profile paired and connected through a dashboard link. */
const connectedPage = (browser: Browser, gw: { url: string; port: number }, viewport?: { width: number; height: number }) =>
  Effect.gen(function* () {
    const b = yield* openPage(browser, viewport ? { viewport } : {})
    const link = yield* dashboardLink(gw)
    yield* p(() => b.page.goto(link))
    yield* stateIs(b.page, "Connected")
    return b
  })

const shot = (page: Page, name: string) =>
  p(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true })
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: false })
  })

const goto = (page: Page, route: string) =>
  p(async () => {
    await page.evaluate((r) => {
      ;(globalThis as unknown as { location: { hash: string } }).location.hash = r
    }, route)
  })

describe("the Control UI, as the Gateway serves it, in Chromium", () => {
  itBrowser("the dashboard link pairs a browser once; the same link in another browser is refused and says what to do", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const link = yield* dashboardLink(gw)
      const browser = yield* launchBrowser()
      const first = yield* openPage(browser)
      yield* p(() => first.page.goto(link))
      yield* stateIs(first.page, "Connected")
      // The code left the address bar before the page did anything else.
      expect(first.page.url()).not.toContain("bootstrapToken")
      // Reloaded, the browser connects as its paired device (its device token, kept in IndexedDB).
      yield* p(() => first.page.reload())
      yield* stateIs(first.page, "Connected")

      const second = yield* openPage(browser)
      yield* p(() => second.page.goto(link))
      yield* p(() =>
        second.page
          .getByText(/already used or has expired/)
          .first()
          .waitFor(WAIT)
      )
      expect(second.page.url()).not.toContain("bootstrapToken")
      expectClean(first)
    })
  )

  itBrowser("a second browser's pairing request is approved from the first browser's Devices page, and it connects by itself", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const browser = yield* launchBrowser()
      const admin = yield* openPage(browser)
      const adminLink = yield* dashboardLink(gw)
      yield* p(() => admin.page.goto(adminLink))
      yield* stateIs(admin.page, "Connected")
      yield* goto(admin.page, "#/devices")
      yield* p(() => admin.page.getByRole("heading", { level: 1, name: /Devices/ }).waitFor(WAIT))

      // The newcomer logs in with the token: a new device, so it waits for approval.
      const newcomer = yield* openPage(browser)
      yield* p(() => newcomer.page.goto(`http://127.0.0.1:${gw.port}/`))
      yield* p(() => newcomer.page.getByLabel("Gateway token").fill(TOKEN))
      yield* p(() => newcomer.page.getByRole("button", { name: "Connect" }).click())
      yield* stateIs(newcomer.page, "Waiting for approval")
      const command = yield* p(async () => (await newcomer.page.locator(".codeline code").first().textContent()) ?? "")
      const requestId = command.split(" ").at(-1) ?? ""
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/)

      // The request reaches the first browser live (device.pair.requested); its Approve button approves it.
      const request = admin.page.getByRole("article").filter({ hasText: requestId.slice(0, 8) })
      yield* p(() => request.getByRole("button", { name: "Approve" }).click(WAIT))
      yield* stateIs(newcomer.page, "Connected")
      expectClean(admin)
      expectClean(newcomer)
    })
  )

  itBrowser("a chat message is answered by the offline model, the reply streamed into the transcript", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const b = yield* connectedPage(yield* launchBrowser(), gw)
      yield* p(() => b.page.getByRole("textbox", { name: "Message" }).fill("hello from the browser"))
      yield* p(() => b.page.getByRole("button", { name: "Send" }).click())
      yield* p(() => b.page.getByText("hello from the browser").first().waitFor(WAIT))
      // The offline model says what it is; its reply lands in the transcript.
      yield* p(() => b.page.locator(".msg-assistant").filter({ hasText: "[offline model]" }).first().waitFor(WAIT))
      // The user's message appears once, not once per event.
      expect(yield* p(() => b.page.locator(".msg-user").filter({ hasText: "hello from the browser" }).count())).toBe(1)
      expectClean(b)
    })
  )

  itBrowser("a node command is invoked from the Nodes page against a real clawgate node run, and its result shown", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const node = yield* spawnNode(gw.url, "desk", [["echo", "hi-from-the-node"]], ["--token", TOKEN])
      yield* p(() => node.waitFor(/connected as nodeId/))
      const b = yield* connectedPage(yield* launchBrowser(), gw)
      yield* goto(b.page, "#/nodes")
      yield* p(() => b.page.getByRole("button", { name: /Choose desk/ }).click(WAIT))
      yield* p(() => b.page.getByRole("combobox", { name: "Command" }).selectOption("system.run"))
      yield* p(() => b.page.getByRole("textbox", { name: "Params (JSON)" }).fill('{"command": ["echo", "hi-from-the-node"]}'))
      yield* p(() => b.page.getByRole("button", { name: "Invoke" }).click())
      const payload = b.page.getByRole("textbox", { name: "Payload" })
      yield* p(() => payload.waitFor(WAIT))
      yield* p(() =>
        b.page.waitForFunction(
          () =>
            [
              ...(
                globalThis as unknown as { document: { querySelectorAll: (s: string) => Iterable<{ value: string }> } }
              ).document.querySelectorAll("textarea")
            ].some((t) => t.value.includes("hi-from-the-node")),
          undefined,
          WAIT
        )
      )
      expect(yield* p(() => payload.inputValue())).toContain("hi-from-the-node")
      expectClean(b)
    })
  )

  itBrowser("a config edit with a bad value is refused at its path; a good one is saved to the file", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const b = yield* connectedPage(yield* launchBrowser(), gw)
      yield* goto(b.page, "#/config")
      const editor = b.page.getByRole("textbox", { name: "Config", exact: true })
      yield* p(() => editor.waitFor(WAIT))
      const good = JSON.stringify({ gateway: { auth: { token: "__CLAWGATE_REDACTED__" }, tickIntervalMs: 20000 } }, null, 2)
      yield* p(() => editor.fill(JSON.stringify({ gateway: { auth: { token: "__CLAWGATE_REDACTED__" }, port: "not-a-port" } }, null, 2)))
      yield* p(() => b.page.getByRole("button", { name: "Validate" }).click())
      yield* p(() =>
        b.page
          .getByText(/gateway\.port/)
          .first()
          .waitFor(WAIT)
      )
      const before = fs.readFileSync(gw.configPath, "utf8")
      expect(before).not.toContain("not-a-port")

      yield* p(() => editor.fill(good))
      yield* p(() => b.page.getByRole("button", { name: "Save" }).click())
      // "Saved." is the page's answer to config.set (not the "unsaved changes" badge).
      yield* p(() =>
        b.page
          .getByText(/^Saved\./)
          .first()
          .waitFor(WAIT)
      )
      const saved = JSON.parse(fs.readFileSync(gw.configPath, "utf8"))
      expect(saved.gateway.tickIntervalMs).toBe(20000)
      // The redacted placeholder kept the stored token.
      expect(saved.gateway.auth.token).toBe(TOKEN)
      expectClean(b)
    })
  )

  itBrowser("behind a reverse proxy in gateway.trustedProxies, the dashboard link connects through it", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, trustedProxies: ["127.0.0.1"] } })
      const proxy = yield* startProxy({ targetPort: gw.port })
      const b = yield* openPage(yield* launchBrowser())
      const link = yield* dashboardLink(gw, proxy.origin)
      yield* p(() => b.page.goto(link))
      yield* stateIs(b.page, "Connected")
      expect(proxy.forwarded).toContain("UPGRADE /")
      expectClean(b)
    })
  )

  itBrowser("every page, at 1280x800 and 375x812, for a person to look at", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const node = yield* spawnNode(gw.url, "desk", [["echo", "hi"]], ["--token", TOKEN])
      yield* p(() => node.waitFor(/connected as nodeId/))
      const browser = yield* launchBrowser()
      for (const [size, viewport] of [
        ["desktop", { width: 1280, height: 800 }],
        ["phone", { width: 375, height: 812 }]
      ] as const) {
        const b = yield* connectedPage(browser, gw, viewport)
        for (const page of ["chat", "overview", "nodes", "devices", "channels", "logs", "config", "security"]) {
          yield* goto(b.page, `#/${page}`)
          yield* p(() => b.page.locator("main h1:visible, main h2:visible").first().waitFor(WAIT))
          yield* p(() => b.page.waitForLoadState("networkidle"))
          yield* shot(b.page, `${page}-${size}`)
          // Nothing wider than the screen.
          const overflow = yield* p(() =>
            b.page.evaluate(() => {
              const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document
                .documentElement
              return d.scrollWidth - d.clientWidth
            })
          )
          expect(overflow, `${page} at ${size}`).toBeLessThanOrEqual(1)
        }
        expectClean(b)
      }
      for (const page of ["chat", "overview", "nodes", "devices", "channels", "logs", "config", "security"]) {
        expect(fs.existsSync(path.join(SCREENSHOTS, `${page}-desktop.png`))).toBe(true)
        expect(fs.existsSync(path.join(SCREENSHOTS, `${page}-phone.png`))).toBe(true)
      }
    })
  )
})

describe.skipIf(!sshdAvailable)("the Control UI through an SSH tunnel (needs /usr/sbin/sshd; .ci/run installs openssh-server)", () => {
  itBrowser(
    "through `clawgate dashboard --ssh`: the page over the SSH tunnel pairs with the link and chats with the remote Gateway",
    () =>
      Effect.gen(function* () {
        const gw = yield* startGateway()
        const sshd = yield* startSshd
        const cliDir = yield* tempDir()
        const dash = yield* spawnCli(
          ["dashboard", "--ssh", sshd.target, "--ssh-config", sshd.sshConfig, "--remote-port", String(gw.port), "--token", TOKEN],
          { CLAWGATE_STATE_DIR: cliDir }
        )
        const [link, port] = yield* p(() => dash.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\/#bootstrapToken=[A-Za-z0-9_-]{43}/))
        expect(Number(port)).not.toBe(gw.port)
        const b = yield* openPage(yield* launchBrowser())
        yield* p(() => b.page.goto(link))
        yield* stateIs(b.page, "Connected")
        yield* p(() => b.page.getByRole("textbox", { name: "Message" }).fill("over the tunnel"))
        yield* p(() => b.page.getByRole("button", { name: "Send" }).click())
        yield* p(() => b.page.locator(".msg-assistant").filter({ hasText: "[offline model]" }).first().waitFor(WAIT))
        dash.child.kill("SIGINT")
        expect(yield* p(() => dash.exited)).toBe(0)
        expectClean(b)
      }),
    90_000
  )
})
