/**
 * The Devices page approves a node's held commands (`gateway.nodes.pairing.commandApproval: "approve"`):
 * the page the Gateway serves, in headless Chromium, against a real Gateway and a real `clawgate node run`.
 */
import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import type { Page } from "playwright-core"
import { itBrowser, launchBrowser, openPage } from "../support/browser.js"
import { connectOperator } from "../support/client.js"
import { startGateway, TOKEN } from "../support/gateway.js"
import { spawnNode } from "../support/node.js"

const p = <A>(f: () => Promise<A>) => Effect.promise(f)
const WAIT = { timeout: 15_000 }
const stateIs = (page: Page, text: string) => p(() => page.locator(".conn-text").filter({ hasText: text }).waitFor(WAIT))

describe("the Devices page, node command requests", () => {
  itBrowser("a node's held commands are listed and approved from the page; then the node runs them", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway({ gateway: { auth: { token: TOKEN }, nodes: { pairing: { commandApproval: "approve" } } } })
      const node = yield* spawnNode(gw.url, "desk", [["echo", "hi"]], ["--token", TOKEN])
      yield* p(() => node.waitFor(/connected as nodeId/))

      const admin = yield* connectOperator(gw)
      const issued = (yield* admin.connection.request("device.bootstrap.issue", {})) as { token: string; basePath: string }
      const b = yield* openPage(yield* launchBrowser())
      yield* p(() => b.page.goto(`http://127.0.0.1:${gw.port}${issued.basePath}#bootstrapToken=${encodeURIComponent(issued.token)}`))
      yield* stateIs(b.page, "Connected")
      yield* p(() =>
        b.page.evaluate(() => {
          ;(globalThis as unknown as { location: { hash: string } }).location.hash = "#/devices"
        })
      )
      yield* p(() => b.page.getByRole("heading", { name: "Node commands waiting for approval (1)" }).waitFor(WAIT))
      const card = b.page.getByRole("article", { name: "desk" }).filter({ hasText: "Approver needs" })
      yield* p(() => card.getByText("needs operator.admin").waitFor(WAIT))
      yield* p(() => card.getByText("system.run", { exact: true }).waitFor(WAIT))
      yield* p(() => card.getByRole("button", { name: "Approve commands" }).click())
      yield* p(() => b.page.getByText("Approved desk's commands: they can be invoked now.").waitFor(WAIT))
      yield* p(() => b.page.getByRole("heading", { name: /Node commands waiting/ }).waitFor({ state: "detached", ...WAIT }))

      const { nodes } = (yield* admin.connection.request("node.list", {})) as { nodes: Array<{ nodeId: string; commands: Array<string> }> }
      expect(nodes[0]!.commands).toEqual(["system.info", "system.notify", "system.run", "system.run.prepare", "system.which"])
      const ran = (yield* admin.connection.request("node.invoke", {
        nodeId: nodes[0]!.nodeId,
        command: "system.run",
        params: { command: ["echo", "hi"] },
        idempotencyKey: "ui-approved"
      })) as { payload: { stdout: string } }
      expect(ran.payload.stdout).toBe("hi\n")
      expect(b.pageErrors).toEqual([])
      expect(b.cspViolations).toEqual([])
    })
  )
})
