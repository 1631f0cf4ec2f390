/**
 * The AgentRunner over the wire: `agent`'s two replies, streaming events,
 * dedupe, one run at a time per session, abort, timeout and model failures,
 * against a real Gateway with a scripted model.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Stream } from "effect"
import { AgentRunner } from "../../src/services/AgentRunner.js"
import { ModelsFixed } from "../../src/layers/ModelsLive.js"
import { startGateway, TOKEN } from "../support/gateway.js"
import { lastUserText, scriptedModel, textReply, type Parts } from "../support/model.js"
import { connectParams, handshake, type Frame, type RawPeer } from "../support/ws.js"

const operator = (url: string) =>
  Effect.map(handshake(url, connectParams({ auth: { token: TOKEN } })), ({ peer, res }) => {
    expect(res.ok).toBe(true)
    return peer
  })

const gated = (gate: Promise<void>, then: Parts): Parts => Stream.concat(Stream.drain(Stream.fromEffect(Effect.promise(() => gate))), then)

const events = (peer: RawPeer, event: string, runId: string) =>
  peer.frames.filter((f) => f.type === "event" && f.event === event && f.payload?.runId === runId)

const until = (pred: () => boolean, timeoutMs = 5000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + timeoutMs
    while (!pred()) {
      if (Date.now() > deadline) throw new Error("condition not met in time")
      await new Promise((r) => setTimeout(r, 10))
    }
  })

describe("agent runs", () => {
  it.scopedLive("agent answers twice on one request id, streams agent and chat events, and stores the exchange", () =>
    Effect.gen(function* () {
      const m = scriptedModel((prompt) => textReply(`You said: ${lastUserText(prompt)}`))
      const gw = yield* startGateway(undefined, { models: ModelsFixed(m.model) })
      const peer = yield* operator(gw.url)
      peer.send({ type: "req", id: "a1", method: "agent", params: { message: "hello there", idempotencyKey: "run-1" } })
      const accepted = yield* Effect.promise(() => peer.response("a1"))
      expect(accepted.ok).toBe(true)
      expect(accepted.payload).toMatchObject({ runId: "run-1", status: "accepted" })
      expect(typeof accepted.payload.acceptedAt).toBe("number")
      const final = yield* Effect.promise(() => peer.waitFor((f) => f.type === "res" && f.id === "a1" && f.payload?.status === "ok"))
      expect(final.payload).toMatchObject({ runId: "run-1", status: "ok", summary: "You said: hello there" })

      const agentEvents = events(peer, "agent", "run-1").map((f) => f.payload)
      expect(agentEvents[0]).toMatchObject({ stream: "lifecycle", data: { phase: "start" } })
      expect(agentEvents.some((p) => p.stream === "assistant")).toBe(true)
      expect(agentEvents.at(-1)).toMatchObject({ stream: "lifecycle", data: { phase: "end" } })
      // seq counts up within the run
      expect(agentEvents.map((p) => p.seq)).toEqual([...agentEvents.map((p) => p.seq)].sort((a, b) => a - b))
      const chat = yield* Effect.promise(() => peer.waitFor((f) => f.event === "chat" && f.payload?.state === "final"))
      expect(chat.payload).toMatchObject({ runId: "run-1", sessionKey: "agent:main:main" })
      expect(chat.payload.message.content[0].text).toBe("You said: hello there")

      const history = yield* Effect.promise(() => peer.call("chat.history", { sessionKey: "agent:main:main" }))
      expect(history.payload.messages.map((e: { role: string; text: string }) => [e.role, e.text])).toEqual([
        ["user", "hello there"],
        ["assistant", "You said: hello there"]
      ])
      const waited = yield* Effect.promise(() => peer.call("agent.wait", { runId: "run-1" }))
      expect(waited.payload).toMatchObject({ runId: "run-1", status: "ok" })
      expect(waited.payload.endedAt).toBeGreaterThanOrEqual(waited.payload.startedAt)
    })
  )

  it.scopedLive("a repeated idempotencyKey is answered from what is stored, not run again", () =>
    Effect.gen(function* () {
      const m = scriptedModel(() => textReply("once"))
      const gw = yield* startGateway(undefined, { models: ModelsFixed(m.model) })
      const peer = yield* operator(gw.url)
      for (const id of ["x1", "x2"]) {
        peer.send({ type: "req", id, method: "agent", params: { message: "do it", idempotencyKey: "same-key" } })
        const final = yield* Effect.promise(() => peer.waitFor((f) => f.type === "res" && f.id === id && f.payload?.status === "ok"))
        expect(final.payload).toMatchObject({ runId: "same-key", summary: "once" })
      }
      expect(m.calls()).toBe(1)
      const history = yield* Effect.promise(() => peer.call("chat.history", { sessionKey: "agent:main:main" }))
      expect(history.payload.messages.filter((e: { role: string }) => e.role === "user")).toHaveLength(1)
      const again = yield* Effect.promise(() =>
        peer.call("chat.send", { sessionKey: "agent:main:main", message: "do it", idempotencyKey: "same-key" })
      )
      expect(again.payload).toMatchObject({ runId: "same-key", status: "ok" })
    })
  )

  it.scopedLive("one run at a time per session: the next waits in order, another session does not wait", () =>
    Effect.gen(function* () {
      let open!: () => void
      const gate = new Promise<void>((r) => (open = r))
      const m = scriptedModel((prompt) => {
        const text = lastUserText(prompt)
        return text === "first" ? gated(gate, textReply("one")) : textReply(`re: ${text}`)
      })
      const gw = yield* startGateway(undefined, { models: ModelsFixed(m.model) })
      const peer = yield* operator(gw.url)
      const send = (sessionKey: string, message: string, key: string) =>
        Effect.promise(() => peer.call("chat.send", { sessionKey, message, idempotencyKey: key }))
      expect((yield* send("agent:main:main", "first", "k1")).payload).toMatchObject({ runId: "k1", status: "started" })
      expect((yield* send("agent:main:main", "second", "k2")).payload).toMatchObject({ runId: "k2", status: "started" })
      yield* send("agent:main:other", "elsewhere", "k3")
      // The other session's run finishes while the first is still held.
      yield* Effect.promise(() => peer.waitFor((f) => f.event === "chat" && f.payload?.runId === "k3" && f.payload?.state === "final"))
      // k2 is still waiting for k1, and says so when asked (a positive answer, not a quiet moment).
      const waiting = yield* Effect.promise(() => peer.call("agent.wait", { runId: "k2", timeoutMs: 1 }))
      expect(waiting.payload).toMatchObject({ runId: "k2", status: "timeout" })
      expect(events(peer, "agent", "k2")).toHaveLength(0)
      open()
      yield* Effect.promise(() => peer.waitFor((f) => f.event === "chat" && f.payload?.runId === "k2" && f.payload?.state === "final"))
      const startOf = (runId: string) =>
        peer.frames.findIndex((f) => f.event === "agent" && f.payload?.runId === runId && f.payload?.data?.phase === "start")
      const endOf = (runId: string) =>
        peer.frames.findIndex((f) => f.event === "agent" && f.payload?.runId === runId && f.payload?.data?.phase === "end")
      expect(startOf("k2")).toBeGreaterThan(endOf("k1"))
      // The second run's prompt holds the first exchange, not later messages.
      const secondPrompt = m.prompts.find((p) => lastUserText(p) === "second")!
      expect(secondPrompt.content.map((msg) => msg.role)).toEqual(["user", "assistant", "user"])
    })
  )

  it.scopedLive("chat.abort stops the running run and the queued one; both end aborted", () =>
    Effect.gen(function* () {
      const m = scriptedModel(() => gated(new Promise<void>(() => {}), textReply("never")))
      const gw = yield* startGateway(undefined, { models: ModelsFixed(m.model) })
      const peer = yield* operator(gw.url)
      yield* Effect.promise(() => peer.call("chat.send", { sessionKey: "agent:main:main", message: "slow", idempotencyKey: "r1" }))
      yield* Effect.promise(() => peer.call("chat.send", { sessionKey: "agent:main:main", message: "queued", idempotencyKey: "r2" }))
      yield* until(() => m.calls() === 1)
      const aborted = yield* Effect.promise(() => peer.call("chat.abort", { sessionKey: "agent:main:main" }))
      expect(aborted.payload).toMatchObject({ ok: true, aborted: true })
      expect([...aborted.payload.runIds].sort()).toEqual(["r1", "r2"])
      for (const runId of ["r1", "r2"]) {
        const w = yield* Effect.promise(() => peer.call("agent.wait", { runId, timeoutMs: 5000 }))
        expect(w.payload).toMatchObject({ runId, status: "error", runStatus: "aborted" })
        yield* Effect.promise(() => peer.waitFor((f) => f.event === "chat" && f.payload?.runId === runId && f.payload?.state === "aborted"))
      }
      expect(m.calls()).toBe(1)
    })
  )

  it.scopedLive("a retry sent while the first is still being stored waits for it; aborting a queued run ends it at once", () =>
    Effect.gen(function* () {
      let open!: () => void
      const gate = new Promise<void>((r) => (open = r))
      const m = scriptedModel((prompt) => (lastUserText(prompt) === "slow" ? gated(gate, textReply("done")) : textReply("quick")))
      const gw = yield* startGateway(undefined, { models: ModelsFixed(m.model) })
      const peer = yield* operator(gw.url)
      // Two sends of one key, back to back: one message stored, one run.
      peer.send({
        type: "req",
        id: "d1",
        method: "chat.send",
        params: { sessionKey: "agent:main:main", message: "slow", idempotencyKey: "dup" }
      })
      peer.send({
        type: "req",
        id: "d2",
        method: "chat.send",
        params: { sessionKey: "agent:main:main", message: "slow", idempotencyKey: "dup" }
      })
      const [a, b] = yield* Effect.promise(() => Promise.all([peer.response("d1"), peer.response("d2")]))
      expect([a.payload.runId, b.payload.runId]).toEqual(["dup", "dup"])
      expect([a.payload.status, b.payload.status].sort()).toEqual(["in_flight", "started"])
      yield* Effect.promise(() => peer.call("chat.send", { sessionKey: "agent:main:main", message: "next", idempotencyKey: "queued" }))
      yield* until(() => m.calls() === 1)
      const aborted = yield* Effect.promise(() => peer.call("chat.abort", { sessionKey: "agent:main:main", runId: "queued" }))
      expect(aborted.payload).toMatchObject({ aborted: true, runIds: ["queued"] })
      // It ends now, while "dup" still holds the session.
      const w = yield* Effect.promise(() => peer.call("agent.wait", { runId: "queued", timeoutMs: 2000 }))
      expect(w.payload).toMatchObject({ status: "error", runStatus: "aborted" })
      open()
      const done = yield* Effect.promise(() => peer.call("agent.wait", { runId: "dup", timeoutMs: 5000 }))
      expect(done.payload).toMatchObject({ status: "ok", summary: "done" })
      expect(m.calls()).toBe(1)
      const history = yield* Effect.promise(() => peer.call("chat.history", { sessionKey: "agent:main:main" }))
      expect(history.payload.messages.filter((e: { text: string }) => e.text === "slow")).toHaveLength(1)
    })
  )

  it.scopedLive(
    "a run past its timeout ends with status timeout; a failing model ends the run with an error, and the Gateway goes on",
    () =>
      Effect.gen(function* () {
        const m = scriptedModel((prompt) =>
          lastUserText(prompt) === "hang"
            ? gated(new Promise<void>(() => {}), textReply("never"))
            : lastUserText(prompt) === "break"
              ? Stream.die(new Error("model exploded"))
              : textReply("fine")
        )
        const gw = yield* startGateway(undefined, { models: ModelsFixed(m.model) })
        const peer = yield* operator(gw.url)
        peer.send({ type: "req", id: "t1", method: "agent", params: { message: "hang", idempotencyKey: "slow-run", timeout: 1 } })
        const timedOut: Frame = yield* Effect.promise(() => peer.waitFor((f) => f.type === "res" && f.id === "t1" && f.ok === false, 8000))
        expect(timedOut.error).toMatchObject({ code: "AGENT_TIMEOUT", details: { runId: "slow-run", runStatus: "timeout" } })
        const w = yield* Effect.promise(() => peer.call("agent.wait", { runId: "slow-run" }))
        expect(w.payload).toMatchObject({ status: "timeout" })

        peer.send({ type: "req", id: "b1", method: "agent", params: { message: "break", idempotencyKey: "broken-run" } })
        const broken = yield* Effect.promise(() => peer.waitFor((f) => f.type === "res" && f.id === "b1" && f.ok === false))
        expect(broken.error?.details).toMatchObject({ runId: "broken-run", status: "error" })
        peer.send({ type: "req", id: "f1", method: "agent", params: { message: "ok now", idempotencyKey: "fine-run" } })
        const fine = yield* Effect.promise(() => peer.waitFor((f) => f.type === "res" && f.id === "f1" && f.payload?.status === "ok"))
        expect(fine.payload.summary).toBe("fine")
      })
  )

  it.scopedLive("bad params name what to fix", () =>
    Effect.gen(function* () {
      const m = scriptedModel(() => textReply("x"))
      const gw = yield* startGateway(undefined, { models: ModelsFixed(m.model) })
      const peer = yield* operator(gw.url)
      const noKey = yield* Effect.promise(() => peer.call("agent", { message: "hi" }))
      expect(noKey.error?.code).toBe("INVALID_REQUEST")
      expect(noKey.error?.message).toContain("idempotencyKey")
      const unknown = yield* Effect.promise(() => peer.call("agent.wait", { runId: "nope" }))
      expect(unknown.error?.message).toContain("unknown runId")
      const deliver = yield* Effect.promise(() => peer.call("agent", { message: "hi", idempotencyKey: "d1", deliver: true }))
      expect(deliver.error?.message).toContain("deliver needs a channel")
      expect(m.calls()).toBe(0)
    })
  )
})

describe("agent sessions come and go", () => {
  it.scopedLive("a run on each of 30 new sessions leaves no worker behind once they are done", () =>
    Effect.gen(function* () {
      const m = scriptedModel(() => textReply("ok"))
      const gw = yield* startGateway(undefined, { models: ModelsFixed(m.model) })
      const peer = yield* operator(gw.url)
      const runner = Context.get(gw.context as Context.Context<AgentRunner>, AgentRunner)
      for (let i = 0; i < 30; i++)
        peer.send({
          type: "req",
          id: `s${i}`,
          method: "agent",
          params: { message: "hi", idempotencyKey: `s-${i}`, sessionKey: `agent:main:crowd-${i}` }
        })
      yield* until(() => peer.frames.filter((f) => f.type === "res" && f.payload?.status === "ok").length === 30, 15_000)
      // A session keeps its worker only while it has runs: none here now.
      yield* until(() => Effect.runSync(runner.activity).sessions === 0)
      expect(yield* runner.activity).toEqual({ runs: 0, sessions: 0 })
      // And a session used again gets a worker again.
      const again = yield* Effect.promise(() =>
        peer.call("agent", { message: "again", idempotencyKey: "s-again", sessionKey: "agent:main:crowd-3" })
      )
      expect(again.payload.status).toBe("accepted")
      yield* until(
        () =>
          peer.frames.some((f) => f.type === "res" && f.id === again.id && f.payload?.status === "ok") ||
          events(peer, "chat", "s-again").some((e) => e.payload.state === "final")
      )
    })
  )
})
