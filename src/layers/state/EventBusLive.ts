/** The EventBus service (see services/EventBus.ts). */
import { Effect, PubSub, type Queue, type Scope } from "effect"
import { EventBus, type GatewayEvent } from "../../services/EventBus.js"
import { Layer } from "effect"

const make = Effect.gen(function* () {
  const hub = yield* Effect.acquireRelease(PubSub.unbounded<GatewayEvent>(), PubSub.shutdown)
  const subscribe: Effect.Effect<Queue.Dequeue<GatewayEvent>, never, Scope.Scope> = PubSub.subscribe(hub)
  return {
    publish: (event: GatewayEvent): Effect.Effect<void> => Effect.asVoid(PubSub.publish(hub, event)),
    subscribe
  }
})

export const EventBusLive = Layer.scoped(EventBus, make)
