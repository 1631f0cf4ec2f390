import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Duration, Effect, Exit, Fiber, Ref, Schedule, TestClock } from "effect"
import { keepConnected, keepConnectedSchedule, reconnectSchedule, type SessionEnded } from "../../src/programs/nodeHost.js"
import { GatewayError } from "../../src/protocol/errors.js"
import { GatewayClientError } from "../../src/services/GatewayClient.js"

const refused = new GatewayClientError({
  reason: "Connect",
  message: "cannot reach the Gateway at ws://127.0.0.1:18789 (from --url): ECONNREFUSED"
})
const dropped = new GatewayClientError({ reason: "Closed", message: "connection to ws://127.0.0.1:18789 (from --url) closed (1006)" })

/** What one connect attempt does: fail to connect, or connect and drop after `lasts`. */
type Step = { readonly fail: GatewayClientError } | { readonly lasts: Duration.DurationInput }

/**
 * Runs keepConnected against scripted sessions under the TestClock; returns the
 * log lines and the second at which each attempt started. After the script,
 * the next attempt hangs (stays connected).
 */
const script = (steps: ReadonlyArray<Step>, advance: Duration.DurationInput) =>
  Effect.gen(function* () {
    const remaining = yield* Ref.make(steps)
    const lines: Array<string> = []
    const attempts: Array<number> = []
    const session = Effect.gen(function* () {
      attempts.push((yield* Clock.currentTimeMillis) / 1000)
      const [step, ...rest] = yield* Ref.get(remaining)
      yield* Ref.set(remaining, rest)
      if (step === undefined) return yield* Effect.never
      if ("fail" in step) return yield* step.fail
      yield* Effect.sleep(step.lasts)
      return dropped
    })
    const fiber = yield* Effect.fork(
      keepConnected({
        session,
        connecting: Effect.sync(() => void lines.push("connecting")),
        log: (line) => Effect.sync(() => void lines.push(line)),
        schedule: reconnectSchedule({ jitter: false })
      })
    )
    yield* TestClock.adjust(advance)
    const exit = yield* Fiber.poll(fiber)
    yield* Fiber.interrupt(fiber)
    return { lines, attempts, retries: lines.filter((l) => l.startsWith("retry in")), exit }
  })

const failTimes = (n: number, error = refused): Array<Step> => Array.from({ length: n }, () => ({ fail: error }))

describe("node host reconnect backoff", () => {
  it.effect("the schedule doubles from 1 s and caps at 30 s, and starts over after a session of more than 10 s", () =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const failed: SessionEnded = { connected: false, lastedMillis: 0 }
      const delays = (inputs: ReadonlyArray<SessionEnded>) =>
        Schedule.run(keepConnectedSchedule(reconnectSchedule({ jitter: false })), now, inputs).pipe(
          Effect.map((out) => Chunk.toArray(out).map(([delay]) => Duration.toSeconds(delay)))
        )
      expect(yield* delays(Array.from({ length: 7 }, () => failed))).toEqual([1, 2, 4, 8, 16, 30, 30])
      const long: SessionEnded = { connected: true, lastedMillis: 10_001 }
      const short: SessionEnded = { connected: true, lastedMillis: 10_000 }
      expect(yield* delays([failed, failed, failed, long, failed, short, failed])).toEqual([1, 2, 4, 1, 2, 4, 8])
      // A connect attempt that took long is not a session: no fresh start.
      expect(yield* delays([failed, failed, { connected: false, lastedMillis: 60_000 }])).toEqual([1, 2, 4])
    })
  )

  it.effect("with jitter each delay stays within 10% of the nominal one and never above 30 s", () =>
    Effect.gen(function* () {
      const nominal = [1, 2, 4, 8, 16, 30, 30, 30, 30, 30]
      const out = yield* Schedule.run(reconnectSchedule(), yield* Clock.currentTimeMillis, nominal)
      const delays = Chunk.toArray(out).map(Duration.toSeconds)
      expect(delays).toHaveLength(nominal.length)
      nominal.forEach((n, i) => {
        expect(delays[i]).toBeGreaterThanOrEqual(n * 0.9)
        expect(delays[i]).toBeLessThanOrEqual(Math.min(n * 1.1, 30))
      })
    })
  )

  it.effect("a Gateway that stays down is retried after 1, 2, 4, 8, 16, 30, 30 s", () =>
    Effect.gen(function* () {
      const { attempts, retries, lines } = yield* script(failTimes(7), "91 seconds")
      expect(retries).toEqual([
        "retry in 1 s",
        "retry in 2 s",
        "retry in 4 s",
        "retry in 8 s",
        "retry in 16 s",
        "retry in 30 s",
        "retry in 30 s"
      ])
      expect(attempts).toEqual([0, 1, 3, 7, 15, 31, 61, 91])
      expect(lines.slice(0, 3)).toEqual(["connecting", `cannot connect: ${refused.message}`, "retry in 1 s"])
    })
  )

  it.effect("a session that lasted more than 10 s starts the backoff over at 1 s", () =>
    Effect.gen(function* () {
      const { retries, lines } = yield* script([...failTimes(4), { lasts: "15 seconds" }, ...failTimes(2)], "200 seconds")
      expect(retries).toEqual([
        "retry in 1 s",
        "retry in 2 s",
        "retry in 4 s",
        "retry in 8 s",
        "retry in 1 s",
        "retry in 2 s",
        "retry in 4 s"
      ])
      expect(lines).toContain(`disconnected: ${dropped.message}`)
    })
  )

  it.effect("a short session does not reset the backoff", () =>
    Effect.gen(function* () {
      const { retries } = yield* script([...failTimes(2), { lasts: "5 seconds" }, ...failTimes(1)], "200 seconds")
      expect(retries).toEqual(["retry in 1 s", "retry in 2 s", "retry in 4 s", "retry in 8 s"])
    })
  )

  it.effect("an unpaired node says how to approve it and keeps retrying; auth errors are retried too", () =>
    Effect.gen(function* () {
      const notPaired = new GatewayClientError({
        reason: "NotPaired",
        message: "refused: pairing required",
        error: GatewayError.of("NOT_PAIRED", "pairing required", { details: { code: "PAIRING_REQUIRED", requestId: "req-42" } })
      })
      const auth = new GatewayClientError({ reason: "Auth", message: "refused: token mismatch — fix it there" })
      const { lines, attempts } = yield* script([{ fail: notPaired }, { fail: auth }], "10 seconds")
      expect(lines).toEqual([
        "connecting",
        "waiting for approval: run `clawgate devices approve req-42` on the Gateway host",
        "retry in 1 s",
        "connecting",
        `authentication failed: ${auth.message}`,
        "retry in 2 s",
        "connecting"
      ])
      expect(attempts).toEqual([0, 1, 3])
    })
  )

  it.effect("a bad target is fatal", () =>
    Effect.gen(function* () {
      const target = new GatewayClientError({ reason: "Target", message: "--url needs --token or --password" })
      const { exit, attempts } = yield* script([{ fail: target }], "60 seconds")
      expect(attempts).toEqual([0])
      expect(exit._tag).toBe("Some")
      if (exit._tag === "Some") expect(exit.value).toEqual(Exit.fail(target))
    })
  )

  it.effect("a TLS pin mismatch is fatal after one attempt: no retry is offered to whoever holds the certificate", () =>
    Effect.gen(function* () {
      const pin = new GatewayClientError({ reason: "TlsPin", message: "the Gateway's certificate is not the pinned one" })
      const { exit, attempts, retries } = yield* script([{ fail: pin }], "10 minutes")
      expect(attempts).toEqual([0])
      expect(retries).toEqual([])
      expect(exit._tag === "Some" && exit.value).toEqual(Exit.fail(pin))
    })
  )
})
