/**
 * `clawgate gateway agent` as a user types it, against a real Gateway process
 * with the default (offline) model: the first message works with no setup,
 * the reply is stored, and remote-style flags reach the same Gateway.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnGateway } from "../support/cli.js"
import { tempDir, writeConfig } from "../support/gateway.js"

const TOKEN = "agent-cli-token-0123456789abcdef"

describe("clawgate gateway agent", () => {
  it.scopedLive("the first `gateway agent --message hi` answers with the offline model; the exchange is in `sessions show`", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: TOKEN } } })
      const env = { CLAWGATE_STATE_DIR: dir }
      const gw = yield* spawnGateway(["--port", "0"], env)
      const cli = (args: Array<string>) => runCli(args, { ...env, CLAWGATE_GATEWAY_PORT: String(gw.port) })

      const plain = yield* cli(["gateway", "agent", "--message", "hi"])
      expect(plain.code, plain.stderr).toBe(0)
      expect(plain.stdout).toContain("[offline model] You said: hi")

      const json = yield* cli(["gateway", "agent", "-m", "second", "--session", "agent:main:cli-test", "--json"])
      expect(json.code, json.stderr).toBe(0)
      const reply = JSON.parse(json.stdout)
      expect(reply).toMatchObject({ status: "ok" })
      expect(reply.result.text).toContain("You said: second")

      const accepted = yield* cli(["gateway", "agent", "-m", "later", "--no-wait", "--json"])
      expect(JSON.parse(accepted.stdout)).toMatchObject({ status: "accepted" })

      const shown = yield* cli(["sessions", "show", "main"])
      expect(shown.code, shown.stderr).toBe(0)
      expect(shown.stdout).toMatch(/user \(operator[^)]*\): hi/)
      expect(shown.stdout).toContain("assistant: [offline model] You said: hi")

      // The same Gateway through --url and --token, as from another machine.
      const remote = yield* runCli(
        ["gateway", "agent", "-m", "over the url", "--url", gw.url, "--token", TOKEN, "--session", "agent:main:cli-test"],
        {
          CLAWGATE_STATE_DIR: "/nonexistent-clawgate-cli"
        }
      )
      expect(remote.code, remote.stderr).toBe(0)
      expect(remote.stdout).toContain("You said: over the url")

      const empty = yield* cli(["gateway", "agent", "--message", "  "])
      expect(empty.code).toBe(2)
      expect(empty.stderr).toContain("--message must not be empty")
      const noDeliverTarget = yield* cli(["gateway", "agent", "-m", "x", "--deliver"])
      expect(noDeliverTarget.code).not.toBe(0)
      expect(noDeliverTarget.stderr).toContain("deliver needs a channel")
    })
  )
})
