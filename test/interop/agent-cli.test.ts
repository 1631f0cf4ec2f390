/**
 * The real OpenClaw CLI's `openclaw agent --message …` against a clawgate
 * Gateway (child process, offline model): in text mode it prints the final
 * result's `payloads[].text`, so clawgate's final `agent` answer must carry
 * them (beside its own `text`/`toolCalls`).
 *
 * Needs `bash scripts/interop-setup.sh` and `npm run build`; skipped without .interop/.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnGateway } from "../support/cli.js"
import { OPENCLAW_VERSION, openClawHome, parseJson, randomToken, runOpenClaw, tempDir, unavailableReason } from "./openclaw-support.js"

const TEST_TIMEOUT = 120_000

const suiteName =
  unavailableReason === undefined
    ? `openclaw agent (OpenClaw ${OPENCLAW_VERSION}) against a clawgate Gateway`
    : `openclaw agent (OpenClaw ${OPENCLAW_VERSION}) against a clawgate Gateway (SKIPPED: ${unavailableReason})`

describe.skipIf(unavailableReason !== undefined)(suiteName, () => {
  /** A clawgate Gateway (offline model) with a known token, and an OpenClaw home whose config points at it. */
  const setup = Effect.gen(function* () {
    const token = randomToken("interop-agent")
    const gwDir = yield* tempDir("clawgate-interop-agent-gw-")
    const gw = yield* spawnGateway(["--port", "0", "--token", token], { CLAWGATE_STATE_DIR: gwDir })
    yield* Effect.addFinalizer(() => Effect.promise(() => gw.stop()))
    const ocDir = yield* tempDir("clawgate-interop-agent-oc-")
    const oc = yield* openClawHome(ocDir, { mode: "local", port: gw.port, bind: "loopback", auth: { mode: "token", token } })
    return { gw, token, env: oc.env }
  })

  it.scopedLive(
    "openclaw agent --message hi: exit 0 and the agent's reply printed; --json has result.payloads and clawgate's own fields",
    () =>
      Effect.gen(function* () {
        const { gw, token, env } = yield* setup

        const text = yield* runOpenClaw(["agent", "--message", "hi"], env)
        expect(text.stderr).not.toContain("The CLI command failed")
        expect(text.code, text.stderr).toBe(0)
        // The offline model answers every message; its reply is what clawgate's own CLI prints too.
        const ours = yield* runCli(["gateway", "agent", "--message", "hi", "--url", gw.url, "--token", token], {
          CLAWGATE_STATE_DIR: env.HOME
        })
        expect(ours.code, ours.stderr).toBe(0)
        const reply = ours.stdout.trim()
        expect(reply.length).toBeGreaterThan(0)
        expect(text.stdout.trim()).toBe(reply)

        const json = yield* runOpenClaw(["agent", "--message", "hi", "--json"], env)
        expect(json.code, json.stderr).toBe(0)
        const out = parseJson(json)
        expect(out.status).toBe("ok")
        expect(typeof out.runId).toBe("string")
        expect(out.result.payloads).toEqual([{ text: reply }])
        expect(out.result.text).toBe(reply)
        expect(out.result.toolCalls).toBe(0)
        expect(typeof out.result.meta.durationMs).toBe("number")
      }),
    TEST_TIMEOUT
  )
})
