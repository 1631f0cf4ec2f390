/**
 * Exec on a clawgate node from a real OpenClaw 2026.9.6 Gateway: clawgate's
 * node host (`clawgate node run`) declares `system.which` and
 * `system.run.prepare` beside `system.run`, as OpenClaw's node host does
 * (OpenClaw's exec tool asks for a prepare before every run on a node), and
 * answers them through OpenClaw's `node.invoke`, invoked with OpenClaw's own
 * CLI. The node's allowlist still decides what runs: prepare runs nothing, and
 * an argv not on the allowlist is refused.
 *
 * Needs `bash scripts/interop-setup.sh` and `npm run build`; skipped without .interop/.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { spawnNode } from "../support/node.js"
import {
  OPENCLAW_VERSION,
  OpenClawGateway,
  OpenClawGatewayLive,
  openClawHome,
  parseJson,
  runOpenClaw,
  tempDir,
  unavailableReason,
  connectOperator,
  until
} from "./openclaw-support.js"

const GATEWAY_TIMEOUT = 150_000
const TEST_TIMEOUT = 150_000

const suiteName =
  unavailableReason === undefined
    ? `exec on a clawgate node from a real OpenClaw ${OPENCLAW_VERSION} Gateway`
    : `exec on a clawgate node from a real OpenClaw ${OPENCLAW_VERSION} Gateway (SKIPPED: ${unavailableReason})`

describe.skipIf(unavailableReason !== undefined)(suiteName, () => {
  layer(OpenClawGatewayLive, { timeout: GATEWAY_TIMEOUT, excludeTestServices: true })("clawgate's node host", (it) => {
    it.scoped(
      "declares system.which and system.run.prepare; answers them through OpenClaw's node.invoke; prepare runs nothing; the allowlist still refuses",
      () =>
        Effect.gen(function* () {
          const oc = yield* OpenClawGateway
          const work = yield* tempDir("clawgate-interop-exec-")
          const marker = path.join(work, "ran")
          const allowed = ["/usr/bin/touch", marker]
          const node = yield* spawnNode(oc.url, "cg-exec", [allowed], ["--token", oc.token])
          const nodeId = (yield* Effect.promise(() => node.waitFor(/connected as nodeId ([0-9a-f]+)/, 30_000)))[1]!

          // OpenClaw pairs the device silently on loopback and holds its command surface for approval.
          const op = yield* connectOperator(oc.url, oc.token)
          const request = yield* until("the node's command surface to be pending", async () => {
            const res = await op.call("node.pair.list", {})
            return res.payload?.pending?.find((p: any) => p.nodeId === nodeId)
          })
          expect(request.commands).toEqual(expect.arrayContaining(["system.which", "system.run.prepare", "system.run"]))
          const approved = yield* Effect.promise(() => op.call("node.pair.approve", { requestId: request.requestId }))
          expect(approved.ok, JSON.stringify(approved.error)).toBe(true)
          const listed = yield* until("the approved commands in node.list", async () => {
            const res = await op.call("node.list", {})
            const entry = res.payload?.nodes?.find((n: any) => n.nodeId === nodeId)
            return entry?.commands?.includes("system.run.prepare") ? entry : undefined
          })
          expect(listed.commands).toEqual(expect.arrayContaining(["system.which", "system.run.prepare", "system.run"]))

          // OpenClaw's CLI with a home of its own, pointed at its Gateway by --url/--token.
          const cli = yield* openClawHome(path.join(work, "cli"), { mode: "local" })
          const remote = ["--url", oc.url, "--token", oc.token]
          const invoke = (command: string, params: unknown) =>
            runOpenClaw(
              [
                "gateway",
                "call",
                "node.invoke",
                "--json",
                ...remote,
                "--params",
                JSON.stringify({ nodeId, command, params, idempotencyKey: `${command}-${Date.now()}` })
              ],
              cli.env
            )

          // system.which through `openclaw nodes invoke`: names found on the node's PATH, others left out.
          const which = yield* runOpenClaw(
            [
              "nodes",
              "invoke",
              "--node",
              nodeId,
              "--command",
              "system.which",
              "--params",
              JSON.stringify({ bins: ["sh", "no-such-program-xyz"] }),
              ...remote
            ],
            cli.env
          )
          expect(which.code, which.stderr).toBe(0)
          const whichOut = parseJson(which)
          expect(whichOut.ok).toBe(true)
          expect(Object.keys(whichOut.payload.bins)).toEqual(["sh"])
          expect(whichOut.payload.bins.sh).toMatch(/^\/.*\/sh$/)

          // A path is not a name: refused, so `which` probes nothing but PATH.
          const probe = yield* invoke("system.which", { bins: ["../../etc/passwd"] })
          expect(probe.code).not.toBe(0)
          expect(JSON.stringify(parseJson(probe))).toContain("is not a program name")

          // system.run.prepare: OpenClaw's plan, the node's verdict, and nothing run.
          const prepare = yield* invoke("system.run.prepare", { command: allowed, rawCommand: `touch ${marker}`, agentId: "main" })
          expect(prepare.code, prepare.stderr).toBe(0)
          const prepared = parseJson(prepare).payload
          expect(prepared.plan).toMatchObject({ argv: allowed, commandText: `/usr/bin/touch ${marker}`, agentId: "main" })
          expect(prepared.execPolicy).toEqual({ security: "full", ask: "off" })
          expect(prepared.allowed).toBe(true)
          expect(fs.existsSync(marker)).toBe(false)

          const preparedDenied = yield* invoke("system.run.prepare", { command: ["/bin/sh", "-lc", "id"] })
          expect(preparedDenied.code, preparedDenied.stderr).toBe(0)
          const deniedPlan = parseJson(preparedDenied).payload
          expect(deniedPlan.allowed).toBe(false)
          expect(deniedPlan.execPolicy.security).toBe("deny")

          // system.run with the prepared plan runs the allowlisted argv...
          const run = yield* invoke("system.run", { command: allowed, systemRunPlan: prepared.plan })
          expect(run.code, run.stderr).toBe(0)
          expect(parseJson(run).payload).toMatchObject({ exitCode: 0, success: true })
          expect(fs.existsSync(marker)).toBe(true)

          // ...and an argv not on the allowlist is refused, through OpenClaw's Gateway as through clawgate's.
          const refused = yield* invoke("system.run", { command: ["/bin/sh", "-lc", "id"] })
          expect(refused.code).not.toBe(0)
          expect(JSON.stringify(parseJson(refused))).toContain("SYSTEM_RUN_DENIED")
          yield* Effect.promise(() => node.waitFor(/system\.run denied: \["\/bin\/sh","-lc","id"\]/))
        }),
      TEST_TIMEOUT
    )
  })
})
