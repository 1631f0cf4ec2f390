/**
 * Health: the `health` snapshot. Answering `health` reads a cached snapshot;
 * a background fiber refreshes it, so a probe never waits on the work.
 */
import * as path from "node:path"
import { Duration, Effect, Option, Ref, Schedule } from "effect"
import { Channels } from "./Channels.js"
import { Config } from "./Config.js"
import { EventBus } from "./EventBus.js"
import { GatewayState } from "./GatewayState.js"
import { Presence } from "./Presence.js"

export interface HealthSnapshot {
  readonly ok: boolean
  readonly ts: number
  readonly durationMs: number
  readonly channels: Record<string, unknown>
  readonly channelOrder: ReadonlyArray<string>
  readonly channelLabels: Record<string, string>
  readonly heartbeatSeconds: number
  readonly defaultAgentId: string
  readonly agents: ReadonlyArray<{
    readonly agentId: string
    readonly isDefault: boolean
    readonly sessions: SessionsSummary
  }>
  readonly sessions: SessionsSummary
  readonly gateway: {
    readonly version: string
    readonly uptimeMs: number
    readonly connections: { readonly operators: number; readonly nodes: number }
    readonly presence: number
  }
}

/** As OpenClaw reports it; its CLI reads `path` of every agent's sessions. */
export interface SessionsSummary {
  readonly path: string
  readonly count: number
  readonly recent: ReadonlyArray<unknown>
}

export const HEALTH_REFRESH = Duration.seconds(60)

export class Health extends Effect.Service<Health>()("clawgate/Health", {
  scoped: Effect.gen(function* () {
    const state = yield* GatewayState
    const presence = yield* Presence
    const bus = yield* EventBus
    const config = yield* Config
    const sessionsPath = path.join(config.paths.stateDir, "sessions")
    // Optional: a Gateway built without channels reports none.
    const channels = yield* Effect.serviceOption(Channels)

    const compute = Effect.gen(function* () {
      const started = Date.now()
      const connections = yield* state.connections
      const entries = yield* presence.list
      // The messaging channels, as OpenClaw lists its channel plugins; the web chat is the Gateway itself.
      const channelList = Option.isSome(channels) ? (yield* channels.value.status).filter((c) => c.id !== "webchat") : []
      const snapshot: HealthSnapshot = {
        ok: true,
        ts: Date.now(),
        durationMs: 0,
        channels: Object.fromEntries(channelList.map((c) => [c.id, c])),
        channelOrder: channelList.map((c) => c.id),
        channelLabels: Object.fromEntries(channelList.map((c) => [c.id, c.label])),
        heartbeatSeconds: 0,
        defaultAgentId: "main",
        agents: [{ agentId: "main", isDefault: true, sessions: { path: sessionsPath, count: 0, recent: [] } }],
        sessions: { path: sessionsPath, count: 0, recent: [] },
        gateway: {
          version: state.version,
          uptimeMs: yield* state.uptimeMs,
          connections: { operators: connections.operators, nodes: connections.nodes },
          presence: entries.length
        }
      }
      // Frozen: shared by every answer until the next refresh (the transport caches its JSON).
      return Object.freeze({ ...snapshot, durationMs: Date.now() - started })
    })

    const cache = yield* Ref.make(yield* compute)
    const version = yield* Ref.make(1)

    const refresh = Effect.gen(function* () {
      const next = yield* compute
      yield* Ref.set(cache, next)
      yield* Ref.update(version, (v) => v + 1)
      yield* bus.publish({ event: "health", payload: next, role: "operator", coalesce: true })
      return next
    })

    yield* refresh.pipe(Effect.schedule(Schedule.spaced(HEALTH_REFRESH)), Effect.forkScoped)

    return {
      snapshot: Ref.get(cache),
      version: Ref.get(version),
      refresh
    }
  }),
  dependencies: [GatewayState.Default, Presence.Default, EventBus.Default]
}) {}
