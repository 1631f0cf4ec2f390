/** The Vitals service (see services/Vitals.ts). */
import { createHistogram, type RecordableHistogram } from "node:perf_hooks"
import { Effect } from "effect"
import { Vitals, type VitalSigns } from "../../services/Vitals.js"
import { Layer } from "effect"

const SAMPLE_MS = 50
const SLOT_MS = 10_000
const SLOTS = 6

/** Delays are recorded in µs, from 1 µs to a minute, to two significant figures: a small histogram (the default range takes hundreds of KB each). */
const histogram = () => createHistogram({ lowest: 1, highest: 60_000_000, figures: 2 })
const ms = (us: number) => Math.round(us / 10) / 100

const make = Effect.gen(function* () {
  const slots: Array<{ readonly from: number; readonly histogram: RecordableHistogram }> = []
  const fresh = () => {
    const slot = { from: Date.now(), histogram: histogram() }
    slots.push(slot)
    if (slots.length > SLOTS) slots.shift()
    return slot
  }
  // The newest slot, which samples go into; `slots` is never empty.
  let current = fresh()
  let expected = performance.now() + SAMPLE_MS
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      const timer = setInterval(() => {
        const now = performance.now()
        const lateUs = Math.min(60_000_000, Math.max(1, Math.round((now - expected) * 1e3)))
        expected = now + SAMPLE_MS
        if (Date.now() - current.from >= SLOT_MS) current = fresh()
        current.histogram.record(lateUs)
      }, SAMPLE_MS)
      timer.unref()
      return timer
    }),
    (timer) => Effect.sync(() => clearInterval(timer))
  )

  const read = Effect.sync((): VitalSigns => {
    const merged = histogram()
    for (const s of slots) merged.add(s.histogram)
    const m = process.memoryUsage()
    const counted = merged.count > 0
    return {
      memory: { rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal, externalBytes: m.external },
      eventLoopDelayMs: {
        p50: counted ? ms(merged.percentile(50)) : 0,
        p99: counted ? ms(merged.percentile(99)) : 0,
        max: counted ? ms(merged.max) : 0,
        windowMs: Date.now() - (slots[0] ?? current).from
      }
    }
  })
  return { read }
})

export const VitalsLive = Layer.scoped(Vitals, make)
