/**
 * Health: the `health` snapshot. Every figure in it comes from the Gateway's
 * state: sessions (in all and per agent, with the most recent ones) from the
 * sessions store, connections and presence from the transport, each channel's
 * state from its adapter.
 *
 * A plain `health` never waits: it answers from the kept snapshot, whose
 * `ts` says when it was taken, with the uptime of the moment the answer is
 * sent. The snapshot is taken again shortly after anything it summarises
 * changes (a session written, a connection or a channel coming or going:
 * a second after the first change, with the ones in between folded in) and
 * every minute regardless. Sessions and channels changing, and the minute,
 * are announced as a `health` event; connections and presence already are,
 * as presence events. `probe` takes one now: a
 * round trip to the store, and each channel asked for its live state.
 * The implementation is `layers/HealthLive.ts`.
 */
import { Context, Duration, type Effect } from "effect"
import type { ChannelStatus } from "./Channels.js"

/** A session as OpenClaw's CLI reads it: `key` and `age` (ms since its last activity, as of `ts`). */
export interface RecentSession {
  readonly key: string
  readonly updatedAt: number
  readonly age: number
  readonly channel?: string | undefined
}

/** As OpenClaw reports it; its CLI reads `path` of every agent's sessions. */
export interface SessionsSummary {
  readonly path: string
  readonly count: number
  readonly recent: ReadonlyArray<RecentSession>
}

export interface HealthSnapshot {
  readonly ok: boolean
  /** When the snapshot was taken. */
  readonly ts: number
  /** How long taking it took. */
  readonly durationMs: number
  /** Taken for a probe (`health {probe: true}`): channels were asked, not only looked at. */
  readonly probe: boolean
  readonly channels: Record<string, ChannelStatus>
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
  /** Last, with `uptimeMs` last: the answer splices the current uptime into kept text. */
  readonly gateway: {
    readonly version: string
    readonly connections: { readonly operators: number; readonly nodes: number; readonly pending: number }
    readonly presence: number
    readonly uptimeMs: number
  }
}

export const HEALTH_REFRESH = Duration.seconds(60)
/** After a change, the snapshot is taken again this much later (changes in between fold into it). */
export const HEALTH_SETTLE = Duration.seconds(1)
/** How many recent sessions the snapshot lists, in all and per agent. */
export const RECENT_SESSIONS = 5
/** How long a probe waits for a channel's service. */
export const PROBE_CHANNEL_TIMEOUT_MS = 3_000
export interface HealthService {
  /** The kept snapshot, with the current uptime. Never waits on the store or a channel. */
  readonly snapshot: Effect.Effect<HealthSnapshot>
  /** A snapshot taken now: a round trip to the store, each channel asked for its live state. It is kept too. */
  readonly probe: Effect.Effect<HealthSnapshot>
  /** A snapshot taken now from the store and the channels' last known states (no channel is asked). Kept too. */
  readonly fresh: Effect.Effect<HealthSnapshot>
  /** How many snapshots were kept so far (OpenClaw's stateVersion.health). */
  readonly version: Effect.Effect<number>
  /** A connection came or went (its presence with it): the snapshot is taken again, quietly. */
  readonly connectionsChanged: Effect.Effect<void>
  /** Takes the snapshot again now and announces it. */
  readonly refresh: Effect.Effect<void>
}

export class Health extends Context.Tag("clawgate/Health")<Health, HealthService>() {}
