/**
 * Presence: who is connected right now (the Gateway itself, operators, nodes),
 * with a version that increases on every change, as served by
 * `system-presence` and pushed as `presence` events.
 */
import { Context, type Effect } from "effect"

export interface PresenceEntry {
  readonly key: string
  readonly host?: string | undefined
  readonly ip?: string | undefined
  readonly version?: string | undefined
  readonly platform?: string | undefined
  readonly deviceFamily?: string | undefined
  readonly mode: string
  readonly roles: ReadonlyArray<string>
  readonly scopes?: ReadonlyArray<string> | undefined
  readonly instanceId?: string | undefined
  readonly connId?: string | undefined
  readonly deviceId?: string | undefined
  readonly clientId?: string | undefined
  readonly reason: string
  readonly text: string
  readonly ts: number
}

/** As on OpenClaw: at most this many entries (the Gateway's own included); the oldest connection drops out first. */
export const MAX_PRESENCE_ENTRIES = 200

/** How stale the presence in hello-ok may be (it says which version it is). */
export const SNAPSHOT_MAX_AGE_MS = 250

/** An entry as operators see it: OpenClaw's fields, without the Gateway's own `key` and `connId`. */
export type WireEntry = Omit<PresenceEntry, "key" | "connId">

export interface PresenceService {
  readonly list: Effect.Effect<ReadonlyArray<WireEntry>>
  /** The list as JSON bytes with its version, shared by every hello-ok of that version. */
  readonly snapshot: Effect.Effect<{ readonly version: number; readonly bytes: Buffer }>
  /** The list as JSON (what hello-ok carries), serialised once per version. */
  readonly json: Effect.Effect<string>
  readonly version: Effect.Effect<number>
  readonly upsert: (entry: PresenceEntry) => Effect.Effect<void>
  /** Removes `key`'s entry if `connId` (when given) is still the connection that holds it. */
  readonly remove: (key: string, connId?: string) => Effect.Effect<void>
}

export class Presence extends Context.Tag("clawgate/Presence")<Presence, PresenceService>() {}
