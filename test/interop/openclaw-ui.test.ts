/**
 * OpenClaw's own browser Control UI (the real 2026.9.6 build, .interop/node_modules/openclaw/dist/control-ui)
 * served by a clawgate Gateway child process through `gateway.controlUi.root`, in headless Chromium: the
 * page connects with the `#token=` handoff OpenClaw's UI takes, is told to get this browser approved, is
 * approved with `clawgate devices approve <requestId>` (the id the page shows), connects, shows the main
 * session, sends a chat message and shows the offline model's reply streamed in, stops a run of a model
 * that never answers with its stop button (chat.abort), and renders the Devices
 * and Systems (nodes) pages. Every frame the page sends and receives is recorded in the page: no answer
 * may be an unknown-method error, and no document may see a CSP violation.
 *
 * Skipped when .interop (OpenClaw) or /usr/bin/chromium is absent; runs on the built dist/.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import type { Page } from "playwright-core"
import { itBrowser, launchBrowser, openPage } from "../support/browser.js"
import { startChatDouble } from "../support/chat-completions.js"
import { connectOperator } from "../support/client.js"
import { runCli, spawnGateway } from "../support/cli.js"
import { spawnNode } from "../support/node.js"
import { INTEROP_DIR, OPENCLAW_VERSION, randomToken, tempDir, unavailableReason } from "./openclaw-support.js"

const OPENCLAW_UI = path.join(INTEROP_DIR, "node_modules/openclaw/dist/control-ui")
const WAIT = { timeout: 20_000 }
const p = <A>(f: () => Promise<A>) => Effect.promise(f)

interface Frame {
  readonly dir: "out" | "in"
  readonly text: string
}

/** Records every WebSocket frame of the page (an init script, so before OpenClaw's code runs). */
const recordFrames = (page: Page, frames: Array<Frame>) =>
  p(async () => {
    await page.context().exposeBinding("__clawgateFrame", (_s, dir: "out" | "in", text: string) => {
      frames.push({ dir, text })
    })
    await page.context().addInitScript({
      content: `(() => {
        const Native = WebSocket
        window.WebSocket = class extends Native {
          constructor(...args) {
            super(...args)
            this.addEventListener("message", (m) => window.__clawgateFrame("in", String(m.data)))
          }
          send(data) {
            window.__clawgateFrame("out", String(data))
            return super.send(data)
          }
        }
      })()`
    })
  })

const parsed = (frames: ReadonlyArray<Frame>, dir: Frame["dir"]) =>
  frames
    .filter((f) => f.dir === dir)
    .flatMap((f) => {
      try {
        return [JSON.parse(f.text) as Record<string, any>]
      } catch {
        return []
      }
    })

const suiteName =
  unavailableReason === undefined
    ? `OpenClaw ${OPENCLAW_VERSION}'s browser Control UI against a clawgate Gateway`
    : `OpenClaw ${OPENCLAW_VERSION}'s browser Control UI against a clawgate Gateway (SKIPPED: ${unavailableReason})`

describe.skipIf(unavailableReason !== undefined || !fs.existsSync(path.join(OPENCLAW_UI, "index.html")))(suiteName, () => {
  itBrowser(
    "connects, is paired by `clawgate devices approve`, lists the session, streams the offline model's reply, aborts a run, renders devices and nodes",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir("clawgate-ocui-")
        const token = randomToken("ocui")
        // A model that never answers, for the abort: named now, made the primary later through config.set.
        const slow = yield* startChatDouble(() => "hang")
        const config = {
          gateway: { auth: { token }, controlUi: { root: OPENCLAW_UI } },
          models: { providers: { slow: { api: "openai-completions", baseUrl: slow.baseUrl, models: ["hang"] } } }
        }
        fs.writeFileSync(path.join(dir, "clawgate.json"), JSON.stringify(config), { mode: 0o600 })
        const env = { CLAWGATE_STATE_DIR: dir }
        const gw = yield* spawnGateway(["--port", "0"], env)
        const origin = `http://127.0.0.1:${gw.port}`
        // OpenClaw's page, under clawgate's CSP: its inline scripts and <style> allowed by hash, never 'unsafe-inline'.
        const index = yield* p(() => fetch(`${origin}/`))
        expect(index.status).toBe(200)
        expect(yield* p(() => index.text())).toContain("<openclaw-app>")
        const csp = index.headers.get("content-security-policy") ?? ""
        const directive = (name: string) => csp.split("; ").find((d) => d.startsWith(`${name} `)) ?? ""
        expect(directive("script-src")).toMatch(/^script-src 'self'( 'sha256-[A-Za-z0-9+/=]+'){2}$/)
        expect(directive("style-src")).toMatch(/^style-src 'self' 'sha256-[A-Za-z0-9+/=]+'$/)
        expect(directive("connect-src")).toBe("connect-src 'self' data:")

        const browser = yield* launchBrowser()
        const b = yield* openPage(browser)
        const frames: Array<Frame> = []
        yield* recordFrames(b.page, frames)
        const page = b.page

        // OpenClaw's UI takes the shared token from the fragment; a browser it has not seen must be approved.
        yield* p(() => page.goto(`${origin}/#token=${encodeURIComponent(token)}`))
        yield* p(() => page.getByText("Approve this browser").waitFor(WAIT))
        const shown = (yield* p(() => page.locator("body").textContent())) ?? ""
        const requestId = /devices approve ([0-9a-f-]{36})/.exec(shown)?.[1]
        expect(requestId).toBeDefined()
        const approved = yield* runCli(["devices", "approve", "--url", gw.url, "--token", token, requestId!], env)
        expect(approved.stderr).toBe("")
        expect(approved.code).toBe(0)
        expect(approved.stdout).toContain(`approved ${requestId}`)

        yield* p(() => page.getByRole("button", { name: "Connect" }).click())
        yield* p(() => page.getByText("Connected").first().waitFor(WAIT))
        // The session list: the main session, as clawgate's sessions.list names it.
        yield* p(() => page.getByText("Main Session").first().waitFor(WAIT))

        // A chat message, answered by clawgate's offline model, streamed in as chat deltas.
        const box = page.getByPlaceholder(/Message/).first()
        yield* p(() => box.fill("hello from OpenClaw's UI"))
        yield* p(() => box.press("Enter"))
        yield* p(() => page.getByText("[offline model] You said: hello from OpenClaw's UI").first().waitFor(WAIT))
        // The text shows as the deltas arrive; the run's final event may come a moment later: wait for it.
        const chatEvents = () => parsed(frames, "in").filter((f) => f.type === "event" && f.event === "chat")
        yield* p(async () => {
          const deadline = Date.now() + 15_000
          while (!chatEvents().some((e) => e.payload?.state === "final") && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 50))
          }
        })
        const events = chatEvents()
        expect(events.some((e) => e.payload?.state === "delta")).toBe(true)
        expect(events.some((e) => e.payload?.state === "final")).toBe(true)

        // Abort: the primary becomes the model that never answers; the page's stop button ends the run.
        const admin = yield* connectOperator(gw, { token })
        const { hash } = (yield* admin.connection.request("config.get", {})) as { hash: string }
        yield* admin.connection.request("config.set", {
          raw: JSON.stringify({ ...config, agents: { defaults: { model: { primary: "slow/hang" } } } }),
          baseHash: hash
        })
        yield* admin.close
        yield* p(() => box.fill("this one is stopped"))
        yield* p(() => box.press("Enter"))
        yield* p(() => page.getByRole("button", { name: "Stop generating" }).click(WAIT))
        const aborted = () => parsed(frames, "in").some((f) => f.type === "event" && f.event === "chat" && f.payload?.state === "aborted")
        for (let i = 0; i < 100 && !aborted(); i++) yield* p(() => page.waitForTimeout(100))
        expect(aborted()).toBe(true)
        expect(parsed(frames, "out").some((f) => f.method === "chat.abort")).toBe(true)
        yield* p(() => page.getByRole("button", { name: "Stop generating" }).waitFor({ state: "detached", ...WAIT }))

        // Devices (this browser among the paired ones) and Systems (nodes), by client-side navigation.
        const navigate = (route: string) =>
          p(() =>
            page.evaluate((r) => {
              const w = globalThis as any
              w.history.pushState(null, "", r)
              w.dispatchEvent(new w.PopStateEvent("popstate"))
            }, route)
          )
        yield* navigate("/settings/devices")
        yield* p(() => page.getByText("Paired devices").first().waitFor(WAIT))
        yield* p(() => page.getByText("openclaw-control-ui").first().waitFor(WAIT))
        // A clawgate node connected: the Systems page lists it among the machines.
        const node = yield* spawnNode(gw.url, "desk", [["echo", "hi"]], ["--token", token])
        yield* p(() => node.waitFor(/connected as nodeId/))
        yield* navigate("/systems")
        yield* p(() => page.getByText("desk").first().waitFor(WAIT))

        // Nothing the page asked for was an unknown method; every method it called is in the record.
        const out = parsed(frames, "out").filter((f) => f.type === "req")
        const called = new Set(out.map((f) => String(f.method)))
        for (const m of ["chat.metadata", "chat.send", "sessions.list", "chat.startup", "device.pair.list", "node.list"])
          expect(called).toContain(m)
        const unknown = parsed(frames, "in").filter((f) => f.type === "res" && f.error?.details?.code === "UNKNOWN_METHOD")
        expect(unknown.map((f) => f.error.details.method)).toEqual([])
        const failed = parsed(frames, "in").filter((f) => f.type === "res" && f.ok === false && f.error?.code !== "NOT_PAIRED")
        expect(failed.map((f) => f.error)).toEqual([])
        expect(b.cspViolations).toEqual([])
        expect(b.pageErrors).toEqual([])
        // The one console error is OpenClaw's UI asking for its own Gateway's bootstrap config, which clawgate does not serve.
        expect(b.consoleErrors.filter((e) => !/status of 404/.test(e))).toEqual([])
      }),
    120_000
  )
})
