/**
 * The node approval flow against the real OpenClaw 2026.9.6, both ways:
 *   (a) clawgate's node host against a real OpenClaw Gateway: its declared commands wait in OpenClaw's
 *       `node.pair.*` queue; `clawgate nodes pending` shows the request, `clawgate nodes approve` approves it
 *       (asking for operator.admin, as the request includes system.run), and then OpenClaw invokes it.
 *   (b) OpenClaw's node host against a clawgate Gateway with `gateway.nodes.pairing.commandApproval:
 *       "approve"`: its commands are held (node.invoke refuses, naming the approve command) until
 *       `clawgate nodes approve`, then invokable.
 * Skipped without `.interop/` (see openclaw.test.ts); runs on the built dist/.
 */
import { spawn } from "node:child_process"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnCli, spawnGateway } from "../support/cli.js"
import {
  NODE24,
  OPENCLAW_MJS,
  OPENCLAW_VERSION,
  OpenClawGateway,
  OpenClawGatewayLive,
  killGroup,
  openClawHome,
  parseJson,
  randomToken,
  runOpenClaw,
  tempDir,
  unavailableReason
} from "./openclaw-support.js"

const GATEWAY_TIMEOUT = 150_000
const TEST_TIMEOUT = 150_000

const suiteName =
  unavailableReason === undefined
    ? `node approval with the real OpenClaw ${OPENCLAW_VERSION}`
    : `node approval with the real OpenClaw ${OPENCLAW_VERSION} (SKIPPED: ${unavailableReason})`

/** `clawgate nodes pending --json` until a request of a node appears (the positive signal), or fails after `timeoutMs`. */
const waitForPending = (args: ReadonlyArray<string>, env: Record<string, string>, timeoutMs = 60_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    let last = ""
    for (;;) {
      const res = yield* runCli(["nodes", "pending", ...args, "--json"], env)
      last = `${res.code} ${res.stdout} ${res.stderr}`
      if (res.code === 0) {
        const pending = JSON.parse(res.stdout) as Array<any>
        const found = pending.find((r) => Array.isArray(r.commands) && r.commands.includes("system.run"))
        if (found) return found
      }
      if (Date.now() > deadline) return yield* Effect.die(new Error(`no pending node request after ${timeoutMs} ms: ${last}`))
      yield* Effect.sleep("300 millis")
    }
  })

/** `clawgate nodes invoke ...` until it succeeds (the Gateway may take a moment to apply an approval). */
const invokeUntilOk = (args: ReadonlyArray<string>, env: Record<string, string>, timeoutMs = 30_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const res = yield* runCli(["nodes", "invoke", ...args], env, 40_000)
      if (res.code === 0 || Date.now() > deadline) return res
      yield* Effect.sleep("500 millis")
    }
  })

describe.skipIf(unavailableReason !== undefined)(suiteName, () => {
  layer(OpenClawGatewayLive, { timeout: GATEWAY_TIMEOUT, excludeTestServices: true })(
    "clawgate's node host against a real OpenClaw Gateway",
    (it) => {
      it.scoped(
        "nodes pending shows its request (system.run: operator.admin); nodes approve approves it; then OpenClaw invokes it",
        () =>
          Effect.gen(function* () {
            const oc = yield* OpenClawGateway
            const nodeDir = yield* tempDir("clawgate-interop-node-")
            const cliDir = yield* tempDir("clawgate-interop-cli-")
            const env = { CLAWGATE_STATE_DIR: cliDir }
            const target = ["--url", oc.url, "--token", oc.token]
            const node = yield* spawnCli(["node", "run", ...target, "--name", "approval-lap"], { CLAWGATE_STATE_DIR: nodeDir })

            const request = yield* waitForPending(target, env)
            expect(request.displayName).toBe("approval-lap")
            expect(request.commands).toEqual(expect.arrayContaining(["system.run", "system.notify"]))
            expect(request.requiredApproveScopes).toEqual(["operator.pairing", "operator.admin"])

            const human = yield* runCli(["nodes", "pending", ...target], env)
            expect(human.code, human.stderr).toBe(0)
            expect(human.stdout).toContain(request.requestId)
            expect(human.stdout).toContain("approval-lap")
            expect(human.stdout).toMatch(/system\.run/)
            expect(human.stdout).toContain("[needs operator.admin]")

            // Before approval OpenClaw does not let it run anything.
            const early = yield* runCli(
              ["nodes", "invoke", request.nodeId, "system.notify", "--params", '{"title":"t","body":"early"}', ...target],
              env
            )
            expect(early.code).not.toBe(0)

            const approved = yield* runCli(["nodes", "approve", request.requestId, ...target], env)
            expect(approved.stderr).toBe("")
            expect(approved.code).toBe(0)
            expect(approved.stdout).toContain(`approved ${request.requestId}`)
            expect(approved.stdout).toContain("system.run")

            const after = yield* runCli(["nodes", "pending", ...target, "--json"], env)
            expect(JSON.parse(after.stdout).map((r: any) => r.requestId)).not.toContain(request.requestId)

            const invoked = yield* invokeUntilOk(
              [request.nodeId, "system.notify", "--params", '{"title":"approved","body":"by clawgate"}', ...target],
              env
            )
            expect(invoked.stderr).toBe("")
            expect(invoked.code).toBe(0)
            expect(JSON.parse(invoked.stdout)).toMatchObject({ shown: true })
            yield* Effect.promise(() => node.waitFor(/\[notify\] approved: by clawgate/))
          }),
        TEST_TIMEOUT
      )
    }
  )

  describe("OpenClaw's node host against a clawgate Gateway holding new commands", () => {
    it.scopedLive(
      "held until clawgate nodes approve (node.invoke names the approve command), then invokable",
      () =>
        Effect.gen(function* () {
          const token = randomToken("interop-clawgate")
          const gwDir = yield* tempDir("clawgate-interop-gw-")
          yield* Effect.promise(() =>
            fsp.writeFile(
              path.join(gwDir, "clawgate.json"),
              JSON.stringify({ gateway: { nodes: { pairing: { commandApproval: "approve" } } } }),
              {
                mode: 0o600
              }
            )
          )
          const gw = yield* spawnGateway(["--port", "0", "--token", token], { CLAWGATE_STATE_DIR: gwDir })
          yield* Effect.addFinalizer(() => Effect.promise(() => gw.stop()))
          const ocDir = yield* tempDir("clawgate-interop-ocnode-")
          const oc = yield* openClawHome(ocDir, { mode: "remote", remote: { url: gw.url, token } })
          // No update checks from the node host (they would reach the npm registry).
          yield* Effect.promise(async () => {
            const cfg = JSON.parse(await fsp.readFile(oc.config, "utf8"))
            await fsp.writeFile(
              oc.config,
              JSON.stringify({ ...cfg, update: { checkOnStart: false }, nodeHost: { autoUpdate: { enabled: false } } }),
              { mode: 0o600 }
            )
          })
          let nodeOut = ""
          yield* Effect.acquireRelease(
            Effect.sync(() => {
              const child = spawn(
                NODE24,
                [OPENCLAW_MJS, "node", "run", "--host", "127.0.0.1", "--port", String(gw.port), "--display-name", "oc-approval-node"],
                {
                  env: { ...oc.env, OPENCLAW_GATEWAY_TOKEN: token, OPENCLAW_NO_AUTO_UPDATE: "1" },
                  cwd: oc.home,
                  detached: true,
                  stdio: ["ignore", "pipe", "pipe"]
                }
              )
              child.stdout!.on("data", (d) => (nodeOut += d))
              child.stderr!.on("data", (d) => (nodeOut += d))
              return child
            }),
            (child) => Effect.promise(() => killGroup(child))
          )

          const cliDir = yield* tempDir("clawgate-interop-cli-")
          const env = { CLAWGATE_STATE_DIR: cliDir }
          const target = ["--url", gw.url, "--token", token]
          const request = yield* waitForPending(target, env, 90_000).pipe(
            Effect.tapDefect(() => Effect.sync(() => console.error(`openclaw node host output:\n${nodeOut}`)))
          )
          expect(request.displayName).toBe("oc-approval-node")
          expect(request.commands).toEqual(expect.arrayContaining(["system.run", "system.which"]))
          expect(request.requiredApproveScopes).toEqual(["operator.pairing", "operator.admin"])

          const held = yield* runCli(["nodes", "invoke", "oc-approval-node", "system.which", "--params", '{"bins":["sh"]}', ...target], env)
          expect(held.code).not.toBe(0)
          expect(held.stderr).toContain(
            `node command not approved: "system.which" waits for approval; run \`clawgate nodes approve ${request.requestId}\``
          )

          // OpenClaw's own CLI reads clawgate's node.pair.list too.
          const ocPending = yield* runOpenClaw(["nodes", "pending", "--json"], { ...oc.env, OPENCLAW_NO_AUTO_UPDATE: "1" })
          expect(ocPending.code, ocPending.stderr).toBe(0)
          expect(parseJson(ocPending).map((r: any) => r.requestId)).toContain(request.requestId)

          const described = yield* runCli(["nodes", "describe", "oc-approval-node", ...target, "--json"], env)
          expect(JSON.parse(described.stdout).approvalState).toBe("pending")

          const approved = yield* runCli(["nodes", "approve", request.requestId, ...target], env)
          expect(approved.stderr).toBe("")
          expect(approved.code).toBe(0)
          expect(approved.stdout).toContain(`approved ${request.requestId}: node oc-approval-node`)

          const which = yield* runCli(
            ["nodes", "invoke", "oc-approval-node", "system.which", "--params", '{"bins":["sh"]}', ...target],
            env
          )
          expect(which.stderr).toBe("")
          expect(which.code).toBe(0)
          expect(JSON.parse(which.stdout).bins.sh).toMatch(/\/sh$/)

          const pending = yield* runCli(["nodes", "pending", ...target], env)
          expect(pending.stdout).toContain("No pending node requests.")
        }),
      TEST_TIMEOUT
    )
  })
})
