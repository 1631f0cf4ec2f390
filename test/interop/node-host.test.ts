/**
 * The real OpenClaw 2026.9.6 node host (`openclaw node run`) against a clawgate
 * Gateway (child processes both): started before it is approved, it keeps
 * retrying on PAIRING_REQUIRED (clawgate tells a node to wait and retry) and
 * connects by itself once `clawgate devices approve` is run; then what it
 * publishes (node.runnerInventory.update, node.pluginTools.update and, when it
 * has skills, node.skills.update) is answered ok once per connection, with no
 * retry storm, and `clawgate nodes describe` shows it.
 *
 * Skipped without `.interop/` (see openclaw-support.ts); needs `node scripts/build.mjs`.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnGateway } from "../support/cli.js"
import {
  killGroup,
  NODE24,
  OPENCLAW_MJS,
  OPENCLAW_VERSION,
  openClawHome,
  randomToken,
  tempDir,
  unavailableReason
} from "./openclaw-support.js"

const TEST_TIMEOUT = 300_000
/**
 * How long the node host is watched after it connected. OpenClaw's node host retries a publication
 * the Gateway did not answer ok (or `unknown method`) with a backoff capped at 5 s, so a Gateway that
 * refused them would see at least 24 more tries of each in these two minutes (the issue saw 333 in
 * 9 minutes).
 */
const QUIET_WINDOW_MS = 120_000

/** `openclaw node run` in its own process group, its stderr (where it logs) collected; stopped with the scope. */
const startNodeHost = (env: Record<string, string>, port: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child: ChildProcess = spawn(
        NODE24,
        [OPENCLAW_MJS, "node", "run", "--host", "127.0.0.1", "--port", String(port), "--no-tls", "--display-name", "interop-node"],
        { env, cwd: env.HOME, detached: true, stdio: ["ignore", "pipe", "pipe"] }
      )
      let out = ""
      child.stdout!.on("data", (d) => (out += d))
      child.stderr!.on("data", (d) => (out += d))
      return { child, output: () => out }
    }),
    ({ child }) => Effect.promise(() => killGroup(child, 5_000))
  )

/** Polls `check` every 250 ms until it returns a value, failing with `what` and the node host's output after `timeoutMs`. */
const until = <A>(what: string, timeoutMs: number, output: () => string, check: () => Effect.Effect<A | undefined>) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = yield* check()
      if (found !== undefined) return found
      if (Date.now() > deadline) return yield* Effect.die(new Error(`${what} within ${timeoutMs} ms; node host output:\n${output()}`))
      yield* Effect.sleep("250 millis")
    }
  })

const count = (text: string, re: RegExp) => (text.match(new RegExp(re.source, "g")) ?? []).length

const suiteName =
  unavailableReason === undefined
    ? `OpenClaw ${OPENCLAW_VERSION}'s node host against a clawgate Gateway`
    : `OpenClaw ${OPENCLAW_VERSION}'s node host against a clawgate Gateway (SKIPPED: ${unavailableReason})`

describe.skipIf(unavailableReason !== undefined)(suiteName, () => {
  it.scopedLive(
    "started before approval it keeps retrying, connects after `clawgate devices approve` without a restart, and publishes once",
    () =>
      Effect.gen(function* () {
        const token = randomToken("interop-nodehost")
        const gwDir = yield* tempDir("clawgate-interop-nodehost-gw-")
        // Pairing by the owner only: a local node is not approved by itself.
        yield* Effect.promise(() =>
          fs.writeFile(path.join(gwDir, "clawgate.json"), JSON.stringify({ gateway: { nodes: { pairing: { autoApproveLocal: false } } } }))
        )
        const gw = yield* spawnGateway(["--port", "0", "--token", token], { CLAWGATE_STATE_DIR: gwDir })
        yield* Effect.addFinalizer(() => Effect.promise(() => gw.stop()))
        const cliDir = yield* tempDir("clawgate-interop-nodehost-cli-")
        const cli = (args: ReadonlyArray<string>) => runCli([...args, "--url", gw.url, "--token", token], { CLAWGATE_STATE_DIR: cliDir })

        const ocDir = yield* tempDir("clawgate-interop-nodehost-oc-")
        const oc = yield* openClawHome(ocDir, { mode: "local", port: gw.port, bind: "loopback", auth: { mode: "token", token } })
        const host = yield* startNodeHost({ ...oc.env, OPENCLAW_GATEWAY_TOKEN: token }, gw.port)

        // Refused while pending, it tries again by itself (twice at least), and never pauses.
        yield* until("the node host did not retry after pairing required", 60_000, host.output, () =>
          host.output().includes("reconnect paused")
            ? Effect.die(new Error(`the node host paused on PAIRING_REQUIRED:\n${host.output()}`))
            : Effect.succeed(count(host.output(), /node host gateway connect failed: [^\n]*pairing required/) >= 2 ? true : undefined)
        )
        expect(host.output()).not.toContain("reconnect paused")
        const listed = yield* cli(["devices", "list", "--json"])
        expect(listed.code, listed.stderr).toBe(0)
        const pending = JSON.parse(listed.stdout).pending as Array<{ requestId: string; deviceId: string; roles?: Array<string> }>
        expect(pending).toHaveLength(1)
        const { requestId, deviceId } = pending[0]!

        const approved = yield* cli(["devices", "approve", requestId])
        expect(approved.code, approved.stderr).toBe(0)
        expect(approved.stdout).toContain(`approved ${requestId}`)
        yield* until("the node host did not connect after approval", 60_000, host.output, () =>
          Effect.succeed(host.output().includes("node host gateway connected:") ? true : undefined)
        )
        expect(host.child.exitCode).toBeNull()

        // What it publishes is answered ok: `clawgate nodes describe` shows it, each kind sent once.
        const describeNode = Effect.map(cli(["nodes", "describe", deviceId, "--json"]), (r) => {
          expect(r.code, r.stderr).toBe(0)
          return JSON.parse(r.stdout)
        })
        const first = yield* until("node.describe showed no runner inventory and plugin tools", 30_000, host.output, () =>
          Effect.map(describeNode, (d) =>
            d.published?.updates?.runnerInventory >= 1 && d.published?.updates?.pluginTools >= 1 ? d : undefined
          )
        )
        expect(first.connected).toBe(true)
        expect(first.published.runnerInventory.protocolFeatures).toEqual(["node-worker-supervisor-v6"])
        expect(Array.isArray(first.published.pluginTools)).toBe(true)

        yield* Effect.sleep(QUIET_WINDOW_MS)
        const later = yield* describeNode
        // One accepted publication of each kind on this connection, and none refused (the node host logs every refusal).
        expect(later.published.updates.runnerInventory).toBe(1)
        expect(later.published.updates.pluginTools).toBe(1)
        expect(later.published.updates.skills).toBeLessThanOrEqual(1)
        expect(host.output()).not.toMatch(/publish failed/)
        expect(count(host.output(), /node host gateway connected:/)).toBe(1)

        const human = yield* cli(["nodes", "describe", deviceId])
        expect(human.code, human.stderr).toBe(0)
        expect(human.stdout).toContain("published")
        expect(human.stdout).toContain("node-worker-supervisor-v6")
      }),
    TEST_TIMEOUT
  )
})
