/**
 * Vitals: the Gateway process's own signs, as `status` reports them: memory
 * (RSS and heap) and how late the event loop runs (p50/p99 over the last
 * minute). The delay is sampled on the wall clock by one timer (every 50 ms
 * while the loop works, once a second while it idles, into six 10-second
 * histograms), since it measures the real event loop.
 */
import { Context, type Effect } from "effect"

export interface VitalSigns {
  readonly memory: {
    readonly rssBytes: number
    readonly heapUsedBytes: number
    readonly heapTotalBytes: number
    readonly externalBytes: number
  }
  /** How late timers fired, in ms, over `windowMs` (up to the last minute). */
  readonly eventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number; readonly windowMs: number }
}

export interface VitalsService {
  readonly read: Effect.Effect<VitalSigns>
}

export class Vitals extends Context.Tag("clawgate/Vitals")<Vitals, VitalsService>() {}
