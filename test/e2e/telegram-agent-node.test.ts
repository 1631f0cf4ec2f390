/**
 * The whole flow through the real libraries: a Telegram message (grammy
 * against a Bot API double) reaches the Gateway, the agent runs on an
 * OpenAI-compatible model server (a double that streams and asks for a node
 * tool), a real `clawgate node run` process serves the command, and the reply
 * goes back to the chat. Then a Gateway killed with SIGKILL mid-run: nothing
 * acknowledged is lost, the run is marked failed, nothing is delivered twice.
 */
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnGateway } from "../support/cli.js"
import { offeredTool, startChatDouble, toolResults } from "../support/chat-completions.js"
import { startGateway, tempDir, writeConfig } from "../support/gateway.js"
import { spawnNode } from "../support/node.js"
import { startBotApiDouble, TEST_BOT_ID, TEST_BOT_TOKEN } from "../support/telegram.js"
import { connectParams, handshake } from "../support/ws.js"

const TOKEN = "e2e-flow-token-0123456789abcdef"
const OWNER = 42

const config = (modelBaseUrl: string, apiRoot: string) => ({
  gateway: { auth: { token: TOKEN } },
  agents: { defaults: { model: { primary: "local/double-model" } } },
  models: { providers: { local: { api: "openai-completions", baseUrl: modelBaseUrl } } },
  channels: { telegram: { enabled: true, botToken: TEST_BOT_TOKEN, apiRoot, allowFrom: [OWNER] } }
})

const operator = (url: string) =>
  Effect.map(handshake(url, connectParams({ auth: { token: TOKEN } })), ({ peer, res }) => {
    expect(res.ok).toBe(true)
    return peer
  })

describe("Telegram -> Gateway -> agent -> node -> reply", () => {
  it.scopedLive(
    "a Telegram message runs the agent, the model calls the node's system.info, and the answer is sent to the chat",
    () =>
      Effect.gen(function* () {
        const bot = yield* startBotApiDouble()
        const model = yield* startChatDouble((body) => {
          const results = toolResults(body)
          if (results.length === 0) {
            const tool = offeredTool(body, "__system_info")
            return tool ? { toolCall: { name: tool, arguments: "{}" } } : { text: "no node tool was offered" }
          }
          const info = JSON.parse(results[0]!)
          return { text: `Your laptop runs ${info.payload.platform} and is called ${info.payload.host}.` }
        })
        const gw = yield* startGateway(config(model.baseUrl, bot.apiRoot))
        const node = yield* spawnNode(gw.url, "laptop", [], ["--token", TOKEN])
        yield* Effect.promise(() => node.waitFor(/connected as nodeId/))

        const updateId = bot.pushMessage({ chatId: OWNER, fromId: OWNER, text: "What system is my laptop?" })
        yield* bot.waitFor(() => bot.sent.some((m) => Number(m.chat_id) === OWNER), 20_000, "the reply on Telegram")
        const reply = bot.sent.find((m) => Number(m.chat_id) === OWNER)!
        const os = yield* Effect.promise(() => import("node:os"))
        expect(reply.text).toBe(`Your laptop runs ${process.platform} and is called ${os.hostname()}.`)

        // The model was offered the node's commands as tools and got system.info's answer back.
        expect(model.requests).toHaveLength(2)
        expect(model.requests[0].model).toBe("double-model")
        expect(model.requests[0].stream).toBe(true)
        const tools: Array<string> = model.requests[0].tools.map((t: any) => t.function.name)
        expect(tools.some((t) => t.endsWith("__system_info"))).toBe(true)
        expect(tools.some((t) => t.endsWith("__system_run"))).toBe(true)
        expect(model.requests[0].messages.at(-1)).toMatchObject({ role: "user", content: "What system is my laptop?" })
        expect(JSON.parse(toolResults(model.requests[1])[0]!)).toMatchObject({ ok: true, payload: { platform: process.platform } })

        // The transcript holds every step, in order, in the chat's own session.
        const peer = yield* operator(gw.url)
        const history = yield* Effect.promise(() => peer.call("chat.history", { sessionKey: `agent:main:telegram:${OWNER}` }))
        expect(history.payload.messages.map((m: any) => m.role)).toEqual(["user", "tool_call", "tool_result", "assistant"])
        expect(history.payload.messages[0]).toMatchObject({ text: "What system is my laptop?", channel: "telegram" })
        expect(history.payload.messages[1].toolName).toMatch(/__system_info$/)
        const run = yield* Effect.promise(() => peer.call("agent.wait", { runId: `telegram:${TEST_BOT_ID}:${updateId}` }))
        expect(run.payload).toMatchObject({ status: "ok" })
        // Exactly one message went to the chat.
        expect(bot.sent.filter((m) => Number(m.chat_id) === OWNER)).toHaveLength(1)
      }),
    60_000
  )

  it.scopedLive(
    "SIGKILL mid-run: the message stays in the transcript, the run is marked failed, the update is not run again, and the chat is told once",
    () =>
      Effect.gen(function* () {
        const bot = yield* startBotApiDouble()
        const model = yield* startChatDouble((body) =>
          JSON.stringify(body.messages).includes("think forever") ? "hang" : { text: "fine" }
        )
        const dir = yield* tempDir()
        yield* writeConfig(dir, config(model.baseUrl, bot.apiRoot))
        const env = { CLAWGATE_STATE_DIR: dir }
        const first = yield* spawnGateway(["--port", "0"], env)

        const updateId = bot.pushMessage({ chatId: OWNER, fromId: OWNER, text: "think forever" })
        // The model has the request: the run is in the middle of its model call.
        yield* bot.waitFor(() => model.requests.length === 1, 20_000, "the model request")
        const killed = yield* Effect.promise(() => first.stop("SIGKILL"))
        expect(killed).toBeNull()
        // Telegram would send the update again only if its offset had not been stored.
        const pollsBefore = bot.calls.filter((c) => c.method === "getUpdates").length

        const second = yield* spawnGateway(["--port", "0"], env)
        yield* bot.waitFor(() => bot.sent.some((m) => Number(m.chat_id) === OWNER), 20_000, "the failure notice")
        yield* bot.waitFor(() => bot.calls.filter((c) => c.method === "getUpdates").length > pollsBefore, 20_000, "a poll after restart")
        const polls = bot.calls.filter((c) => c.method === "getUpdates").slice(pollsBefore)
        expect(polls[0]!.params.offset).toBe(updateId + 1)

        const peer = yield* operator(second.url)
        const history = yield* Effect.promise(() => peer.call("chat.history", { sessionKey: `agent:main:telegram:${OWNER}` }))
        expect(history.payload.messages.filter((m: any) => m.role === "user").map((m: any) => m.text)).toEqual(["think forever"])
        const run = yield* Effect.promise(() => peer.call("agent.wait", { runId: `telegram:${TEST_BOT_ID}:${updateId}` }))
        expect(run.payload).toMatchObject({ status: "error" })
        expect(run.payload.summary).toContain("interrupted")
        // Not run again after the restart.
        expect(model.requests).toHaveLength(1)
        const told = bot.sent.filter((m) => Number(m.chat_id) === OWNER)
        expect(told).toHaveLength(1)
        expect(told[0]!.text).toContain("interrupted")

        // A third start delivers nothing more.
        yield* Effect.promise(() => second.stop("SIGTERM"))
        const pollsBeforeThird = bot.calls.filter((c) => c.method === "getUpdates").length
        const third = yield* spawnGateway(["--port", "0"], env)
        // Its first poll starts past the update (the stored offset): Telegram has nothing more to give it.
        yield* bot.waitFor(() => bot.calls.filter((c) => c.method === "getUpdates").length > pollsBeforeThird, 20_000, "a poll")
        expect(bot.calls.filter((c) => c.method === "getUpdates")[pollsBeforeThird]!.params.offset).toBe(updateId + 1)
        expect(bot.sent.filter((m) => Number(m.chat_id) === OWNER)).toHaveLength(1)
        yield* Effect.promise(() => third.stop("SIGTERM"))
        expect(path.isAbsolute(dir)).toBe(true)
      }),
    90_000
  )
})
