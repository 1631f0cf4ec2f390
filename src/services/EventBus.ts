/**
 * EventBus: Gateway events (`presence`, `health`, `shutdown`, ...) published by
 * services and fanned out by the transport to the connections allowed to see
 * them. Services never know about sockets.
 */
import { Context, type Effect, type Queue, type Scope } from "effect"
import type { Role } from "../protocol/frames.js"

export interface GatewayEvent {
  readonly event: string
  readonly payload?: unknown
  /** Only connections of this role receive it (default: operators). */
  readonly role?: Role | "all"
  /** Only this connection receives it. */
  readonly connId?: string
  /** Only operators holding this scope receive it (chat and agent events carry conversation content). */
  readonly scope?: "operator.read" | "operator.write" | "operator.admin" | "operator.pairing"
  /**
   * The payload is a whole snapshot (presence, health): when several are
   * published close together only the latest is sent, at a pace the
   * transport sets from how many bytes the fan-out costs.
   */
  readonly coalesce?: boolean
}

export interface EventBusService {
  readonly publish: (event: GatewayEvent) => Effect.Effect<void>
  /** A queue of every event published from now on, for as long as the scope lasts. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<GatewayEvent>, never, Scope.Scope>
}

export class EventBus extends Context.Tag("clawgate/EventBus")<EventBus, EventBusService>() {}
