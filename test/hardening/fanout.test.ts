/**
 * Fan-out proportional to what changed: presence is a bounded list (200
 * entries, as on OpenClaw), a crowd connecting at once is a few presence
 * events rather than one per connection, and every recipient gets the same
 * bytes with its own monotonic seq.
 */
import { describe, expect, it } from "@effect/vitest"
import { EventBusLive } from "../../src/layers/state/EventBusLive.js"
import { PresenceLive } from "../../src/layers/state/PresenceLive.js"
import { Effect, Layer } from "effect"
import { connectParams, handshake } from "../support/ws.js"
import { startGateway, TOKEN } from "../support/gateway.js"
import { MAX_PRESENCE_ENTRIES, Presence } from "../../src/services/Presence.js"

const auth = { auth: { token: TOKEN } }
const ui = (id: string, scopes = ["operator.read"]) =>
  connectParams({ ...auth, scopes, client: { id, version: "1", platform: "linux", mode: "ui", instanceId: id } })

describe("presence", () => {
  it.scoped("holds at most 200 entries: the Gateway's own, then the newest connections", () =>
    Effect.gen(function* () {
      const presence = yield* Presence
      for (let i = 0; i < 250; i++) {
        yield* presence.upsert({ key: `c${i}`, mode: "ui", roles: ["operator"], reason: "connect", text: `c${i}`, ts: i })
      }
      const list = yield* presence.list
      expect(list).toHaveLength(MAX_PRESENCE_ENTRIES)
      expect(list[0]!.mode).toBe("gateway")
      expect(list.slice(1).map((e) => e.text)).toEqual(Array.from({ length: 199 }, (_, i) => `c${i + 51}`))
      // Its JSON is built once per version.
      expect(yield* presence.json).toBe(JSON.stringify(list))
      expect(yield* presence.json).toBe(yield* presence.json)
    }).pipe(Effect.provide(PresenceLive.pipe(Layer.provide(EventBusLive))))
  )

  it.scopedLive("fifty clients connecting at once reach a watcher as a few presence events, the last listing them all", () =>
    Effect.gen(function* () {
      const gw = yield* startGateway()
      const watcher = yield* handshake(gw.url, ui("watcher"))
      yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => `crowd-${i}`),
        (id) => handshake(gw.url, ui(id)),
        { concurrency: "unbounded" }
      )
      const all = (f: { event?: string; payload?: any }) =>
        f.event === "presence" &&
        Array.from({ length: 50 }, (_, i) => `crowd-${i}`).every((id) =>
          f.payload.presence.some((p: { instanceId?: string }) => p.instanceId === id)
        )
      yield* Effect.promise(() => watcher.peer.waitFor(all, 10_000))
      const events = watcher.peer.frames.filter((f) => f.event === "presence")
      expect(events.length).toBeLessThan(25)
      // One seq per connection, increasing by one with every event it was sent (the shared bytes are reassembled into one frame).
      const seqs = watcher.peer.frames.filter((f) => f.type === "event" && f.event !== "connect.challenge").map((f) => f.seq!)
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1)
      expect(JSON.stringify(events.at(-1)).length).toBeGreaterThan(4096)
    })
  )
})
