/**
 * Presence: who is connected right now (the Gateway itself, operators, nodes),
 * with a version that increases on every change, as served by
 * `system-presence` and pushed as `presence` events.
 */
import * as os from "node:os"
import { Effect } from "effect"
import { VERSION } from "../version.js"
import { EventBus } from "./EventBus.js"

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

export class Presence extends Effect.Service<Presence>()("clawgate/Presence", {
  effect: Effect.gen(function* () {
    const bus = yield* EventBus
    const self: PresenceEntry = {
      key: "gateway",
      host: os.hostname(),
      version: VERSION,
      platform: process.platform,
      mode: "gateway",
      roles: ["gateway"],
      reason: "self",
      text: `Gateway ${os.hostname()} (clawgate ${VERSION})`,
      ts: Date.now()
    }
    // Insertion order is age order (an upsert moves its entry to the end), so the oldest is first.
    const entries = new Map<string, PresenceEntry>([["gateway", self]])
    let version = 1
    // The list and its JSON, built at most once per version however many connections ask for it.
    let listed: { version: number; list: ReadonlyArray<PresenceEntry>; json: string | undefined } | undefined

    const current = () => {
      if (listed === undefined || listed.version !== version) listed = { version, list: [...entries.values()], json: undefined }
      return listed
    }

    // Whole snapshots, coalesced by the transport: a crowd connecting at once is one presence event, not one per connection.
    const changed = Effect.suspend(() => {
      version += 1
      return bus.publish({
        event: "presence",
        payload: { presence: current().list },
        role: "operator",
        scope: "operator.read",
        coalesce: true
      })
    })

    return {
      list: Effect.sync(() => current().list),
      /** The list as JSON (what hello-ok carries), serialised once per version. */
      json: Effect.sync(() => {
        const c = current()
        c.json ??= JSON.stringify(c.list)
        return c.json
      }),
      version: Effect.sync(() => version),
      upsert: (entry: PresenceEntry) =>
        Effect.suspend(() => {
          entries.delete(entry.key)
          entries.set(entry.key, entry)
          for (const key of entries.keys()) {
            if (entries.size <= MAX_PRESENCE_ENTRIES) break
            if (key !== "gateway") entries.delete(key)
          }
          return changed
        }),
      remove: (key: string) => Effect.suspend(() => (key !== "gateway" && entries.delete(key) ? changed : Effect.void))
    }
  }),
  dependencies: [EventBus.Default]
}) {}
