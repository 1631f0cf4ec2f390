/**
 * `clawgate nodes pending | approve | reject` against a clawgate Gateway with
 * `gateway.nodes.pairing.commandApproval: "approve"` and clawgate's own node host (real processes).
 */
import * as net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnCli, spawnGateway } from "../support/cli.js"
import { tempDir, writeConfig } from "../support/gateway.js"

const TOKEN = "nodes-approval-token-0123456789"

const setup = Effect.gen(function* () {
  const gwDir = yield* tempDir()
  yield* writeConfig(gwDir, { gateway: { nodes: { pairing: { commandApproval: "approve" } } } })
  const gw = yield* spawnGateway(["--port", "0", "--token", TOKEN], { CLAWGATE_STATE_DIR: gwDir })
  const target = ["--url", gw.url, "--token", TOKEN]
  const env = { CLAWGATE_STATE_DIR: yield* tempDir() }
  const node = yield* spawnCli(["node", "run", ...target, "--name", "lap"], { CLAWGATE_STATE_DIR: yield* tempDir() })
  yield* Effect.promise(() => node.waitFor(/\[node\] connected as nodeId/))
  return { gw, target, env, node }
})

const pending = (target: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.map(runCli(["nodes", "pending", ...target, "--json"], env), (r) => JSON.parse(r.stdout) as Array<any>)

/** A port that was free a moment ago (for a Gateway that restarts on the same port). */
const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

describe("clawgate nodes pending/approve/reject", () => {
  it.scopedLive(
    "a new node's commands are held until approved: pending lists them, invoke names the approve command, approve makes them invokable",
    () =>
      Effect.gen(function* () {
        const { target, env } = yield* setup
        const [request] = yield* pending(target, env)
        expect(request).toMatchObject({
          displayName: "lap",
          commands: ["system.info", "system.notify", "system.which", "system.run.prepare", "system.run"],
          requiredApproveScopes: ["operator.pairing", "operator.admin"]
        })

        const human = yield* runCli(["nodes", "pending", ...target], env)
        expect(human.code).toBe(0)
        expect(human.stdout).toMatch(
          new RegExp(
            `Pending \\(1\\): approve with clawgate nodes approve <requestId>\\n  ${request.requestId}  lap +[0-9a-f]{12}  system.info, system.notify, system.which, system.run.prepare, system.run  \\d+s ago from 127.0.0.1  \\[needs operator.admin\\]`
          )
        )

        const held = yield* runCli(["nodes", "invoke", "lap", "system.info", ...target], env)
        expect(held.code).not.toBe(0)
        expect(held.stderr).toContain(
          `node command not approved: "system.info" waits for approval; run \`clawgate nodes approve ${request.requestId}\``
        )
        const list = yield* runCli(["nodes", "describe", "lap", ...target, "--json"], env)
        expect(JSON.parse(list.stdout)).toMatchObject({ approvalState: "pending", commands: [] })

        const unknown = yield* runCli(["nodes", "approve", "no-such-request", ...target], env)
        expect(unknown.code).toBe(2)
        expect(unknown.stderr).toContain(
          `no pending node request "no-such-request" (pending: ${request.requestId}); see clawgate nodes pending`
        )

        const approved = yield* runCli(["nodes", "approve", request.requestId, ...target], env)
        expect(approved.stderr).toBe("")
        expect(approved.code).toBe(0)
        expect(approved.stdout).toMatch(
          new RegExp(
            `^approved ${request.requestId}: node lap [0-9a-f]{12} may now be asked to run system.info, system.notify, system.which, system.run.prepare, system.run`
          )
        )

        const info = yield* runCli(["nodes", "invoke", "lap", "system.info", ...target], env)
        expect(info.code).toBe(0)
        expect(JSON.parse(info.stdout).platform).toBe(process.platform)
        expect(yield* pending(target, env)).toEqual([])
      }),
    60_000
  )

  it.scopedLive(
    "an approval survives a Gateway restart: the reconnected node is invokable at once, nothing pending",
    () =>
      Effect.gen(function* () {
        const gwDir = yield* tempDir()
        yield* writeConfig(gwDir, { gateway: { nodes: { pairing: { commandApproval: "approve" } } } })
        const port = yield* freePort
        const first = yield* spawnGateway(["--port", String(port), "--token", TOKEN], { CLAWGATE_STATE_DIR: gwDir })
        const target = ["--url", first.url, "--token", TOKEN]
        const env = { CLAWGATE_STATE_DIR: yield* tempDir() }
        const node = yield* spawnCli(["node", "run", ...target, "--name", "lap"], { CLAWGATE_STATE_DIR: yield* tempDir() })
        yield* Effect.promise(() => node.waitFor(/\[node\] connected as nodeId/))
        const [request] = yield* pending(target, env)
        expect((yield* runCli(["nodes", "approve", request.requestId, ...target], env)).code).toBe(0)
        expect(yield* Effect.promise(() => first.stop())).toBe(0)

        yield* spawnGateway(["--port", String(port), "--token", TOKEN], { CLAWGATE_STATE_DIR: gwDir })
        yield* Effect.promise(() => node.waitFor(/\[node\] connected as nodeId[\s\S]*\[node\] connected as nodeId/, 30_000))
        expect(yield* pending(target, env)).toEqual([])
        const info = yield* runCli(["nodes", "invoke", "lap", "system.info", ...target], env)
        expect(info.stderr).toBe("")
        expect(info.code).toBe(0)
      }),
    60_000
  )

  it.scopedLive(
    "reject: the commands stay refused, and the refusal says so",
    () =>
      Effect.gen(function* () {
        const { target, env } = yield* setup
        const [request] = yield* pending(target, env)
        const rejected = yield* runCli(["nodes", "reject", request.requestId, ...target], env)
        expect(rejected.code).toBe(0)
        expect(rejected.stdout).toMatch(new RegExp(`^rejected ${request.requestId} \\(node [0-9a-f]{12}\\)`))
        expect(yield* pending(target, env)).toEqual([])
        const refused = yield* runCli(["nodes", "invoke", "lap", "system.info", ...target], env)
        expect(refused.code).not.toBe(0)
        expect(refused.stderr).toContain(`"system.info" was rejected; the node asks again when it reconnects`)
      }),
    60_000
  )
})
