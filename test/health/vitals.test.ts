/**
 * The event-loop delay in `status` (VitalsLive), on the real event loop: a loop held up is measured,
 * also when it had idled long enough for the sampler to slow to once a second.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { VitalsLive } from "../../src/layers/state/VitalsLive.js"
import { Vitals } from "../../src/services/Vitals.js"

/** Holds the event loop, as a synchronous hot spot in a handler would. */
const hold = (ms: number) =>
  Effect.sync(() => {
    const until = performance.now() + ms
    while (performance.now() < until) {}
  })

/** Reads until the delay's maximum reaches `ms` (the late sample lands a moment after the hold ends). */
const maxReaches = (ms: number) =>
  Effect.gen(function* () {
    const vitals = yield* Vitals
    for (;;) {
      const { eventLoopDelayMs } = yield* vitals.read
      if (eventLoopDelayMs.max >= ms) return eventLoopDelayMs
      yield* Effect.sleep(Duration.millis(20))
    }
  }).pipe(Effect.timeout(Duration.seconds(5)))

describe("the event-loop delay", () => {
  it.scopedLive("measures a held loop, right after start and after an idle spell (sampled once a second then)", () =>
    Effect.gen(function* () {
      yield* Effect.sleep(Duration.millis(120))
      yield* hold(200)
      const first = yield* maxReaches(150)
      expect(first.windowMs).toBeGreaterThan(0)
      expect(first.max).toBeLessThan(400)

      // Idle for over a second: the sampler is down to once a second, and a hold shorter than that is
      // measured even when no sample falls due during it (by the loop's busy time since the last one).
      yield* Effect.sleep(Duration.millis(2_200))
      yield* hold(450)
      const second = yield* maxReaches(400)
      expect(second.p50).toBeLessThan(second.max)
    }).pipe(Effect.provide(VitalsLive))
  )
})
