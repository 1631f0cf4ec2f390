/**
 * Interop with the real OpenClaw 2026.9.6 (protocol 4), both directions:
 *   (a) the clawgate CLI against a real OpenClaw Gateway,
 *   (b) the real OpenClaw CLI against a clawgate Gateway.
 *
 * Needs `bash scripts/interop-setup.sh` (installs OpenClaw and the Node 24 it
 * requires into .interop/) and `npm run build`; without .interop/ the suite is
 * skipped, so `npm test` passes on a machine that does not have it.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnGateway } from "../support/cli.js"
import {
  OPENCLAW_VERSION,
  OpenClawGateway,
  OpenClawGatewayLive,
  openClawHome,
  parseJson,
  randomToken,
  runOpenClaw,
  tempDir,
  unavailableReason
} from "./openclaw-support.js"

/** Starting a real OpenClaw Gateway alone takes 15–25 s (up to 90 s allowed). */
const GATEWAY_TIMEOUT = 150_000
const TEST_TIMEOUT = 120_000

const suiteName =
  unavailableReason === undefined
    ? `interop with the real OpenClaw ${OPENCLAW_VERSION}`
    : `interop with the real OpenClaw ${OPENCLAW_VERSION} (SKIPPED: ${unavailableReason})`

describe.skipIf(unavailableReason !== undefined)(suiteName, () => {
  layer(OpenClawGatewayLive, { timeout: GATEWAY_TIMEOUT, excludeTestServices: true })(
    "the clawgate CLI against a real OpenClaw Gateway",
    (it) => {
      /** A clawgate CLI env that has no config of its own: everything comes from --url/--token. */
      const cliEnv = Effect.map(tempDir("clawgate-interop-cli-"), (dir) => ({ CLAWGATE_STATE_DIR: dir }))

      it.scoped(
        "health --url --token --json: exit 0 and the Gateway's health snapshot with ok: true",
        () =>
          Effect.gen(function* () {
            const oc = yield* OpenClawGateway
            const env = yield* cliEnv
            const res = yield* runCli(["health", "--url", oc.url, "--token", oc.token, "--json"], env)
            expect(res.stderr).toBe("")
            expect(res.code).toBe(0)
            const out = JSON.parse(res.stdout)
            expect(out.target.url).toBe(oc.url)
            expect(typeof out.latencyMs).toBe("number")
            expect(out.health.ok).toBe(true)
            expect(out.health.defaultAgentId).toBe("main")

            const human = yield* runCli(["health", "--url", oc.url, "--token", oc.token], env)
            expect(human.code).toBe(0)
            expect(human.stdout).toMatch(/healthy/)
          }),
        TEST_TIMEOUT
      )

      it.scoped(
        "gateway call status --url --token --json: exit 0 and OpenClaw's own status object",
        () =>
          Effect.gen(function* () {
            const oc = yield* OpenClawGateway
            const env = yield* cliEnv
            const res = yield* runCli(["gateway", "call", "status", "--url", oc.url, "--token", oc.token, "--json"], env)
            expect(res.stderr).toBe("")
            expect(res.code).toBe(0)
            const status = JSON.parse(res.stdout)
            expect(status).toBeTypeOf("object")
            expect(status).not.toBeNull()
            expect(status.runtimeVersion).toBe(OPENCLAW_VERSION)
            expect(Array.isArray(status.sessions.byAgent)).toBe(true)

            const health = yield* runCli(["gateway", "call", "health", "--url", oc.url, "--token", oc.token, "--json"], env)
            expect(health.code).toBe(0)
            expect(JSON.parse(health.stdout).ok).toBe(true)
          }),
        TEST_TIMEOUT
      )

      it.scoped(
        "status --deep --url --token --json: exit 0, reachable, with health",
        () =>
          Effect.gen(function* () {
            const oc = yield* OpenClawGateway
            const env = yield* cliEnv
            const res = yield* runCli(["status", "--deep", "--url", oc.url, "--token", oc.token, "--json"], env)
            expect(res.stderr).toBe("")
            expect(res.code).toBe(0)
            const report = JSON.parse(res.stdout)
            expect(report.reachable).toBe(true)
            expect(report.target.url).toBe(oc.url)
            expect(report.health.ok).toBe(true)

            const human = yield* runCli(["status", "--deep", "--url", oc.url, "--token", oc.token], env)
            expect(human.code).toBe(0)
            expect(human.stdout).toMatch(/Health: +ok/)
          }),
        TEST_TIMEOUT
      )

      it.scoped(
        "a wrong token: exit 4 and a message that says token mismatch",
        () =>
          Effect.gen(function* () {
            const oc = yield* OpenClawGateway
            const env = yield* cliEnv
            const health = yield* runCli(["health", "--url", oc.url, "--token", "wrong-token"], env)
            expect(health.code).toBe(4)
            expect(health.stderr).toContain("token mismatch")
            const call = yield* runCli(["gateway", "call", "status", "--url", oc.url, "--token", "wrong-token"], env)
            expect(call.code).toBe(4)
            expect(call.stderr).toContain(`${oc.url} (from --url) refused the connection: unauthorized: gateway token mismatch`)
          }),
        TEST_TIMEOUT
      )
    }
  )

  describe("the real OpenClaw CLI against a clawgate Gateway", () => {
    /** A clawgate Gateway (child process) with a known token, and an isolated OpenClaw home whose config points at it. */
    const setup = Effect.gen(function* () {
      const token = randomToken("interop-clawgate")
      const gwDir = yield* tempDir("clawgate-interop-gw-")
      const gw = yield* spawnGateway(["--port", "0", "--token", token], { CLAWGATE_STATE_DIR: gwDir })
      const ocDir = yield* tempDir("clawgate-interop-occli-")
      const oc = yield* openClawHome(ocDir, {
        mode: "local",
        port: gw.port,
        bind: "loopback",
        auth: { mode: "token", token }
      })
      yield* Effect.addFinalizer(() => Effect.promise(() => gw.stop()))
      return { gw, token, env: oc.env }
    })

    it.scopedLive(
      "openclaw gateway call health|status --url --token --json: exit 0 and clawgate's payloads; a wrong token fails",
      () =>
        Effect.gen(function* () {
          const { gw, token, env } = yield* setup

          const health = yield* runOpenClaw(["gateway", "call", "health", "--url", gw.url, "--token", token, "--json"], env)
          expect(health.code, health.stderr).toBe(0)
          const h = parseJson(health)
          expect(h.ok).toBe(true)
          expect(typeof h.ts).toBe("number")
          expect(h.defaultAgentId).toBe("main")
          expect(h.agents.map((a: any) => a.agentId)).toContain("main")

          const status = yield* runOpenClaw(["gateway", "call", "status", "--url", gw.url, "--token", token, "--json"], env)
          expect(status.code, status.stderr).toBe(0)
          const s = parseJson(status)
          expect(s).toBeTypeOf("object")
          expect(s.gateway.port).toBe(gw.port)
          expect(s.gateway.authMode).toBe("token")

          const wrong = yield* runOpenClaw(["gateway", "call", "status", "--url", gw.url, "--token", "wrong-token", "--json"], env)
          expect(wrong.code).not.toBe(0)
          const w = parseJson(wrong)
          expect(w.ok).toBe(false)
          expect(w.error.message).toContain("token mismatch")
          expect(w.error.details.code).toBe("AUTH_TOKEN_MISMATCH")
          expect(wrong.stderr).toContain("gateway token mismatch")

          // `gateway probe` (connect + health/status/presence over the config's port): reachable, read-only.
          const probe = yield* runOpenClaw(["gateway", "probe", "--json"], env)
          expect(probe.code, probe.stderr).toBe(0)
          const p = parseJson(probe)
          expect(p.ok).toBe(true)
          expect(p.targets[0].url).toBe(gw.url)
          expect(p.targets[0].connect.ok).toBe(true)
        }),
      TEST_TIMEOUT
    )

    it.scopedLive(
      "openclaw health (config pointing at clawgate): --json and the human summary both succeed, and list clawgate's sessions",
      () =>
        Effect.gen(function* () {
          const ctx = yield* setup
          const { env } = ctx

          const json = yield* runOpenClaw(["health", "--json"], env)
          expect(json.code, json.stderr).toBe(0)
          expect(parseJson(json).ok).toBe(true)

          // The human output prints every agent's session store: `agents[].sessions.{path,count,recent}`.
          const human = yield* runOpenClaw(["health"], env)
          expect(human.stderr).not.toContain("The CLI command failed")
          expect(human.code).toBe(0)
          expect(human.stdout).toContain("Agents: main (default)")
          expect(human.stdout).toMatch(/Session store \(main\): \S+ \(0 entries\)/)

          // After an agent turn the store has one session, and OpenClaw's CLI lists it from clawgate's health.
          const { gw, token } = yield* Effect.succeed(ctx)
          const cliDir = yield* tempDir("clawgate-interop-cli-")
          const turn = yield* runCli(["gateway", "agent", "--message", "hi", "--url", gw.url, "--token", token], {
            CLAWGATE_STATE_DIR: cliDir
          })
          expect(turn.code, turn.stderr).toBe(0)
          const after = yield* runOpenClaw(["health"], env)
          expect(after.stdout).toMatch(/Session store \(main\): \S+ \(1 entries\)/)
          expect(after.stdout).toMatch(/- agent:main:main \(\d+m ago\)/)
        }),
      TEST_TIMEOUT
    )

    it.scopedLive(
      "openclaw status --json (config pointing at clawgate): exit 0, Gateway reachable",
      () =>
        Effect.gen(function* () {
          const { gw, env } = yield* setup
          const res = yield* runOpenClaw(["status", "--json"], env)
          expect(res.stderr).not.toContain("The CLI command failed")
          expect(res.code).toBe(0)
          const report = parseJson(res)
          expect(report.gateway.reachable).toBe(true)
          expect(report.gateway.url).toBe(gw.url)
          expect(report.agents.agents.map((a: any) => a.id)).toContain("main")
        }),
      TEST_TIMEOUT
    )
  })
})
