/** The Sessions store over SQLite: in memory, and in a file that is closed and opened again. */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { DatabaseLive } from "../../src/layers/Database.js"
import { SessionsSql } from "../../src/layers/SessionsSql.js"
import { MAIN_SESSION_KEY, Sessions, sessionKeyFor, type RunRecord } from "../../src/services/Sessions.js"
import { tempDir } from "../support/gateway.js"

const inMemory = SessionsSql.pipe(Layer.provide(DatabaseLive(undefined)))
const inFile = (dir: string) => SessionsSql.pipe(Layer.provide(DatabaseLive(dir)))

/** Opens the store in `dir` for the duration of `use`, then closes the database. */
const withStore = <A, E>(dir: string, use: Effect.Effect<A, E, Sessions>) => Effect.scoped(Effect.provide(use, inFile(dir)))

const TELEGRAM = sessionKeyFor("main", "telegram", "42")

const run = (over: Partial<RunRecord> & { runId: string }): RunRecord => ({
  sessionKey: MAIN_SESSION_KEY,
  sessionId: "s",
  status: "queued",
  acceptedAt: 1000,
  ...over
})

describe("Sessions store", () => {
  it.effect("ensure creates once, append numbers entries in order, history returns them oldest first", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions
      const created = yield* sessions.ensure(MAIN_SESSION_KEY, { agentId: "main", label: "web chat" })
      expect(created).toMatchObject({ key: MAIN_SESSION_KEY, agentId: "main", label: "web chat", messageCount: 0 })
      expect(created.lastText).toBeUndefined()
      const again = yield* sessions.ensure(MAIN_SESSION_KEY, { agentId: "other" })
      expect(again.sessionId).toBe(created.sessionId)
      expect(again.agentId).toBe("main")

      const first = yield* sessions.append(MAIN_SESSION_KEY, [
        { role: "user", text: "hello", channel: "webchat", sender: "op", runId: "r1" },
        {
          role: "tool_call",
          text: "",
          toolName: "system.info",
          toolCallId: "c1",
          data: { nodeId: "n", params: { a: [1, 2] } },
          runId: "r1"
        }
      ])
      expect(first.map((e) => e.seq)).toEqual([1, 2])
      const second = yield* sessions.append(MAIN_SESSION_KEY, [
        { role: "tool_result", text: "ok", toolName: "system.info", toolCallId: "c1", data: null, runId: "r1" },
        { role: "assistant", text: "hi there", runId: "r1", ts: 5 }
      ])
      expect(second.map((e) => e.seq)).toEqual([3, 4])
      expect(second[1]!.ts).toBe(5)

      const history = yield* sessions.history(MAIN_SESSION_KEY)
      expect(history.map((e) => [e.seq, e.role, e.text])).toEqual([
        [1, "user", "hello"],
        [2, "tool_call", ""],
        [3, "tool_result", "ok"],
        [4, "assistant", "hi there"]
      ])
      expect(history[0]).toMatchObject({ channel: "webchat", sender: "op", runId: "r1", sessionId: created.sessionId })
      expect(history[1]!.data).toEqual({ nodeId: "n", params: { a: [1, 2] } })
      expect(history[2]!.data).toBeNull()
      expect("data" in history[0]!).toBe(false)
      expect(history).toEqual([...first, ...second])

      const last2 = yield* sessions.history(MAIN_SESSION_KEY, { limit: 2 })
      expect(last2.map((e) => e.seq)).toEqual([3, 4])

      const info = Option.getOrThrow(yield* sessions.get(MAIN_SESSION_KEY))
      expect(info.messageCount).toBe(2) // user + assistant only
      expect(info.lastText).toBe("hi there")
      expect(Option.isNone(yield* sessions.get("agent:main:nope"))).toBe(true)
    }).pipe(Effect.provide(inMemory))
  )

  it.effect("concurrent appends to one session never share a seq", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions
      yield* sessions.ensure(MAIN_SESSION_KEY, { agentId: "main" })
      yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        (i) =>
          sessions.append(MAIN_SESSION_KEY, [
            { role: "user", text: `m${i}a` },
            { role: "assistant", text: `m${i}b` }
          ]),
        { concurrency: "unbounded" }
      )
      const history = yield* sessions.history(MAIN_SESSION_KEY)
      expect(history.map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
      // Each append's two entries are adjacent: appends do not interleave.
      for (let i = 0; i < 40; i += 2) expect(history[i]!.text.replace(/a$/, "b")).toBe(history[i + 1]!.text)
    }).pipe(Effect.provide(inMemory))
  )

  it.effect("list: most recently updated first, with search and limit; unknown keys fail NotFound", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions
      yield* sessions.ensure(MAIN_SESSION_KEY, { agentId: "main" })
      yield* sessions.ensure(TELEGRAM, { agentId: "main", channel: "telegram", peer: "42", label: "Alice" })
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 3)))
      yield* sessions.append(MAIN_SESSION_KEY, [{ role: "user", text: "latest" }])

      const all = yield* sessions.list()
      expect(all.map((s) => s.key)).toEqual([MAIN_SESSION_KEY, TELEGRAM])
      expect(all[0]).toMatchObject({ messageCount: 1, lastText: "latest" })
      expect(all[1]).toMatchObject({ channel: "telegram", peer: "42", label: "Alice", messageCount: 0 })
      expect((yield* sessions.list({ limit: 1 })).map((s) => s.key)).toEqual([MAIN_SESSION_KEY])
      expect((yield* sessions.list({ search: "ALICE" })).map((s) => s.key)).toEqual([TELEGRAM])
      expect((yield* sessions.list({ search: "telegram:42" })).map((s) => s.key)).toEqual([TELEGRAM])
      expect(yield* sessions.list({ search: "nobody" })).toEqual([])

      for (const e of [
        yield* Effect.flip(sessions.history("agent:main:nope")),
        yield* Effect.flip(sessions.append("agent:main:nope", [{ role: "user", text: "x" }])),
        yield* Effect.flip(sessions.reset("agent:main:nope"))
      ]) {
        expect(e).toMatchObject({ _tag: "SessionsError", reason: "NotFound", message: "unknown session: agent:main:nope" })
      }
    }).pipe(Effect.provide(inMemory))
  )

  it.effect("reset starts an empty transcript under a new id; remove deletes every id of the key and its runs", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions
      const before = yield* sessions.ensure(MAIN_SESSION_KEY, { agentId: "main" })
      yield* sessions.ensure(TELEGRAM, { agentId: "main" })
      yield* sessions.append(MAIN_SESSION_KEY, [{ role: "user", text: "old" }], { run: run({ runId: "r1", sessionId: before.sessionId }) })
      yield* sessions.append(TELEGRAM, [{ role: "user", text: "other" }])

      const after = yield* sessions.reset(MAIN_SESSION_KEY)
      expect(after.sessionId).not.toBe(before.sessionId)
      expect(after).toMatchObject({ messageCount: 0, createdAt: before.createdAt })
      expect(after.lastText).toBeUndefined()
      expect(yield* sessions.history(MAIN_SESSION_KEY)).toEqual([])
      const fresh = yield* sessions.append(MAIN_SESSION_KEY, [{ role: "user", text: "new" }], {
        run: run({ runId: "r2", sessionId: after.sessionId })
      })
      expect(fresh[0]).toMatchObject({ seq: 1, sessionId: after.sessionId })

      yield* sessions.remove(MAIN_SESSION_KEY)
      expect(Option.isNone(yield* sessions.get(MAIN_SESSION_KEY))).toBe(true)
      expect(Option.isNone(yield* sessions.getRun("r1"))).toBe(true)
      expect(Option.isNone(yield* sessions.getRun("r2"))).toBe(true)
      // Recreated: nothing of either old id comes back.
      yield* sessions.ensure(MAIN_SESSION_KEY, { agentId: "main" })
      expect(yield* sessions.history(MAIN_SESSION_KEY)).toEqual([])
      // Other sessions are untouched; removing an unknown key is a no-op.
      expect((yield* sessions.history(TELEGRAM)).map((e) => e.text)).toEqual(["other"])
      yield* sessions.remove("agent:main:nope")
    }).pipe(Effect.provide(inMemory))
  )

  it.effect("entries, cursor and run are one transaction: a failure midway stores none of them", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions
      const s = yield* sessions.ensure(TELEGRAM, { agentId: "main", channel: "telegram", peer: "42" })
      yield* sessions.append(TELEGRAM, [{ role: "user", text: "m1" }], {
        cursor: { channel: "telegram", account: "default", value: "101" }
      })

      // The second entry cannot be stored (its data is not JSON): the first entry and the cursor roll back.
      const badData = yield* Effect.flip(
        sessions.append(
          TELEGRAM,
          [
            { role: "user", text: "m2" },
            { role: "user", text: "m3", data: { n: 1n } }
          ],
          {
            cursor: { channel: "telegram", account: "default", value: "103" }
          }
        )
      )
      expect(badData).toMatchObject({ reason: "Storage" })
      expect(badData.message).toContain("cannot append")

      // The run record fails in SQLite after the entries and the cursor were written: all roll back.
      const badRun = yield* Effect.flip(
        sessions.append(TELEGRAM, [{ role: "user", text: "m2" }], {
          cursor: { channel: "telegram", account: "default", value: "102" },
          run: run({ runId: "r-bad", sessionKey: TELEGRAM, sessionId: s.sessionId, summary: { not: "bindable" } as unknown as string })
        })
      )
      expect(badRun).toMatchObject({ reason: "Storage" })
      expect(badRun.message).toMatch(/^sessions store: cannot append to a transcript: /)

      expect((yield* sessions.history(TELEGRAM)).map((e) => e.text)).toEqual(["m1"])
      expect(yield* sessions.cursor("telegram", "default")).toEqual(Option.some("101"))
      expect(Option.isNone(yield* sessions.getRun("r-bad"))).toBe(true)

      // And the store still works: the next append takes seq 2.
      const ok = yield* sessions.append(TELEGRAM, [{ role: "user", text: "m2" }], {
        cursor: { channel: "telegram", account: "default", value: "102" },
        run: run({ runId: "r2", sessionKey: TELEGRAM, sessionId: s.sessionId })
      })
      expect(ok[0]!.seq).toBe(2)
      expect(yield* sessions.cursor("telegram", "default")).toEqual(Option.some("102"))
      expect(Option.getOrThrow(yield* sessions.getRun("r2")).status).toBe("queued")
    }).pipe(Effect.provide(inMemory))
  )

  it.effect("cursors: none until set, then the latest value per channel and account", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions
      expect(Option.isNone(yield* sessions.cursor("telegram", "default"))).toBe(true)
      yield* sessions.setCursor({ channel: "telegram", account: "default", value: "7" })
      yield* sessions.setCursor({ channel: "telegram", account: "other", value: "9" })
      yield* sessions.setCursor({ channel: "telegram", account: "default", value: "8" })
      expect(yield* sessions.cursor("telegram", "default")).toEqual(Option.some("8"))
      expect(yield* sessions.cursor("telegram", "other")).toEqual(Option.some("9"))
    }).pipe(Effect.provide(inMemory))
  )

  it.effect("failInterrupted marks queued and running runs failed; undelivered lists finished runs not yet delivered", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions
      const deliver = { channel: "telegram", to: "42" }
      yield* sessions.putRun(run({ runId: "queued", acceptedAt: 1 }))
      yield* sessions.putRun(run({ runId: "running", acceptedAt: 2, startedAt: 3, deliverTo: deliver }))
      yield* sessions.putRun(run({ runId: "done", status: "ok", acceptedAt: 3, endedAt: 10, summary: "hi", deliverTo: deliver }))
      yield* sessions.putRun(run({ runId: "sent", status: "ok", acceptedAt: 4, endedAt: 11, deliverTo: deliver, deliveredAt: 12 }))
      yield* sessions.putRun(run({ runId: "local", status: "ok", acceptedAt: 5, endedAt: 12 }))
      // putRun replaces: the same run, updated.
      yield* sessions.putRun(run({ runId: "local", status: "ok", acceptedAt: 5, endedAt: 13, summary: "updated" }))
      expect(Option.getOrThrow(yield* sessions.getRun("local"))).toEqual(
        run({ runId: "local", status: "ok", acceptedAt: 5, endedAt: 13, summary: "updated" })
      )

      expect((yield* sessions.undelivered).map((r) => r.runId)).toEqual(["done"])

      const before = Date.now()
      const failed = yield* sessions.failInterrupted("gateway restarted")
      expect(failed.map((r) => r.runId)).toEqual(["queued", "running"])
      for (const r of failed) {
        expect(r).toMatchObject({ status: "error", summary: "gateway restarted" })
        expect(r.endedAt).toBeGreaterThanOrEqual(before)
        expect(Option.getOrThrow(yield* sessions.getRun(r.runId))).toEqual(r)
      }
      expect(failed[1]!.startedAt).toBe(3)
      expect(yield* sessions.failInterrupted("again")).toEqual([])

      // The interrupted run had a delivery target: its error is now due.
      expect((yield* sessions.undelivered).map((r) => r.runId).sort()).toEqual(["done", "running"])
      yield* sessions.putRun({ ...Option.getOrThrow(yield* sessions.getRun("done")), deliveredAt: 20 })
      expect((yield* sessions.undelivered).map((r) => r.runId)).toEqual(["running"])
    }).pipe(Effect.provide(inMemory))
  )

  it.scoped("a file database keeps sessions, transcripts, cursors and runs across close and reopen", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir("clawgate-sessions-")
      const created = yield* withStore(
        dir,
        Effect.gen(function* () {
          const sessions = yield* Sessions
          const s = yield* sessions.ensure(TELEGRAM, { agentId: "main", channel: "telegram", peer: "42" })
          yield* sessions.append(TELEGRAM, [{ role: "user", text: "before the restart", sender: "alice" }], {
            cursor: { channel: "telegram", account: "default", value: "500" },
            run: run({ runId: "r1", sessionKey: TELEGRAM, sessionId: s.sessionId, status: "running", startedAt: 2 })
          })
          return s
        })
      )
      expect((yield* Effect.promise(() => fs.stat(path.join(dir, "clawgate.sqlite")))).mode & 0o777).toBe(0o600)

      yield* withStore(
        dir,
        Effect.gen(function* () {
          const sessions = yield* Sessions
          const failed = yield* sessions.failInterrupted("interrupted by a restart")
          expect(failed.map((r) => r.runId)).toEqual(["r1"])
          const info = Option.getOrThrow(yield* sessions.get(TELEGRAM))
          expect(info).toMatchObject({ sessionId: created.sessionId, messageCount: 1, lastText: "before the restart" })
          expect(yield* sessions.cursor("telegram", "default")).toEqual(Option.some("500"))
          const more = yield* sessions.append(TELEGRAM, [{ role: "assistant", text: "after" }])
          expect(more[0]!.seq).toBe(2)
        })
      )

      yield* withStore(
        dir,
        Effect.gen(function* () {
          const sessions = yield* Sessions
          expect((yield* sessions.history(TELEGRAM)).map((e) => [e.seq, e.text])).toEqual([
            [1, "before the restart"],
            [2, "after"]
          ])
          expect(Option.getOrThrow(yield* sessions.getRun("r1"))).toMatchObject({ status: "error", summary: "interrupted by a restart" })
        })
      )
    })
  )
})
