/**
 * Reconnect and restart backoff as `Schedule`s, driven by `Clock` (so
 * `TestClock` drives them in tests): a doubling delay with a cap, optionally
 * jittered, that starts over after an attempt that lasted.
 */
import { type Duration, Schedule } from "effect"

/**
 * `initial`, doubling, capped at `max`. With `jitter` each delay below the cap
 * is spread by ±10%, so many clients do not retry in step. Outputs the delay.
 */
export const backoffDelays = (options: {
  readonly initial: Duration.DurationInput
  readonly max: Duration.DurationInput
  readonly jitter?: boolean | undefined
}): Schedule.Schedule<Duration.Duration> => {
  const exponential = Schedule.exponential(options.initial, 2)
  const spread = options.jitter === true ? Schedule.jitteredWith(exponential, { min: 0.9, max: 1.1 }) : exponential
  return Schedule.delays(Schedule.union(spread, Schedule.spaced(options.max)))
}

/**
 * `delays`, fed with what each attempt ended with, starting over from the
 * first delay when `startOver(ended)` (a session that was up long enough).
 * Outputs the delay before the next attempt and what the last one ended with.
 */
export const startingOver = <In>(
  delays: Schedule.Schedule<Duration.Duration>,
  startOver: (ended: In) => boolean
): Schedule.Schedule<readonly [Duration.Duration, In], In> =>
  Schedule.intersect(delays, Schedule.identity<In>()).pipe(Schedule.resetWhen(([, ended]) => startOver(ended)))
