/**
 * BootstrapCodes in the Gateway's memory. A code lives ten minutes at most and
 * is used once, so nothing of it needs to survive a restart: a restart drops
 * every outstanding code, and a link printed before it is refused (the safe
 * direction; run `clawgate dashboard` again). Keeping them out of the
 * database also keeps them out of its backups.
 *
 * Each code is 32 random bytes (base64url); only its SHA-256 is kept. A
 * presented code is hashed and compared with every outstanding hash in
 * constant time (no early exit, no map keyed by the secret), then the one it
 * matched is removed in the same synchronous step: no other fiber can run in
 * between, so two connects with the same code cannot both get it. Expiry is
 * read from the layer's Clock (TestClock in tests).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import { Clock, Effect, Layer, Option } from "effect"
import { BOOTSTRAP_CODE_TTL_MS } from "../../protocol/methods/devices.js"
import { BootstrapCodes, type BootstrapCodesService, type CodeGrant, MAX_OUTSTANDING_CODES } from "../../services/BootstrapCodes.js"

interface Entry extends CodeGrant {
  readonly hash: Buffer
}

const hashOf = (token: string): Buffer => createHash("sha256").update(token, "utf8").digest()

export interface BootstrapCodesOptions {
  /** How long a code is valid (default 10 minutes). */
  readonly ttlMs?: number
  /** How many may be outstanding (default MAX_OUTSTANDING_CODES). */
  readonly max?: number
}

export const makeBootstrapCodesMemory = (options: BootstrapCodesOptions = {}): BootstrapCodesService => {
  const ttlMs = options.ttlMs ?? BOOTSTRAP_CODE_TTL_MS
  const max = options.max ?? MAX_OUTSTANDING_CODES
  // Oldest first.
  let entries: Array<Entry> = []
  const prune = (now: number) => {
    entries = entries.filter((e) => e.expiresAtMs > now)
  }

  const issue: BootstrapCodesService["issue"] = (input) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.gen(function* () {
        prune(now)
        const dropped = entries.length >= max ? entries.length - max + 1 : 0
        if (dropped > 0) entries = entries.slice(dropped)
        const token = randomBytes(32).toString("base64url")
        const entry: Entry = {
          hash: hashOf(token),
          scopes: [...input.scopes],
          label: input.label,
          issuedAtMs: now,
          expiresAtMs: now + ttlMs
        }
        entries.push(entry)
        if (dropped > 0) yield* Effect.logWarning(`dashboard codes: more than ${max} outstanding; the oldest ${dropped} no longer work`)
        return { token, expiresAtMs: entry.expiresAtMs, scopes: entry.scopes }
      })
    )

  const consume: BootstrapCodesService["consume"] = (token) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        const presented = hashOf(token)
        let found: Entry | undefined
        // Every outstanding hash is compared, whatever matched before.
        for (const e of entries) if (timingSafeEqual(e.hash, presented)) found = e
        if (found === undefined) return Option.none()
        const used = found
        entries = entries.filter((e) => e !== used)
        return used.expiresAtMs > now
          ? Option.some({ scopes: used.scopes, label: used.label, issuedAtMs: used.issuedAtMs, expiresAtMs: used.expiresAtMs })
          : Option.none()
      })
    )

  const outstanding: BootstrapCodesService["outstanding"] = Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.sync(() => entries.filter((e) => e.expiresAtMs > now).length)
  )

  return BootstrapCodes.of({ issue, consume, outstanding })
}

/** One store per Gateway: the method that issues codes and the admission that consumes them share it. */
export const BootstrapCodesMemory = (options: BootstrapCodesOptions = {}) =>
  Layer.sync(BootstrapCodes, () => makeBootstrapCodesMemory(options))
