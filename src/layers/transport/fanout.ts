/**
 * Fan-out: events from the EventBus to every connection allowed to see them
 * (its target, role and scope), serialised once per event (see outbound.ts).
 *
 * Coalesced events (presence, health: each is a whole snapshot) keep only
 * their latest, sent at most every 250 ms and no faster than the fan-out
 * bandwidth allows, so a crowd connecting at once does not multiply the list
 * by itself. A big broadcast yields to the event loop every few MiB so other
 * clients' frames are still read meanwhile.
 */
import { Duration, Effect, Queue, type Scope } from "effect"
import { printable } from "../../protocol/codec.js"
import { scopeSatisfies } from "../../protocol/methods.js"
import type { EventBusService, GatewayEvent } from "../../services/EventBus.js"
import type { Conn, Connections } from "./connection.js"
import { encodeEvent, sendEncoded } from "./outbound.js"

/** Coalesced events (presence, health) go out at most this often... */
const COALESCE_MIN_MS = 250
/** ...and no faster than this many bytes per second over all recipients together. */
const COALESCE_BYTES_PER_SECOND = 16 * 1024 * 1024
/** A broadcast to more connections than this shares its bytes among them even when they are few. */
const SHARED_FANOUT_ABOVE = 16
/** A broadcast yields to the event loop after every this many bytes, so a big fan-out never stalls other clients. */
const BROADCAST_SLICE_BYTES = 4 * 1024 * 1024

/** Lets the event loop serve I/O (other clients' frames) before going on. */
const yieldToIo = Effect.async<void>((resume) => {
  const t = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(t))
})

/** Whether `conn` may receive `ev`: its target, role and scope. */
const accepts = (conn: Conn, ev: GatewayEvent): boolean => {
  if (conn.phase !== "ready") return false
  const role = ev.role ?? "operator"
  if (role !== "all" && role !== conn.role) return false
  return ev.scope === undefined || (conn.role === "operator" && scopeSatisfies(conn.scopes, ev.scope))
}

export interface StateVersions {
  readonly presence: number
  readonly health: number
}

export const makeFanout = (c: Connections, versions: Effect.Effect<StateVersions>) => {
  /** Sends `ev` to every connection that may see it, serialised once; returns the bytes written. */
  const broadcast = (ev: GatewayEvent) =>
    Effect.gen(function* () {
      if (ev.connId !== undefined) {
        const conn = c.conns.get(ev.connId)
        if (conn && accepts(conn, ev)) c.sendEvent(conn, ev.event, ev.payload)
        return 0
      }
      const encoded = encodeEvent(ev.event, ev.payload, yield* versions)
      const crowd = c.conns.size > SHARED_FANOUT_ABOVE
      let bytes = 0
      let slice = 0
      for (const conn of [...c.conns.values()]) {
        if (!accepts(conn, ev) || !c.writable(conn)) continue
        conn.seq += 1
        const n = sendEncoded(conn.ws, encoded, conn.seq, crowd)
        bytes += n
        slice += n
        if (slice >= BROADCAST_SLICE_BYTES) {
          slice = 0
          yield* yieldToIo
        }
      }
      return bytes
    })

  /** One event that cannot be sent is logged and dropped: the fan-out goes on for every later one. */
  const safeBroadcast = (ev: GatewayEvent) =>
    broadcast(ev).pipe(
      Effect.catchAllCause((cause) => Effect.as(Effect.logError(`event ${printable(ev.event, 64)} could not be sent`, cause), 0))
    )

  /** Subscribes to the bus and fans its events out until the scope closes. */
  const run = (bus: EventBusService): Effect.Effect<void, never, Scope.Scope> =>
    Effect.gen(function* () {
      const subscription = yield* bus.subscribe
      const coalesced = new Map<string, GatewayEvent>()
      const flush = yield* Queue.sliding<void>(1)
      yield* Effect.forkScoped(
        Effect.forever(
          Effect.gen(function* () {
            const ev: GatewayEvent = yield* Queue.take(subscription)
            if (ev.coalesce && ev.connId === undefined) {
              coalesced.set(ev.event, ev)
              yield* Queue.offer(flush, undefined)
            } else yield* safeBroadcast(ev)
          })
        )
      )
      yield* Effect.forkScoped(
        Effect.forever(
          Effect.gen(function* () {
            yield* Queue.take(flush)
            const batch = [...coalesced.values()]
            coalesced.clear()
            let bytes = 0
            for (const ev of batch) bytes += yield* safeBroadcast(ev)
            yield* Effect.sleep(Duration.millis(Math.max(COALESCE_MIN_MS, (bytes / COALESCE_BYTES_PER_SECOND) * 1000)))
          })
        )
      )
    })

  return { broadcast, safeBroadcast, run }
}

export type Fanout = ReturnType<typeof makeFanout>
