/**
 * The session methods on a real Gateway (WebSocket, file database), and
 * `clawgate sessions list|show|reset` through the real CLI.
 */
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { GatewayLive } from "../../src/layers/Gateway.js"
import { GatewayServer } from "../../src/services/GatewayServer.js"
import { MAIN_SESSION_KEY, Sessions, sessionKeyFor } from "../../src/services/Sessions.js"
import { runCli } from "../support/cli.js"
import { tempDir, TOKEN, writeConfig } from "../support/gateway.js"
import { connectParams, handshake } from "../support/ws.js"

const TELEGRAM = sessionKeyFor("main", "telegram", "42")

/** A Gateway as in support/gateway.ts, with its own Sessions store at hand. */
const startGateway = Effect.gen(function* () {
  const stateDir = yield* tempDir()
  yield* writeConfig(stateDir, { gateway: { auth: { token: TOKEN } } })
  const ctx = yield* Layer.build(GatewayLive({ console: false, flags: { port: 0 } }, { CLAWGATE_STATE_DIR: stateDir }))
  const server = Context.get(ctx, GatewayServer)
  const env = { CLAWGATE_STATE_DIR: stateDir, CLAWGATE_GATEWAY_PORT: String(server.port) }
  const cli = (...args: Array<string>) => runCli(args, env)
  return { server, stateDir, sessions: Context.get(ctx, Sessions), cli }
})

/** The web chat with one tool call, and a Telegram chat. */
const seed = (sessions: Sessions["Type"]) =>
  Effect.gen(function* () {
    yield* sessions.ensure(TELEGRAM, { agentId: "main", channel: "telegram", peer: "42", label: "Alice" })
    yield* sessions.append(TELEGRAM, [{ role: "user", text: "from telegram", channel: "telegram", sender: "alice", ts: 1_700_000_000_000 }])
    yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
    yield* sessions.ensure(MAIN_SESSION_KEY, { agentId: "main" })
    yield* sessions.append(MAIN_SESSION_KEY, [
      { role: "user", text: "what runs on my laptop?", channel: "webchat", sender: "operator", runId: "r1" },
      {
        role: "tool_call",
        text: "",
        toolName: "system.run",
        toolCallId: "call-1",
        data: { nodeId: "laptop", argv: ["uname", "-a"] },
        runId: "r1"
      },
      { role: "tool_result", text: "Linux laptop 6.1", toolName: "system.run", toolCallId: "call-1", runId: "r1" },
      { role: "assistant", text: "Linux 6.1.\nAnything else?", runId: "r1" }
    ])
  })

describe("sessions on a real Gateway", () => {
  it.scopedLive("sessions.list, chat.history, sessions.reset and sessions.delete over the wire, with their scopes", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway
      const { peer: admin } = yield* handshake(gw.server.url, connectParams({ auth: { token: TOKEN } }))
      const call = (method: string, params?: unknown) => Effect.promise(() => admin.call(method, params))

      const empty = yield* call("sessions.list")
      expect(empty.payload).toMatchObject({ count: 0, sessions: [], path: path.join(gw.stateDir, "clawgate.sqlite") })
      expect(empty.payload.defaults.mainSessionKey).toBe(MAIN_SESSION_KEY)
      // The main session can be opened before its first message.
      expect((yield* call("chat.history", { sessionKey: MAIN_SESSION_KEY })).payload).toEqual({
        sessionKey: MAIN_SESSION_KEY,
        messages: []
      })

      yield* seed(gw.sessions)
      const listed = yield* call("sessions.list", {})
      expect(listed.payload.count).toBe(2)
      expect(listed.payload.sessions.map((s: any) => s.key)).toEqual([MAIN_SESSION_KEY, TELEGRAM])
      expect(listed.payload.sessions[0]).toMatchObject({ agentId: "main", messageCount: 2, lastText: "Linux 6.1.\nAnything else?" })
      expect(listed.payload.sessions[1]).toMatchObject({ channel: "telegram", peer: "42", label: "Alice", messageCount: 1 })
      expect((yield* call("sessions.list", { search: "alice", limit: 5 })).payload.count).toBe(1)
      expect((yield* call("status")).payload.sessions.count).toBe(2)

      const history = (yield* call("chat.history", { sessionKey: MAIN_SESSION_KEY })).payload
      expect(history.sessionId).toBe(listed.payload.sessions[0].sessionId)
      expect(history.messages.map((m: any) => [m.seq, m.role])).toEqual([
        [1, "user"],
        [2, "tool_call"],
        [3, "tool_result"],
        [4, "assistant"]
      ])
      expect(history.messages[1]).toMatchObject({
        toolName: "system.run",
        toolCallId: "call-1",
        data: { nodeId: "laptop", argv: ["uname", "-a"] },
        runId: "r1"
      })
      expect(history.messages[0]).toMatchObject({ channel: "webchat", sender: "operator" })
      expect((yield* call("chat.history", { sessionKey: MAIN_SESSION_KEY, limit: 1 })).payload.messages.map((m: any) => m.seq)).toEqual([4])

      const unknown = yield* call("chat.history", { sessionKey: "agent:main:nope" })
      expect(unknown.error).toMatchObject({ code: "INVALID_REQUEST", message: "unknown session key: agent:main:nope" })
      expect((yield* call("sessions.reset", { key: "agent:main:nope" })).error).toMatchObject({ code: "INVALID_REQUEST" })
      expect((yield* call("chat.history", {})).error?.message).toMatch(/invalid chat.history params: sessionKey/)

      // Read scope lists and reads; resetting and deleting need admin.
      const { peer: reader } = yield* handshake(gw.server.url, connectParams({ auth: { token: TOKEN }, scopes: ["operator.read"] }))
      expect((yield* Effect.promise(() => reader.call("sessions.list"))).ok).toBe(true)
      expect((yield* Effect.promise(() => reader.call("chat.history", { sessionKey: TELEGRAM }))).ok).toBe(true)
      for (const method of ["sessions.reset", "sessions.delete"]) {
        const denied = yield* Effect.promise(() => reader.call(method, { key: TELEGRAM }))
        expect(denied.error).toMatchObject({ code: "FORBIDDEN", details: { missingScope: "operator.admin" } })
      }

      const reset = (yield* call("sessions.reset", { key: MAIN_SESSION_KEY })).payload
      expect(reset).toMatchObject({ ok: true, key: MAIN_SESSION_KEY })
      expect(reset.sessionId).not.toBe(history.sessionId)
      expect((yield* call("chat.history", { sessionKey: MAIN_SESSION_KEY })).payload).toEqual({
        sessionKey: MAIN_SESSION_KEY,
        sessionId: reset.sessionId,
        messages: []
      })

      expect((yield* call("sessions.delete", { key: TELEGRAM })).payload).toEqual({ ok: true, key: TELEGRAM, deleted: true })
      expect((yield* call("sessions.delete", { key: TELEGRAM })).payload).toEqual({ ok: true, key: TELEGRAM, deleted: false })
      expect((yield* call("sessions.list")).payload.sessions.map((s: any) => s.key)).toEqual([MAIN_SESSION_KEY])
    })
  )

  it.scopedLive("clawgate sessions list, show and reset", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway
      const none = yield* gw.cli("sessions", "list")
      expect(none).toMatchObject({ code: 0, stderr: "" })
      expect(none.stdout).toContain("No sessions yet")

      yield* seed(gw.sessions)
      const list = yield* gw.cli("sessions", "list")
      expect(list.code).toBe(0)
      const lines = list.stdout.trim().split("\n")
      expect(lines[0]).toMatch(/^KEY\s+UPDATED\s+MSGS\s+LAST$/)
      expect(lines[1]).toMatch(/^agent:main:main\s+\d+s ago\s+2\s+"Linux 6.1. Anything else\?"$/)
      expect(lines[2]).toMatch(/^agent:main:telegram:42\s+.*\s+1\s+"from telegram"\s+\(Alice, telegram 42\)$/)
      expect(lines[3]).toBe(`2 sessions · store ${path.join(gw.stateDir, "clawgate.sqlite")}`)

      const json = JSON.parse((yield* gw.cli("sessions", "list", "--search", "telegram", "--json")).stdout)
      expect(json.sessions.map((s: any) => s.key)).toEqual([TELEGRAM])
      const limited = JSON.parse((yield* gw.cli("sessions", "list", "--limit", "1", "--json")).stdout)
      expect(limited.sessions.map((s: any) => s.key)).toEqual([MAIN_SESSION_KEY])

      const show = yield* gw.cli("sessions", "show", "main")
      expect(show).toMatchObject({ code: 0, stderr: "" })
      const shown = show.stdout.trim().split("\n")
      expect(shown[0]).toMatch(/^Session agent:main:main \(id [0-9a-f-]{36}\)$/)
      const time = "\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  "
      expect(shown[1]).toMatch(new RegExp(`^${time}user \\(webchat operator\\): what runs on my laptop\\?$`))
      expect(shown[2]).toMatch(new RegExp(`^${time}tool call   system\\.run\\(\\{"nodeId":"laptop","argv":\\["uname","-a"\\]\\}\\)$`))
      expect(shown[3]).toMatch(new RegExp(`^${time}tool result system\\.run → Linux laptop 6\\.1$`))
      expect(shown[4]).toMatch(new RegExp(`^${time}assistant: Linux 6\\.1\\.$`))
      expect(shown[5]).toBe(`${" ".repeat(21)}Anything else?`)

      // A key's unique ending names it; --limit keeps the newest entries.
      const telegram = JSON.parse((yield* gw.cli("sessions", "show", "telegram:42", "--json")).stdout)
      expect(telegram).toMatchObject({
        sessionKey: TELEGRAM,
        messages: [{ seq: 1, text: "from telegram", sender: "alice", ts: 1_700_000_000_000 }]
      })
      const newest = JSON.parse((yield* gw.cli("sessions", "show", MAIN_SESSION_KEY, "--limit", "2", "--json")).stdout)
      expect(newest.messages.map((m: any) => m.seq)).toEqual([3, 4])

      const unknown = yield* gw.cli("sessions", "show", "agent:main:nope")
      expect(unknown.code).toBe(1)
      expect(unknown.stderr).toContain("unknown session key: agent:main:nope")
      const badLimit = yield* gw.cli("sessions", "show", "main", "--limit", "0")
      expect(badLimit.code).toBe(2)
      expect(badLimit.stderr).toContain("--limit must be a positive number")

      const reset = yield* gw.cli("sessions", "reset", "main")
      expect(reset).toMatchObject({ code: 0, stderr: "" })
      expect(reset.stdout).toMatch(/^reset agent:main:main: new session id [0-9a-f-]{36} /)
      const after = yield* gw.cli("sessions", "show", "main")
      expect(after.stdout.trim()).toMatch(/^Session agent:main:main \(id [0-9a-f-]{36}\): no messages yet\.$/)
      const resetJson = JSON.parse((yield* gw.cli("sessions", "reset", "telegram:42", "--json")).stdout)
      expect(resetJson).toMatchObject({ ok: true, key: TELEGRAM })
      const counts = JSON.parse((yield* gw.cli("sessions", "list", "--json")).stdout)
      expect(counts.sessions.map((s: any) => s.messageCount)).toEqual([0, 0])
    })
  )
})
