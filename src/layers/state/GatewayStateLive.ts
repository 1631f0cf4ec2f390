/** The GatewayState service (see services/GatewayState.ts). */
import { Effect, Ref } from "effect"
import { VERSION } from "../../version.js"
import { GatewayState, type ServingInfo, type UntrustedProxyHeaders } from "../../services/GatewayState.js"
import { Layer } from "effect"

const make = Effect.gen(function* () {
  // Uptime is on the layer's Clock (the TestClock in tests), read when it is reported.
  const clock = yield* Effect.clock
  const startedAt = clock.unsafeCurrentTimeMillis()
  const serving = yield* Ref.make<ServingInfo | undefined>(undefined)
  const connections = yield* Ref.make({ operators: 0, nodes: 0 })
  const untrustedProxyHeaders = yield* Ref.make<UntrustedProxyHeaders>({ count: 0, lastFrom: null, lastAt: null })
  // Counts the transport keeps itself and that change on every frame or accept, read when asked.
  let pendingSource: () => number = () => 0
  let inflightSource: () => number = () => 0
  return {
    version: VERSION,
    startedAt,
    uptimeMs: Effect.sync(() => clock.unsafeCurrentTimeMillis() - startedAt),
    serving: Ref.get(serving),
    setServing: (info: ServingInfo) => Ref.set(serving, info),
    /** Connected operators and nodes, and TCP connections that have not finished connect (`pending`). */
    connections: Effect.map(Ref.get(connections), (c) => ({ ...c, pending: pendingSource() })),
    /** Where `connections.pending` comes from: TCP connections that have not finished connect (nor become an HTTP request). */
    countPendingWith: (source: () => number) => Effect.sync(() => void (pendingSource = source)),
    /** Where `requestsInFlight` comes from: requests of every connection waiting for their answer. */
    countInflightWith: (source: () => number) => Effect.sync(() => void (inflightSource = source)),
    requestsInFlight: Effect.sync(() => inflightSource()),
    countConnection: (kind: "operators" | "nodes", delta: number) => Ref.update(connections, (c) => ({ ...c, [kind]: c[kind] + delta })),

    untrustedProxyHeaders: Ref.get(untrustedProxyHeaders),
    noteUntrustedProxyHeaders: (from: string) =>
      Ref.update(untrustedProxyHeaders, (u) => ({ count: u.count + 1, lastFrom: from, lastAt: Date.now() }))
  }
})

export const GatewayStateLive = Layer.effect(GatewayState, make)
