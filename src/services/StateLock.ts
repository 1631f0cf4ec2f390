/**
 * StateLock: one Gateway per state dir. `clawgate gateway run` holds an
 * exclusive lock on its state dir for as long as it runs, taken before the
 * store or the port is opened; a second start on the same state dir fails with
 * `StateLockHeld`, naming the running Gateway.
 */
import { Context, Data, type Effect } from "effect"

/** What the lock holder records beside the lock (`<stateDir>/gateway.lock.json`), for a second start to name. */
export interface LockOwner {
  readonly pid: number
  readonly stateDir: string
  /** ISO time the lock was taken. */
  readonly startedAt: string
  /** The URL a local client uses, once the Gateway listens. */
  readonly url?: string | undefined
}

/** Another Gateway holds the state dir's lock: a configuration problem, not one a restart fixes. */
export class StateLockHeld extends Data.TaggedError("StateLockHeld")<{
  readonly stateDir: string
  /** The holder's facts, when it has recorded them. */
  readonly owner?: LockOwner | undefined
  readonly message: string
}> {}

/** The lock could not be taken (I/O), or was lost while the Gateway ran (someone removed or took it). */
export class StateLockError extends Data.TaggedError("StateLockError")<{
  readonly reason: "Io" | "Lost"
  readonly stateDir: string
  readonly message: string
}> {}

export interface StateLockService {
  readonly stateDir: string
  /** The lock directory (`<stateDir>/gateway.lock`). */
  readonly lockPath: string
  /** Set when this start took over a lock left by a Gateway that died: what it found. */
  readonly tookOver?: string | undefined
  /** Records the URL beside the lock, once the Gateway listens. */
  readonly recordUrl: (url: string) => Effect.Effect<void>
  /** Fails once the lock is lost (its directory removed or taken by another start); never succeeds. */
  readonly lost: Effect.Effect<never, StateLockError>
}

export class StateLock extends Context.Tag("clawgate/StateLock")<StateLock, StateLockService>() {}
