/**
 * Nodes end to end, as a user runs them: a real Gateway process, two or more
 * real `clawgate node run` processes, and the CLI for everything else.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnGateway } from "../support/cli.js"
import { spawnNode } from "../support/node.js"
import { tempDir, writeConfig } from "../support/gateway.js"

const TOKEN = "nodes-e2e-token-0123456789"

const cli = (args: Array<string>, port: number) =>
  runCli([...args, "--token", TOKEN], { CLAWGATE_GATEWAY_PORT: String(port), CLAWGATE_STATE_DIR: "/nonexistent-clawgate-cli" })

const json = (r: { stdout: string; stderr: string; code: number | null }) => {
  try {
    return JSON.parse(r.stdout)
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`)
  }
}

describe("nodes end to end", () => {
  it.scopedLive("two node processes: list, describe, invoke round trips reach only the named node", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: TOKEN } } })
      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      const laptop = yield* spawnNode(gw.url, "laptop", [["echo", "from-laptop"]], ["--token", TOKEN])
      const phone = yield* spawnNode(gw.url, "phone", [["echo", "from-phone"]], ["--token", TOKEN])
      yield* Effect.promise(() => Promise.all([laptop.waitFor(/connected as nodeId/), phone.waitFor(/connected as nodeId/)]))

      const list = json(yield* cli(["nodes", "list", "--json"], gw.port))
      expect(list.nodes.map((n: any) => n.displayName).sort()).toEqual(["laptop", "phone"])
      for (const n of list.nodes) {
        expect(n).toMatchObject({
          connected: true,
          paired: true,
          commands: ["system.info", "system.notify", "system.run", "system.run.prepare", "system.which"]
        })
      }
      const human = yield* cli(["nodes", "list"], gw.port)
      expect(human.stdout).toMatch(/laptop +[0-9a-f]{12} +connected/)

      const info = json(yield* cli(["nodes", "invoke", "laptop", "system.info", "--json"], gw.port))
      expect(info).toMatchObject({ ok: true, command: "system.info", payload: { platform: process.platform, clawgate: "0.1.0" } })
      const laptopId = list.nodes.find((n: any) => n.displayName === "laptop").nodeId
      expect(info.nodeId).toBe(laptopId)

      // system.run runs only what that node's allowlist names, on that node.
      const ran = json(
        yield* cli(["nodes", "invoke", "phone", "system.run", "--params", '{"command":["echo","from-phone"]}', "--json"], gw.port)
      )
      expect(ran.payload).toMatchObject({ exitCode: 0, success: true, stdout: "from-phone\n" })
      const denied = yield* cli(["nodes", "invoke", "phone", "system.run", "--params", '{"command":["echo","from-laptop"]}'], gw.port)
      expect(denied.code).toBe(1)
      expect(denied.stderr).toContain('SYSTEM_RUN_DENIED: ["echo","from-laptop"] is not in the allowlist')
      // The refusal is logged on the node that refused, with the reason.
      yield* Effect.promise(() => phone.waitFor(/system\.run denied: \["echo","from-laptop"\] is not in .*exec-allowlist\.json/))
      expect(laptop.output()).not.toContain("denied")

      // system.notify shows a line on that node's terminal.
      yield* cli(
        ["nodes", "invoke", laptopId.slice(0, 8), "system.notify", "--params", '{"title":"hi","body":"from the gateway"}'],
        gw.port
      )
      yield* Effect.promise(() => laptop.waitFor(/hi: from the gateway/))

      // Refused before reaching the node: an undeclared command.
      const undeclared = yield* cli(["nodes", "invoke", "laptop", "camera.snap"], gw.port)
      expect(undeclared.code).toBe(1)
      expect(undeclared.stderr).toContain('the node does not declare "camera.snap"')
      const describe = json(yield* cli(["nodes", "describe", "phone", "--json"], gw.port))
      expect(describe).toMatchObject({ displayName: "phone", connected: true, clientId: "node-host" })
      const unknown = yield* cli(["nodes", "invoke", "tablet", "system.info"], gw.port)
      expect(unknown.code).toBe(2)
      expect(unknown.stderr).toMatch(/no node matches "tablet"/)
    })
  )

  it.scopedLive("a node killed mid-invoke fails the invoke at once; an unanswered invoke times out", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: TOKEN }, nodes: { commands: { deny: ["system.notify"] } } } })
      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      const node = yield* spawnNode(gw.url, "sleeper", [["sleep", "20"]], ["--token", TOKEN])
      yield* Effect.promise(() => node.waitFor(/connected as nodeId/))

      const policy = yield* cli(["nodes", "invoke", "sleeper", "system.notify", "--params", '{"body":"x"}'], gw.port)
      expect(policy.code).toBe(1)
      expect(policy.stderr).toContain('"system.notify" is blocked by gateway.nodes.commands.deny')

      const timedOut = yield* cli(
        ["nodes", "invoke", "sleeper", "system.run", "--params", '{"command":["sleep","20"],"timeoutMs":20000}', "--invoke-timeout", "700"],
        gw.port
      )
      expect(timedOut.code).toBe(1)
      expect(timedOut.stderr).toContain("TIMEOUT: node invoke timed out")
      // The node is told, and stops the program it was running.
      yield* Effect.promise(() => node.waitFor(/invoke [0-9a-f-]{36} cancelled by the Gateway/))

      const started = Date.now()
      const pending = Effect.runPromise(
        cli(["nodes", "invoke", "sleeper", "system.run", "--params", '{"command":["sleep","20"],"timeoutMs":20000}', "--json"], gw.port)
      )
      yield* Effect.sleep("1500 millis")
      node.child.kill("SIGKILL")
      const res = yield* Effect.promise(() => pending)
      expect(res.code).toBe(1)
      expect(json(res).error).toMatchObject({ code: "UNAVAILABLE", details: { nodeError: { code: "DISCONNECTED" } } })
      // At once, not after the 30 s default timeout.
      expect(Date.now() - started).toBeLessThan(8_000)
      const offline = yield* cli(["nodes", "invoke", "sleeper", "system.info"], gw.port)
      expect(offline.stderr).toContain("node not connected")
    })
  )

  it.scopedLive("pairing by approval: the node waits, `devices approve` lets it in, `devices revoke` throws it out", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: TOKEN }, nodes: { pairing: { autoApproveLocal: false } } } })
      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      const node = yield* spawnNode(gw.url, "desk", [], ["--token", TOKEN])
      const m = yield* Effect.promise(() => node.waitFor(/clawgate devices approve ([0-9a-f-]{36})/))
      const requestId = m[1]!
      const pending = json(yield* cli(["devices", "list", "--json"], gw.port))
      expect(pending.pending).toEqual([expect.objectContaining({ requestId, displayName: "desk", roles: ["node"] })])
      expect(json(yield* cli(["nodes", "list", "--json"], gw.port)).nodes).toEqual([])

      const approved = yield* cli(["devices", "approve", requestId], gw.port)
      expect(approved.code).toBe(0)
      // The node's next retry (backoff 1 s, 2 s, ...) connects.
      yield* Effect.promise(() => node.waitFor(/connected as nodeId ([0-9a-f]{64})/, 20_000))
      const deviceId = /connected as nodeId ([0-9a-f]{64})/.exec(node.output())![1]!

      const revoked = yield* cli(["devices", "revoke", deviceId.slice(0, 10)], gw.port)
      expect(revoked.code).toBe(0)
      yield* Effect.promise(() => node.waitFor(/disconnected: .*4001 device token revoked/))
      // Its pairing no longer holds the node role: it is back to waiting, under a new request.
      const second = yield* Effect.promise(() =>
        node.waitFor(new RegExp(`disconnected[\\s\\S]*clawgate devices approve (?!${requestId})([0-9a-f-]{36})`), 20_000)
      )
      const after = json(yield* cli(["devices", "list", "--json"], gw.port))
      expect(after.pending).toEqual([expect.objectContaining({ requestId: second[1], reason: "role-upgrade" })])
      const rejected = yield* cli(["devices", "reject", after.pending[0].requestId], gw.port)
      expect(rejected.code).toBe(0)
      const removed = yield* cli(["devices", "remove", deviceId], gw.port)
      expect(removed.code).toBe(0)
      expect(json(yield* cli(["devices", "list", "--json"], gw.port)).paired).toEqual([])
    })
  )

  it.scopedLive("a node reconnects by itself after the Gateway restarts, keeping its pairing", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: TOKEN }, nodes: { pairing: { autoApproveLocal: false } } } })
      const first = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      const node = yield* spawnNode(first.url, "survivor", [], ["--token", TOKEN])
      const m = yield* Effect.promise(() => node.waitFor(/clawgate devices approve ([0-9a-f-]{36})/))
      expect((yield* cli(["devices", "approve", m[1]!], first.port)).code).toBe(0)
      yield* Effect.promise(() => node.waitFor(/connected as nodeId/, 20_000))

      expect(yield* Effect.promise(() => first.stop())).toBe(0)
      yield* Effect.promise(() => node.waitFor(/disconnected: /))
      // Same state dir, same port: the pairing came through the restart (no new approval needed).
      const second = yield* spawnGateway(["--port", String(first.port)], { CLAWGATE_STATE_DIR: dir })
      yield* Effect.promise(() => node.waitFor(/disconnected: [\s\S]*connected as nodeId/, 40_000))
      const info = json(yield* cli(["nodes", "invoke", "survivor", "system.info", "--json"], second.port))
      expect(info.ok).toBe(true)
    })
  )
})
