import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli, spawnGateway } from "../support/cli.js"
import { tempDir, writeConfig } from "../support/gateway.js"
import { TEST_BOT_USERNAME, startBotApiDouble } from "../support/telegram.js"

const TOKEN = "channels-cli-token-0123456789"

describe("clawgate channels status and gateway send, through the CLI, against a real Gateway", () => {
  it.scopedLive("with Telegram pointed at a Bot API double: status shows the bot, send delivers, a repeated key sends once", () =>
    Effect.gen(function* () {
      const double = yield* startBotApiDouble()
      const dir = yield* tempDir()
      yield* writeConfig(dir, {
        gateway: { auth: { token: TOKEN } },
        channels: { telegram: { apiRoot: double.apiRoot, allowFrom: [4242] } }
      })
      // The token from the environment (the config has none).
      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir, TELEGRAM_BOT_TOKEN: double.token })
      const env = { CLAWGATE_STATE_DIR: dir, CLAWGATE_GATEWAY_PORT: String(gw.port) }
      yield* double.waitFor(() => double.calls.some((c) => c.method === "getMe"), 10_000, "getMe")

      // The bot's @username arrives in the background: ask until it is there.
      let status = yield* runCli(["channels", "status", "--json"], env)
      for (let i = 0; i < 50 && !status.stdout.includes(TEST_BOT_USERNAME); i++) {
        yield* Effect.sleep("100 millis")
        status = yield* runCli(["channels", "status", "--json"], env)
      }
      expect(status.stderr).toBe("")
      expect(status.code).toBe(0)
      const report = JSON.parse(status.stdout)
      expect(report.channelOrder).toEqual(["telegram", "webchat"])
      expect(report.channels[0]).toMatchObject({
        id: "telegram",
        configured: true,
        enabled: true,
        mode: "polling",
        account: `@${TEST_BOT_USERNAME}`
      })
      expect(report.channels[1]).toMatchObject({ id: "webchat", state: "running" })

      const human = yield* runCli(["channels", "status"], env)
      expect(human.code).toBe(0)
      expect(human.stdout).toContain(`Telegram (telegram): `)
      expect(human.stdout).toContain(`@${TEST_BOT_USERNAME}`)
      expect(human.stdout).toContain("Web chat (webchat): running")

      const long = "x".repeat(5000)
      const send = yield* runCli(["gateway", "send", "--to", "4242", "--message", long, "--json", "--idempotency-key", "cli-1"], env)
      expect(send.stderr).toBe("")
      expect(send.code).toBe(0)
      const sent = JSON.parse(send.stdout)
      expect(sent).toMatchObject({ runId: "cli-1", channel: "telegram", to: "4242" })
      expect(double.sent.map((m) => [m.chat_id, m.text.length])).toEqual([
        [4242, 4096],
        [4242, 904]
      ])
      expect(sent.messageIds).toEqual(double.sent.map((m) => String(m.message_id)))

      // The same key again: answered from the first delivery, nothing sent.
      const again = yield* runCli(["gateway", "send", "--to", "4242", "--message", long, "--json", "--idempotency-key", "cli-1"], env)
      expect(JSON.parse(again.stdout)).toEqual(sent)
      expect(double.sent).toHaveLength(2)

      const plain = yield* runCli(["gateway", "send", "--channel", "telegram", "--to", "4242", "-m", "hello"], env)
      expect(plain.code).toBe(0)
      expect(plain.stdout).toMatch(/^sent to telegram:4242 \(message id \d+\)/)
      expect(double.sent.at(-1)!.text).toBe("hello")

      // A channel that is not there: a clear error naming the configured ones, exit code non-zero.
      const wrong = yield* runCli(["gateway", "send", "--channel", "signal", "--to", "1", "-m", "x"], env)
      expect(wrong.code).not.toBe(0)
      expect(wrong.stderr).toContain('unknown channel "signal" (configured: telegram)')

      // health and status mention the channel too.
      const health = JSON.parse((yield* runCli(["gateway", "health", "--json"], env)).stdout)
      expect(health.health.channelOrder).toEqual(["telegram"])
      expect(health.health.channels.telegram).toMatchObject({ configured: true, mode: "polling" })
      const call = yield* runCli(["gateway", "call", "status", "--json"], env)
      expect(JSON.parse(call.stdout).channelSummary.join("\n")).toContain("Telegram:")
    })
  )

  it.scopedLive(
    "a Telegram message is answered in its chat; after a SIGKILL the Gateway resumes from the stored offset and answers nothing twice",
    () =>
      Effect.gen(function* () {
        const double = yield* startBotApiDouble()
        const dir = yield* tempDir()
        yield* writeConfig(dir, {
          gateway: { auth: { token: TOKEN } },
          channels: { telegram: { botToken: double.token, apiRoot: double.apiRoot, allowFrom: [4242] } }
        })
        const env = { CLAWGATE_STATE_DIR: dir }
        const gw = yield* spawnGateway(["--port", "0"], env)
        const first = double.pushMessage({ chatId: 4242, text: "hello over telegram" })
        // The offline model's reply, delivered to the chat by the runner.
        yield* double.waitFor(() => double.sent.length === 1, 15_000, "the reply")
        expect(double.sent[0]!.chat_id).toBe(4242)
        expect(double.sent[0]!.text).toContain("hello over telegram")
        const stranger = double.pushMessage({ chatId: 999, text: "me too" })
        yield* double.waitFor(() => double.sent.some((m) => m.chat_id === 999), 10_000, "the refusal")

        const sessions = yield* runCli(["sessions", "list", "--json"], { ...env, CLAWGATE_GATEWAY_PORT: String(gw.port) })
        expect(sessions.stdout).toContain("agent:main:telegram:4242")

        // Killed: Telegram never hears that the updates were taken, and sends them again.
        expect(yield* Effect.promise(() => gw.stop("SIGKILL"))).toBe(null)
        double.replay(first)
        double.replay(stranger)
        const polls = double.calls.filter((c) => c.method === "getUpdates").length
        const again = yield* spawnGateway(["--port", "0"], env)
        const next = double.pushMessage({ chatId: 4242, text: "still there?" })
        yield* double.waitFor(() => double.sent.some((m) => m.text.includes("still there?")), 15_000, "the second reply")
        const resumed = double.calls.filter((c) => c.method === "getUpdates")[polls]!
        expect(resumed.params.offset).toBe(stranger + 1)
        // The poll that confirms "still there?" comes once every update before it was handled.
        yield* double.waitFor(
          () => double.calls.some((c) => c.method === "getUpdates" && c.params.offset === next + 1),
          10_000,
          "the next poll"
        )
        expect(double.sent.map((m) => m.chat_id)).toEqual([4242, 999, 4242])
        expect(next).toBe(stranger + 1)
        // SIGTERM ends the long poll at once: a graceful stop, exit 0.
        expect(yield* Effect.promise(() => again.stop())).toBe(0)
      })
  )

  it.scopedLive("without Telegram: status lists the web chat alone and send says what to configure", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* writeConfig(dir, { gateway: { auth: { token: TOKEN } } })
      const gw = yield* spawnGateway(["--port", "0"], { CLAWGATE_STATE_DIR: dir })
      const env = { CLAWGATE_STATE_DIR: dir, CLAWGATE_GATEWAY_PORT: String(gw.port) }
      const status = yield* runCli(["channels", "status"], env)
      expect(status.code).toBe(0)
      expect(status.stdout).toContain("Web chat (webchat): running")
      expect(status.stdout).toContain("No messaging channel is configured")
      const send = yield* runCli(["gateway", "send", "--to", "1", "-m", "x"], env)
      expect(send.code).not.toBe(0)
      expect(send.stderr).toContain("no messaging channel is configured")
    })
  )
})
