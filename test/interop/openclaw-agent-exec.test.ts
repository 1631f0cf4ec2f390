/**
 * An OpenClaw 2026.9.6 Gateway's AGENT uses a clawgate node's exec: the real
 * OpenClaw Gateway, with a model provider pointed at a local Chat Completions
 * double and `tools.exec.host: "node"`, runs `openclaw agent --message …`; the
 * model answers with OpenClaw's `exec` tool call, OpenClaw's Gateway asks the
 * clawgate node host (`clawgate node run`) for `system.run.prepare` then
 * `system.run`, and the command's output comes back to the model as the tool
 * result. A command the node's allowlist does not hold is refused by the node.
 *
 * Needs `bash scripts/interop-setup.sh` and `npm run build`; skipped without .interop/.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startChatDouble, toolResults } from "../support/chat-completions.js"
import { spawnNode } from "../support/node.js"
import {
  OPENCLAW_VERSION,
  openClawHome,
  runOpenClaw,
  startOpenClawGateway,
  tempDir,
  unavailableReason,
  connectOperator,
  until
} from "./openclaw-support.js"

const TEST_TIMEOUT = 240_000

const suiteName =
  unavailableReason === undefined
    ? `an OpenClaw ${OPENCLAW_VERSION} Gateway's agent runs exec on a clawgate node`
    : `an OpenClaw ${OPENCLAW_VERSION} Gateway's agent runs exec on a clawgate node (SKIPPED: ${unavailableReason})`

describe.skipIf(unavailableReason !== undefined)(suiteName, () => {
  it.scopedLive(
    "openclaw agent: the model's exec tool call runs the allowlisted command on the node, its output is the tool result; a command off the allowlist is refused by the node",
    () =>
      Effect.gen(function* () {
        const work = yield* tempDir("clawgate-interop-agent-exec-")
        const marker = path.join(work, "made-by-exec")
        const allowedCommand = `touch ${marker} && echo exec-output-from-clawgate`
        const refusedCommand = "id"

        // The model: exec the allowlisted command, then the refused one, then answer in text.
        const model = yield* startChatDouble((body) => {
          const exec = (body.tools ?? []).map((t: any) => t.function?.name as string).find((n: string) => n === "exec")
          const seen = toolResults(body).length
          if (exec === undefined || seen >= 2) return { text: "done on the node" }
          const command = seen === 0 ? allowedCommand : refusedCommand
          return { toolCall: { name: exec, arguments: JSON.stringify({ command, host: "node", node: "cg-agent-exec" }) } }
        })

        const oc = yield* startOpenClawGateway("90 seconds", {
          models: {
            mode: "merge",
            providers: {
              double: {
                baseUrl: model.baseUrl,
                apiKey: "not-a-secret",
                api: "openai-completions",
                models: [
                  {
                    id: "double-model",
                    name: "Double",
                    reasoning: false,
                    input: ["text"],
                    cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
                    contextWindow: 128000,
                    maxTokens: 4096
                  }
                ]
              }
            }
          },
          agents: { defaults: { model: { primary: "double/double-model" } } },
          tools: { exec: { host: "node", mode: "full", node: "cg-agent-exec" } }
        })

        const node = yield* spawnNode(oc.url, "cg-agent-exec", [["/bin/sh", "-lc", allowedCommand]], ["--token", oc.token])
        const nodeId = (yield* Effect.promise(() => node.waitFor(/connected as nodeId ([0-9a-f]+)/, 30_000)))[1]!
        const op = yield* connectOperator(oc.url, oc.token)
        const request = yield* until("the node's command surface to be pending", async () => {
          const res = await op.call("node.pair.list", {})
          return res.payload?.pending?.find((p: any) => p.nodeId === nodeId)
        })
        const approved = yield* Effect.promise(() => op.call("node.pair.approve", { requestId: request.requestId }))
        expect(approved.ok, JSON.stringify(approved.error)).toBe(true)
        yield* until("the approved commands in node.list", async () => {
          const res = await op.call("node.list", {})
          const entry = res.payload?.nodes?.find((n: any) => n.nodeId === nodeId)
          return entry?.commands?.includes("system.run") ? entry : undefined
        })

        // OpenClaw's CLI with a home of its own, pointed at OpenClaw's Gateway.
        const cli = yield* openClawHome(path.join(work, "cli"), {
          mode: "local",
          port: oc.port,
          bind: "loopback",
          auth: { mode: "token", token: oc.token }
        })
        const turn = yield* runOpenClaw(
          ["agent", "--agent", "main", "--message", "run the command on the node", "--json"],
          cli.env,
          180_000
        )
        const diagnostics = `exit ${turn.code}\n--- stdout\n${turn.stdout}\n--- stderr\n${turn.stderr}\n--- node\n${node.output()}\n--- requests\n${JSON.stringify(model.requests.map((r) => r.messages?.slice(-3)))}\n--- gateway\n${oc.output().slice(-4000)}`
        expect(turn.code, diagnostics).toBe(0)

        // The command ran on the clawgate node: its marker file exists.
        expect(fs.existsSync(marker), diagnostics).toBe(true)

        // What the model was handed back: the command's output from the node (OpenClaw names the node)...
        const last = model.requests[model.requests.length - 1]
        const results = toolResults(last)
        expect(results.length, diagnostics).toBe(2)
        expect(results[0]).toContain(`Node: ${nodeId}`)
        expect(results[0]).toContain("exec-output-from-clawgate")
        // ...then the refusal. The Gateway's own policy is `full` (the first command ran under it), so
        // `security=deny` is the clawgate node's verdict: its system.run.prepare answered
        // `execPolicy {security: "deny"}` for an argv off its allowlist, and OpenClaw takes the stricter
        // of the two and refuses before dispatching system.run.
        expect(results[1], diagnostics).toContain("exec denied: host=node security=deny")
        expect(turn.stdout).toContain("done on the node")
      }),
    TEST_TIMEOUT
  )
})
