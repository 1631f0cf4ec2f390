/**
 * Periodic sweeps that sleep while there is nothing to sweep. A sweeper that wakes every 50 ms on an
 * idle Gateway costs CPU and, worse, keeps V8 compiling Effect's run loop for nothing; an idle Gateway
 * should not wake at all. So each sweep reports whether work is left, and when there is none its fiber
 * waits on a latch that whoever adds work opens (`latch.unsafeOpen()`, from plain callbacks too).
 *
 * Single-threaded, so there is no lost wake-up: work added before a sweep is seen by it, and work added
 * after the latch closed opens it again.
 */
import { type Duration, Effect } from "effect"

/**
 * Runs `sweep` every `interval` from the moment `wake` opens, until a sweep answers false (nothing left to
 * look at); then waits for `wake` to open again. Runs forever: fork it in the scope that owns the work.
 */
export const sweepWhileBusy = <E, R>(
  wake: Effect.Latch,
  interval: Duration.DurationInput,
  sweep: Effect.Effect<boolean, E, R>
): Effect.Effect<never, E, R> =>
  wake.await.pipe(
    Effect.zipRight(Effect.sleep(interval)),
    Effect.zipRight(sweep),
    Effect.tap((busy) => (busy ? Effect.void : wake.close)),
    Effect.forever
  )
