/** The Health service: see services/Health.ts for what the snapshot holds and when it is taken. */
import * as path from "node:path"
import { EventBusLive } from "./state/EventBusLive.js"
import { GatewayStateLive } from "./state/GatewayStateLive.js"
import { PresenceLive } from "./state/PresenceLive.js"
import { Effect, Layer, Option, Queue, Schedule } from "effect"
import { withJson } from "../services/Dispatcher.js"
import { Channels } from "../services/Channels.js"
import { ConfigStore } from "../services/Config.js"
import { EventBus } from "../services/EventBus.js"
import { GatewayState } from "../services/GatewayState.js"
import {
  HEALTH_REFRESH,
  HEALTH_SETTLE,
  Health,
  PROBE_CHANNEL_TIMEOUT_MS,
  RECENT_SESSIONS,
  type HealthService,
  type HealthSnapshot,
  type RecentSession
} from "../services/Health.js"
import { Presence } from "../services/Presence.js"
import { Sessions, type SessionActivity, type SessionsSummary as StoredSummary } from "../services/Sessions.js"

const DEFAULT_AGENT = "main"

const make = Effect.gen(function* () {
  const state = yield* GatewayState
  const clock = yield* Effect.clock
  const presence = yield* Presence
  const bus = yield* EventBus
  const config = yield* ConfigStore
  const sessionsPath = path.join(config.paths.stateDir, "clawgate.sqlite")
  // Optional: a Gateway built without channels or a store reports none.
  const channels = yield* Effect.serviceOption(Channels)
  const sessions = yield* Effect.serviceOption(Sessions)

  const recentOf = (list: ReadonlyArray<SessionActivity>, ts: number): Array<RecentSession> =>
    list.map((s) => ({
      key: s.key,
      updatedAt: s.updatedAt,
      age: Math.max(0, ts - s.updatedAt),
      ...(s.channel ? { channel: s.channel } : {})
    }))

  const take = (probe: boolean) =>
    Effect.gen(function* () {
      const started = Date.now()
      const empty: StoredSummary = { count: 0, recent: [], agents: [] }
      const stored = Option.isSome(sessions)
        ? yield* sessions.value.summary({ recent: RECENT_SESSIONS }).pipe(
            Effect.tapError((e) => Effect.logWarning(`health: ${e.message}`)),
            Effect.either
          )
        : undefined
      const summary = stored?._tag === "Right" ? stored.right : empty
      // The messaging channels, as OpenClaw lists its channel plugins; the web chat is the Gateway itself.
      const channelList = Option.isSome(channels)
        ? (yield* probe ? channels.value.probe(PROBE_CHANNEL_TIMEOUT_MS) : channels.value.status).filter((c) => c.id !== "webchat")
        : []
      const connections = yield* state.connections
      const entries = yield* presence.list
      const ts = Date.now()
      const agentIds = [DEFAULT_AGENT, ...summary.agents.map((a) => a.agentId).filter((id) => id !== DEFAULT_AGENT)]
      const agents = agentIds.map((agentId) => {
        const a = summary.agents.find((x) => x.agentId === agentId)
        return {
          agentId,
          isDefault: agentId === DEFAULT_AGENT,
          sessions: { path: sessionsPath, count: a?.count ?? 0, recent: recentOf(a?.recent ?? [], ts) }
        }
      })
      // A store that cannot be read makes the Gateway unhealthy, and says so.
      const snapshot: Omit<HealthSnapshot, "durationMs" | "gateway"> = {
        ok: stored?._tag !== "Left",
        ts,
        probe,
        channels: Object.fromEntries(channelList.map((c) => [c.id, c])),
        channelOrder: channelList.map((c) => c.id),
        channelLabels: Object.fromEntries(channelList.map((c) => [c.id, c.label])),
        heartbeatSeconds: 0,
        defaultAgentId: DEFAULT_AGENT,
        agents,
        sessions: { path: sessionsPath, count: summary.count, recent: recentOf(summary.recent, ts) }
      }
      const gateway = { version: state.version, connections, presence: entries.length }
      const body = { ...snapshot, durationMs: Date.now() - started, gateway }
      // Everything but the uptime, as text ending where the uptime goes (`gateway` is last).
      const json = JSON.stringify(body)
      return { body, head: `${json.slice(0, -2)},"uptimeMs":` }
    })

  type Taken = Effect.Effect.Success<ReturnType<typeof take>>
  // Plain variables, read and written only from this service's effects: `health` is the hottest
  // method, and a plain one answers from them without allocating more than the answer.
  let kept: Taken = yield* take(false)
  let version = 1
  let last: { taken: Taken; uptimeMs: number; answer: HealthSnapshot } | undefined

  /** A snapshot as answered: the kept one with the uptime of this moment, its JSON prepared (one per millisecond). */
  const answerNow = (taken: Taken): HealthSnapshot => {
    const uptimeMs = clock.unsafeCurrentTimeMillis() - state.startedAt
    if (last !== undefined && last.taken === taken && last.uptimeMs === uptimeMs) return last.answer
    const answer = withJson({ ...taken.body, gateway: { ...taken.body.gateway, uptimeMs } }, `${taken.head}${uptimeMs}}}`)
    last = { taken, uptimeMs, answer }
    return answer
  }
  const answer = (taken: Taken) => Effect.sync(() => answerNow(taken))

  /**
   * Keeps a snapshot and, with `announce`, sends it as a `health` event. Connections and presence
   * reach operators as presence events already: a snapshot taken for them alone is kept quietly,
   * so a crowd connecting is not also a health event to every operator.
   */
  const keep = (taken: Taken, announce = true) =>
    Effect.gen(function* () {
      kept = taken
      version += 1
      if (announce) yield* bus.publish({ event: "health", payload: yield* answer(taken), role: "operator", coalesce: true })
    })

  const refresh = Effect.flatMap(take(false), (taken) => keep(taken))

  // Something the snapshot summarises changed: take it again once things settle. `true`: sessions or a
  // channel changed, which operators hear of only through health.
  let announce = false
  const changed = yield* Queue.sliding<void>(1)
  const signal = (loud: boolean) => Effect.suspend(() => ((announce ||= loud), Queue.offer(changed, undefined)))
  // Sessions and channels say when they change; connections and presence are told by the transport
  // (`connectionsChanged`), a plain call on every connect and disconnect.
  if (Option.isSome(sessions)) yield* sessions.value.watch(signal(true))
  if (Option.isSome(channels)) yield* channels.value.watch(signal(true))
  yield* Effect.forever(
    Effect.gen(function* () {
      yield* Queue.take(changed)
      yield* Effect.sleep(HEALTH_SETTLE)
      const loudly = announce
      announce = false
      yield* Effect.flatMap(take(false), (taken) => keep(taken, loudly))
    })
  ).pipe(Effect.forkScoped)
  yield* refresh.pipe(Effect.schedule(Schedule.spaced(HEALTH_REFRESH)), Effect.forkScoped)

  return {
    /** The kept snapshot, with the current uptime. Never waits on the store or a channel. */
    snapshot: Effect.sync(() => answerNow(kept)),
    /** A snapshot taken now: a round trip to the store, each channel asked for its live state. It is kept too. */
    probe: Effect.flatMap(take(true), (taken) => Effect.zipRight(keep(taken), answer(taken))).pipe(Effect.withSpan("Health.probe")),
    /** A snapshot taken now from the store and the channels' last known states (no channel is asked). Kept too. */
    fresh: Effect.flatMap(take(false), (taken) => Effect.zipRight(keep(taken, false), answer(taken))).pipe(Effect.withSpan("Health.fresh")),
    version: Effect.sync(() => version),
    /** A connection came or went (its presence with it): the snapshot is taken again, quietly. */
    connectionsChanged: signal(false),
    refresh
  } satisfies HealthService
})

/** Health over the Gateway's state, presence and bus (shared with the rest of the Gateway: same layer references). */
export const HealthLive = Layer.scoped(Health, make).pipe(Layer.provide(Layer.mergeAll(GatewayStateLive, PresenceLive, EventBusLive)))
