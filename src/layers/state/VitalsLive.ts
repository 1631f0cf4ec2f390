/** The Vitals service (see services/Vitals.ts). */
import { createHistogram, type RecordableHistogram } from "node:perf_hooks"
import { Effect } from "effect"
import { Vitals, type VitalSigns } from "../../services/Vitals.js"
import { Layer } from "effect"

/**
 * The delay is sampled every 50 ms while the event loop works, and once a second once it has idled (under
 * 1% busy since the last sample): an idle Gateway is not woken 20 times a second for it. So that the
 * slower pace misses nothing, a sample taken at it counts the time the loop was busy since the previous
 * one as its delay when that is longer (what a callback due at the worst moment would have waited, at
 * most): work that held the loop between two idle samples, as a heavy first request does, is measured
 * even if no sample fell due during it. The next sample is 50 ms later again.
 */
const SAMPLE_MS = 50
const IDLE_SAMPLE_MS = 1_000
const IDLE_BELOW = 0.01
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
  let timer: ReturnType<typeof setTimeout> | undefined
  let stopped = false
  let utilization = performance.eventLoopUtilization()
  const schedule = (intervalMs: number) => {
    const expected = performance.now() + intervalMs
    timer = setTimeout(() => {
      const since = performance.eventLoopUtilization(utilization)
      utilization = performance.eventLoopUtilization()
      const lateMs = Math.max(performance.now() - expected, intervalMs === IDLE_SAMPLE_MS ? since.active : 0)
      if (Date.now() - current.from >= SLOT_MS) current = fresh()
      current.histogram.record(Math.min(60_000_000, Math.max(1, Math.round(lateMs * 1e3))))
      if (!stopped) schedule(since.utilization < IDLE_BELOW ? IDLE_SAMPLE_MS : SAMPLE_MS)
    }, intervalMs)
    timer.unref()
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => schedule(SAMPLE_MS)),
    () =>
      Effect.sync(() => {
        stopped = true
        clearTimeout(timer)
      })
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
