/** The Presence service (see services/Presence.ts). */
import * as os from "node:os"
import { Effect } from "effect"
import { VERSION } from "../../version.js"
import { EventBus } from "../../services/EventBus.js"
import { MAX_PRESENCE_ENTRIES, Presence, SNAPSHOT_MAX_AGE_MS, type PresenceEntry, type WireEntry } from "../../services/Presence.js"
import { EventBusLive } from "./EventBusLive.js"
import { Layer } from "effect"

const stored = (entry: PresenceEntry) => {
  const { key: _key, connId, ...wire } = entry
  return { entry: wire, json: JSON.stringify(wire), connId }
}

const make = Effect.gen(function* () {
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
  // Each entry's JSON is kept beside it: in a connect storm the list changes with every connection,
  // and joining 200 kept strings costs a fraction of serialising 200 entries again.
  const entries = new Map<string, { readonly entry: WireEntry; readonly json: string; readonly connId: string | undefined }>([
    ["gateway", stored(self)]
  ])
  let version = 1
  // The list and its JSON, built at most once per version however many connections ask for it.
  let listed: { version: number; list: ReadonlyArray<WireEntry>; json: string | undefined } | undefined

  const current = () => {
    if (listed === undefined || listed.version !== version) {
      listed = { version, list: Array.from(entries.values(), (e) => e.entry), json: undefined }
    }
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

  // What hello-ok carries: the list as of at most SNAPSHOT_MAX_AGE_MS ago, with its version, as bytes
  // shared by every connection that asks meanwhile. In a connect storm every connection changes the
  // list; rebuilding it for each of them would cost each newcomer the whole crowd.
  let shared: { version: number; at: number; bytes: Buffer } | undefined
  const snapshot = Effect.sync(() => {
    const now = Date.now()
    if (shared === undefined || (shared.version !== version && now - shared.at >= SNAPSHOT_MAX_AGE_MS)) {
      const c = current()
      c.json ??= `[${Array.from(entries.values(), (e) => e.json).join(",")}]`
      shared = { version: c.version, at: now, bytes: Buffer.from(c.json) }
    }
    return { version: shared.version, bytes: shared.bytes }
  })

  return {
    list: Effect.sync(() => current().list),
    snapshot,
    /** The list as JSON (what hello-ok carries), serialised once per version. */
    json: Effect.sync(() => {
      const c = current()
      c.json ??= `[${Array.from(entries.values(), (e) => e.json).join(",")}]`
      return c.json
    }),
    version: Effect.sync(() => version),
    upsert: (entry: PresenceEntry) =>
      Effect.suspend(() => {
        entries.delete(entry.key)
        entries.set(entry.key, stored(entry))
        for (const key of entries.keys()) {
          if (entries.size <= MAX_PRESENCE_ENTRIES) break
          if (key !== "gateway") entries.delete(key)
        }
        return changed
      }),
    /** Removes `key`'s entry if `connId` (when given) is still the connection that holds it. */
    remove: (key: string, connId?: string) =>
      Effect.suspend(() => {
        const held = entries.get(key)
        if (key === "gateway" || held === undefined || (connId !== undefined && held.connId !== connId)) return Effect.void
        entries.delete(key)
        return changed
      })
  }
})

export const PresenceLive = Layer.effect(Presence, make).pipe(Layer.provide(EventBusLive))
