/**
 * `clawgate logs` on the test layers: how a line is read and printed (escaped, --json, --level), and
 * `--follow` on TestClock against a scripted logs.tail: a poll a second with the cursor, a note on a reset, a
 * lost Gateway reached again and the cursor kept.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import { GatewayClientTest } from "../../src/layers/GatewayClientTest.js"
import { GatewayError } from "../../src/protocol/errors.js"
import { followLogs, parseLogLine, renderLogLine, shownAt } from "../../src/programs/logs.js"

const rec = (level: string, msg: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ time: "2026-01-01T00:00:00.000Z", level, msg, ...extra })

describe("log lines", () => {
  it("prints `time level msg {fields}`, every control character escaped", () => {
    const line = parseLogLine(rec("warn", "peer said \u001b[2Jhi\nthere", { client: "evil\u0007", connId: "c1" }))
    expect(line.level).toBe("warn")
    const out = renderLogLine(line, false)
    expect(out).toBe('2026-01-01T00:00:00.000Z warn  peer said \\u001b[2Jhi\\nthere {"client":"evil\\u0007","connId":"c1"}')
    expect(out).not.toMatch(/[\u0000-\u001f]/)
  })

  it("--json prints the record as one JSON line that reads back the same", () => {
    const raw = rec("info", "a\u0085b\u2028c", { n: 1 })
    const out = renderLogLine(parseLogLine(raw), true)
    expect(out.includes("\n")).toBe(false)
    expect(out).not.toMatch(/[\u0085\u2028]/)
    expect(JSON.parse(out)).toEqual(JSON.parse(raw))
  })

  it("a line that is not JSON is printed as it is, escaped; in --json as {raw}", () => {
    const line = parseLogLine("plain \u001b[31mtext")
    expect(line.record).toBeUndefined()
    expect(renderLogLine(line, false)).toBe("plain \\u001b[31mtext")
    expect(JSON.parse(renderLogLine(line, true))).toEqual({ raw: "plain \u001b[31mtext" })
    expect(renderLogLine(parseLogLine('{"unterminated'), false)).toBe('{"unterminated')
  })

  it("--level keeps that level and above; OpenClaw's tslog lines are read too", () => {
    const levels = ["debug", "info", "warn", "error", "fatal"].map((l) => parseLogLine(rec(l, "m")))
    expect(levels.filter((r) => shownAt(r, "warn")).map((r) => r.level)).toEqual(["warn", "error", "error"])
    const tslog = parseLogLine(JSON.stringify({ 0: "hello", _meta: { logLevelName: "WARN", date: "2026-01-01T00:00:00.000Z" } }))
    expect(tslog.level).toBe("warn")
    expect(shownAt(tslog, "error")).toBe(false)
  })
})

describe("logs --follow", () => {
  it.scoped("polls logs.tail with the cursor once a second, notes a reset, reconnects after a lost Gateway", () =>
    Effect.gen(function* () {
      const out: Array<string> = []
      const err: Array<string> = []
      const cursors: Array<number | undefined> = []
      let answer = 0
      const answers: Array<Effect.Effect<unknown, GatewayError>> = [
        Effect.succeed({
          file: "f",
          cursor: 100,
          size: 100,
          lines: [rec("info", "one"), rec("warn", "two")],
          truncated: false,
          reset: false
        }),
        Effect.succeed({ file: "f", cursor: 100, size: 100, lines: [], truncated: false, reset: false }),
        Effect.succeed({ file: "f", cursor: 150, size: 150, lines: [rec("info", "three")], truncated: false, reset: false }),
        Effect.fail(GatewayError.unavailable("the Gateway is stopping")),
        Effect.succeed({ file: "f", cursor: 30, size: 30, lines: [rec("error", "four")], truncated: false, reset: true })
      ]
      const session = GatewayClientTest({
        "logs.tail": (params) => {
          cursors.push((params as { cursor?: number }).cursor)
          return answers[Math.min(answer++, answers.length - 1)]!
        }
      })
      const console = yield* Effect.console
      const fiber = yield* Effect.fork(
        followLogs(session, { limit: 200, json: false }).pipe(
          Effect.withConsole({
            ...console,
            log: (...args: ReadonlyArray<unknown>) => Effect.sync(() => void out.push(args.join(" "))),
            error: (...args: ReadonlyArray<unknown>) => Effect.sync(() => void err.push(args.join(" ")))
          })
        )
      )
      const settle = Effect.repeatN(Effect.yieldNow(), 50)
      yield* settle
      // The first read: the last lines, no cursor.
      expect(cursors).toEqual([undefined])
      expect(out.map((l) => l.split(" ").slice(-1)[0])).toEqual(["one", "two"])
      // Nothing more until a second has passed on the Clock.
      yield* TestClock.adjust("999 millis")
      yield* settle
      expect(cursors).toHaveLength(1)
      yield* TestClock.adjust("1 millis")
      yield* settle
      expect(cursors).toEqual([undefined, 100])
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(cursors).toEqual([undefined, 100, 100])
      expect(out.at(-1)).toMatch(/info {2}three$/)
      // The Gateway goes away: a note, then a new connection a second later, from the same cursor.
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(err).toEqual([expect.stringMatching(/^note: lost the Gateway \(the Gateway is stopping\); reconnecting/)])
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(cursors).toEqual([undefined, 100, 100, 150, 150])
      expect(err.slice(1)).toEqual([
        "note: reconnected to the Gateway at test://gateway",
        expect.stringMatching(/^note: some lines were missed/)
      ])
      expect(out.at(-1)).toMatch(/error four$/)
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(cursors.at(-1)).toBe(30)
      yield* Fiber.interrupt(fiber)
    })
  )

  it.scoped("a Gateway that cannot be reached at the start is an error, not a wait", () =>
    Effect.gen(function* () {
      const session = GatewayClientTest({ "logs.tail": () => Effect.fail(GatewayError.unavailable("down")) })
      const exit = yield* Effect.exit(followLogs(session, { limit: 10, json: false }))
      expect(exit._tag).toBe("Failure")
    })
  )
})
