/** The chat transcript: merged by (sessionId, seq), sends and streaming runs never lost or shown twice. */
import { describe, expect, it } from "@effect/vitest"
import { channelOfKey, newSessionKey, readSessions, sessionTitle, visibleSessions } from "../../src/ui/pages/chat-sessions.js"
import {
  addOutgoing,
  applyAgentEvent,
  applyChatEvent,
  emptyTranscript,
  endRun,
  isNewRun,
  liveRemainder,
  mergeHistory,
  readHistory,
  runningRuns,
  startRun,
  updateOutgoing
} from "../../src/ui/pages/chat-transcript.js"

const KEY = "agent:main:main"
const history = (sessionId: string, messages: Array<Record<string, unknown>>) => readHistory({ sessionKey: KEY, sessionId, messages }, KEY)
const user = (seq: number, runId: string, text = `q${seq}`) => ({ seq, role: "user", text, ts: seq, runId, channel: "webchat" })
const assistant = (seq: number, runId: string, text: string) => ({ seq, role: "assistant", text, ts: seq, runId })
const delta = (runId: string, seq: number, text: string, state = "delta") => ({
  runId,
  sessionKey: KEY,
  seq,
  state,
  message: { role: "assistant", content: [{ type: "text", text }], timestamp: seq }
})

describe("merging chat.history", () => {
  it("shows an entry seen twice once, and adds the ones missed while disconnected", () => {
    let t = mergeHistory(emptyTranscript(KEY), history("s1", [user(1, "a"), assistant(2, "a", "hi")]))
    // After a reconnect: the same two, and two written while the socket was down.
    t = mergeHistory(t, history("s1", [user(1, "a"), assistant(2, "a", "hi"), user(3, "b"), assistant(4, "b", "yo")]))
    expect(t.entries.map((e) => e.seq)).toEqual([1, 2, 3, 4])
  })

  it("keeps older entries a newest-200 window no longer returns, in order", () => {
    let t = mergeHistory(emptyTranscript(KEY), history("s1", [user(1, "a"), assistant(2, "a", "x")]))
    t = mergeHistory(t, history("s1", [user(3, "b")]))
    expect(t.entries.map((e) => e.seq)).toEqual([1, 2, 3])
  })

  it("starts over when the session was reset (a new sessionId)", () => {
    let t = mergeHistory(emptyTranscript(KEY), history("s1", [user(1, "a"), assistant(2, "a", "x")]))
    t = mergeHistory(t, history("s2", [user(1, "c")]))
    expect(t.entries.map((e) => e.runId)).toEqual(["c"])
  })

  it("ignores another session's history", () => {
    const t = emptyTranscript(KEY)
    expect(mergeHistory(t, readHistory({ sessionKey: "other", messages: [user(1, "a")] }, "other"))).toBe(t)
  })

  it("drops entries it cannot place and bounds what it keeps", () => {
    const h = readHistory(
      {
        messages: [
          { role: "user", text: "no seq" },
          { seq: 1, role: "user", text: "x".repeat(300_000) }
        ]
      },
      KEY
    )
    expect(h.entries).toHaveLength(1)
    expect(h.entries[0]?.text.length).toBe(200_000)
  })
})

describe("sending", () => {
  it("shows a message at once and replaces it with the stored one (runId = idempotency key)", () => {
    let t = addOutgoing(emptyTranscript(KEY), { key: "k1", text: "hello", ts: 10 })
    expect(t.outbox.map((o) => o.status)).toEqual(["sending"])
    t = updateOutgoing(t, "k1", { status: "accepted" })
    t = mergeHistory(t, history("s1", [user(1, "k1", "hello")]))
    expect(t.outbox).toEqual([])
    expect(t.entries).toHaveLength(1)
  })

  it("keeps a send cut off by a drop as unconfirmed when history does not have it, and a resend reuses its key", () => {
    let t = addOutgoing(emptyTranscript(KEY), { key: "k1", text: "hello", ts: 10 })
    t = updateOutgoing(t, "k1", { status: "unconfirmed" })
    t = mergeHistory(t, history("s1", []))
    expect(t.outbox.map((o) => [o.key, o.status])).toEqual([["k1", "unconfirmed"]])
    t = addOutgoing(t, { key: "k1", text: "hello", ts: 20 })
    expect(t.outbox.map((o) => [o.key, o.status])).toEqual([["k1", "sending"]])
  })
})

describe("a streaming reply", () => {
  it("follows chat deltas (the text so far), ignores old or repeated ones, and ends with final", () => {
    let t = startRun(emptyTranscript(KEY), "r1", 5)
    t = applyChatEvent(t, delta("r1", 2, "Hel"), 6)
    t = applyChatEvent(t, delta("r1", 4, "Hello wor"), 7)
    t = applyChatEvent(t, delta("r1", 3, "Hello"), 8) // late
    t = applyChatEvent(t, delta("r1", 4, "Hello wor"), 8) // repeated
    expect(t.runs[0]?.text).toBe("Hello wor")
    t = applyChatEvent(t, delta("r1", 6, "Hello world", "final"), 9)
    expect(t.runs[0]).toMatchObject({ status: "ok", text: "Hello world" })
    expect(runningRuns(t)).toEqual([])
    // History after the final holds the reply: the live row goes, the stored one stays.
    t = mergeHistory(t, history("s1", [user(1, "r1"), assistant(2, "r1", "Hello world")]))
    expect(t.runs).toEqual([])
  })

  it("ignores events of other sessions", () => {
    const t = emptyTranscript(KEY)
    expect(applyChatEvent(t, { ...delta("r1", 1, "x"), sessionKey: "agent:main:telegram:1" }, 1)).toBe(t)
  })

  it("shows tool calls and results from agent events of a run it follows", () => {
    let t = startRun(emptyTranscript(KEY), "r1", 1)
    t = applyAgentEvent(
      t,
      { runId: "r1", seq: 2, stream: "tool", data: { phase: "start", name: "system.run", toolCallId: "c1", args: { cmd: "ls" } } },
      2
    )
    t = applyAgentEvent(
      t,
      { runId: "r1", seq: 3, stream: "tool", data: { phase: "result", name: "system.run", toolCallId: "c1", result: { ok: 1 } } },
      3
    )
    expect(t.runs[0]?.tools).toEqual([
      { toolCallId: "c1", name: "system.run", args: { cmd: "ls" }, result: { ok: 1 }, isError: false, done: true }
    ])
    // An agent event of a run this page does not follow (agent events name no session) changes nothing.
    expect(applyAgentEvent(t, { runId: "zz", seq: 1, stream: "assistant", data: { text: "x" } }, 4)).toBe(t)
  })

  it("after a reconnect mid-run, shows only what history does not already hold of the run", () => {
    let t = startRun(emptyTranscript(KEY), "r1", 1)
    t = applyAgentEvent(t, { runId: "r1", seq: 2, stream: "tool", data: { phase: "start", name: "n", toolCallId: "c1" } }, 2)
    t = applyChatEvent(t, delta("r1", 5, "First turn. Second"), 3)
    // The first turn (its text and its tool call) is stored; the second is still streaming.
    t = mergeHistory(
      t,
      history("s1", [
        user(1, "r1"),
        assistant(2, "r1", "First turn. "),
        { seq: 3, role: "tool_call", text: "n", toolName: "n", toolCallId: "c1", ts: 3, runId: "r1" }
      ])
    )
    const run = t.runs[0]
    expect(run?.status).toBe("running")
    expect(run && liveRemainder(t, run)).toEqual({ text: "Second", tools: [] })
  })

  it("knows a run it has not seen (started elsewhere) so the page loads its user message", () => {
    const t = mergeHistory(emptyTranscript(KEY), history("s1", [user(1, "a")]))
    expect(isNewRun(t, delta("b", 1, "x"))).toBe(true)
    expect(isNewRun(t, delta("a", 1, "x"))).toBe(false)
  })

  it("keeps an aborted or failed run's note after history loads; ends a run whose final was missed", () => {
    let t = startRun(emptyTranscript(KEY), "r1", 1)
    t = applyChatEvent(t, { runId: "r1", sessionKey: KEY, seq: 3, state: "aborted", errorMessage: "aborted" }, 2)
    t = mergeHistory(t, history("s1", [user(1, "r1")]))
    expect(t.runs.map((r) => r.status)).toEqual(["aborted"])
    let u = startRun(emptyTranscript(KEY), "r2", 1)
    u = endRun(u, "r2", "error", "model down")
    expect(u.runs[0]).toMatchObject({ status: "error", error: "model down" })
  })

  it("does not start a run again that history already answered", () => {
    const t = mergeHistory(emptyTranscript(KEY), history("s1", [user(1, "r1"), assistant(2, "r1", "done")]))
    expect(startRun(t, "r1", 5)).toBe(t)
  })
})

describe("the session list", () => {
  const rows = readSessions({
    sessions: [
      { key: "agent:main:telegram:42", sessionId: "a", updatedAt: 300, messageCount: 2, channel: "telegram", label: "Ana" },
      { key: "agent:main:main", sessionId: "b", updatedAt: 100, messageCount: 5, channel: "webchat" },
      { key: "agent:main:dashboard:1234abcd-0000", updatedAt: 200, messageCount: 1 },
      { nokey: true }
    ]
  })

  it("is most recent first, with each session's channel", () => {
    const v = visibleSessions(rows, [], "agent:main:main", "")
    expect(v.map((s) => [s.key, s.channel])).toEqual([
      ["agent:main:telegram:42", "telegram"],
      ["agent:main:dashboard:1234abcd-0000", "webchat"],
      ["agent:main:main", "webchat"]
    ])
  })

  it("filters by key or label", () => {
    expect(visibleSessions(rows, [], "agent:main:main", "ana").map((s) => s.key)).toEqual(["agent:main:telegram:42"])
    expect(visibleSessions(rows, [], "agent:main:main", "TELEGRAM").map((s) => s.key)).toEqual(["agent:main:telegram:42"])
  })

  it("lists a new chat (OpenClaw's key form) until the Gateway does, and names sessions for people", () => {
    const key = newSessionKey("main", "5e0c9a2b-1111")
    expect(key).toBe("agent:main:dashboard:5e0c9a2b-1111")
    const v = visibleSessions(rows, [{ key, updatedAt: 999, messageCount: 0, draft: true }], "agent:main:main", "")
    expect(v[0]?.key).toBe(key)
    expect(sessionTitle(v[0]!, "agent:main:main")).toBe("New chat")
    expect(sessionTitle({ key: "agent:main:main" }, "agent:main:main")).toBe("Main chat")
    expect(channelOfKey("agent:main:telegram:1")).toBe("telegram")
  })
})
