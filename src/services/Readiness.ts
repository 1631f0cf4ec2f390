/**
 * Readiness: what the Gateway's probes answer, kept in memory. The parts
 * that a Gateway needs to be of use each mark a named check (the store once
 * it is open and migrated, the listeners once they are bound, each enabled
 * channel as its state changes); `/startupz` and `/readyz` read the snapshot
 * without any I/O of their own.
 *
 * Start-up is done once every start-up stage has been up once, and stays
 * done (a startup probe answers once). Ready means: started, and every check
 * up now; a channel that fails later makes the Gateway not ready until it
 * recovers.
 */
import { Context, type Effect } from "effect"

/** The start-up stages every Gateway has: the store open and migrated, the listeners bound, the channels' workers launched. */
export const STARTUP_STAGES = ["store", "listeners", "channels"] as const

/** One check's state: not up yet (starting), up, or down with the reason. */
export type CheckStatus = { readonly _tag: "Starting" } | { readonly _tag: "Up" } | { readonly _tag: "Down"; readonly error: string }

export const CheckStatus = {
  starting: { _tag: "Starting" } as CheckStatus,
  up: { _tag: "Up" } as CheckStatus,
  down: (error: string): CheckStatus => ({ _tag: "Down", error })
}

/** A check as the probes show it; `error` is bounded, escaped and free of secrets. */
export interface ReadinessCheck {
  readonly name: string
  readonly ok: boolean
  readonly error?: string | undefined
}

export interface ReadinessSnapshot {
  /** Every start-up stage has been up once. */
  readonly started: boolean
  /** When start-up finished (ms since the epoch, on the Clock). */
  readonly startedAt?: number | undefined
  /** How long start-up took, from the Readiness being made. */
  readonly startupMs?: number | undefined
  /** Start-up stages not up yet, in order. */
  readonly pending: ReadonlyArray<string>
  /** Every check, in the order first marked. */
  readonly checks: ReadonlyArray<ReadinessCheck>
  /** Started and every check up. */
  readonly ready: boolean
}

export interface ReadinessService {
  /** Sets the state of check `name` (made on first use). */
  readonly mark: (name: string, status: CheckStatus) => Effect.Effect<void>
  /** What the probes answer, from memory. */
  readonly snapshot: Effect.Effect<ReadinessSnapshot>
}

export class Readiness extends Context.Tag("clawgate/Readiness")<Readiness, ReadinessService>() {}
