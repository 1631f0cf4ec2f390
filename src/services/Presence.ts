/**
 * Presence: who is connected right now (the Gateway itself, operators, nodes),
 * with a version that increases on every change, as served by
 * `system-presence` and pushed as `presence` events.
 */
import * as os from "node:os"
import { Effect, Ref } from "effect"
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
    const state = yield* Ref.make({ version: 1, entries: new Map<string, PresenceEntry>([["gateway", self]]) })

    const changed = (version: number, entries: Map<string, PresenceEntry>) =>
      bus.publish({ event: "presence", payload: { presence: [...entries.values()] }, role: "operator" }).pipe(
        Effect.as(version)
      )

    const modify = (f: (m: Map<string, PresenceEntry>) => boolean) =>
      Ref.modify(state, (s) => {
        const entries = new Map(s.entries)
        if (!f(entries)) return [undefined, s] as const
        const next = { version: s.version + 1, entries }
        return [next, next] as const
      }).pipe(Effect.flatMap((next) => (next ? changed(next.version, next.entries) : Effect.void)))

    return {
      list: Effect.map(Ref.get(state), (s) => [...s.entries.values()]),
      version: Effect.map(Ref.get(state), (s) => s.version),
      upsert: (entry: PresenceEntry) => modify((m) => (m.set(entry.key, entry), true)),
      remove: (key: string) => modify((m) => m.delete(key))
    }
  }),
  dependencies: [EventBus.Default]
}) {}
