/**
 * BootstrapCodes: the one-time codes of `clawgate dashboard` links
 * (`auth.bootstrapToken` in connect, OpenClaw's name). A code is issued by
 * an operator that may pair devices, grants at most the scopes that operator
 * holds, and is consumed by the first connect that presents it: whatever
 * happens next, it never admits anyone again. It expires on the layer's Clock.
 *
 * Only a hash of each code is kept, and the number outstanding is capped (a
 * new one pushes out the oldest). The layer is `BootstrapCodesMemory`
 * (src/layers/admission/).
 */
import { Context, type Effect, type Option } from "effect"

/** At most this many codes wait to be used at once; issuing another drops the oldest. */
export const MAX_OUTSTANDING_CODES = 32

export interface IssueCode {
  /** The operator scopes the code will grant (already narrowed to the issuer's). */
  readonly scopes: ReadonlyArray<string>
  /** Who asked, for the Gateway's log (never the code itself). */
  readonly label?: string | undefined
}

export interface IssuedCode {
  /** The code, returned once: only its hash is kept. */
  readonly token: string
  readonly expiresAtMs: number
  readonly scopes: ReadonlyArray<string>
}

/** What a consumed code grants. */
export interface CodeGrant {
  readonly scopes: ReadonlyArray<string>
  readonly label?: string | undefined
  readonly issuedAtMs: number
  readonly expiresAtMs: number
}

export interface BootstrapCodesService {
  readonly issue: (input: IssueCode) => Effect.Effect<IssuedCode>
  /**
   * Takes the code out of the store, in one step that no other consume can
   * interleave with (two connects racing with one code: one gets it). None
   * when it is unknown, already used or expired.
   */
  readonly consume: (token: string) => Effect.Effect<Option.Option<CodeGrant>>
  /** How many codes are outstanding (not used, not expired) right now. */
  readonly outstanding: Effect.Effect<number>
}

export class BootstrapCodes extends Context.Tag("clawgate/BootstrapCodes")<BootstrapCodes, BootstrapCodesService>() {}
