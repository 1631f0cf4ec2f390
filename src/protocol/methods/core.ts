/** `health`, `status`, `system-presence`, `config.get`, `logs.tail`: what the Gateway says about itself. */
import { Schema } from "effect"
import { method, requiresAuthenticated, requiresScope } from "../method.js"
import { Int, opt, Strings } from "./common.js"

const Connections = Schema.Struct({ operators: Schema.Number, nodes: Schema.Number, pending: opt(Schema.Number) })

export const ChannelState = Schema.Struct({
  id: Schema.String,
  label: Schema.String,
  configured: Schema.Boolean,
  enabled: Schema.Boolean,
  state: Schema.String,
  mode: opt(Schema.String),
  account: opt(Schema.String),
  lastInboundAt: opt(Schema.Number),
  lastOutboundAt: opt(Schema.Number),
  lastError: opt(Schema.Struct({ message: Schema.String, at: Schema.Number })),
  probe: opt(Schema.Struct({ ok: Schema.Boolean, ms: Schema.Number, error: opt(Schema.String), at: Schema.Number }))
})

const RecentSession = Schema.Struct({
  key: Schema.String,
  updatedAt: opt(Schema.Number),
  age: opt(Schema.Number),
  channel: opt(Schema.String)
})
const SessionsSummary = Schema.Struct({ path: opt(Schema.String), count: Schema.Number, recent: opt(Schema.Array(RecentSession)) })

/**
 * The `health` snapshot. Everything but `ok` and `ts` is optional, because the CLI reads OpenClaw's
 * health as well as clawgate's; clawgate sends every field.
 */
export const HealthResult = Schema.Struct({
  ok: Schema.Boolean,
  ts: Schema.Number,
  durationMs: opt(Schema.Number),
  probe: opt(Schema.Boolean),
  // OpenClaw's channels carry more (or other) fields than clawgate's: read as they come.
  channels: opt(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  channelOrder: opt(Strings),
  channelLabels: opt(Schema.Record({ key: Schema.String, value: Schema.String })),
  heartbeatSeconds: opt(Schema.Number),
  defaultAgentId: opt(Schema.String),
  agents: opt(Schema.Array(Schema.Struct({ agentId: Schema.String, isDefault: opt(Schema.Boolean), sessions: opt(SessionsSummary) }))),
  sessions: opt(SessionsSummary),
  gateway: opt(Schema.Struct({ version: Schema.String, connections: Connections, presence: Schema.Number, uptimeMs: Schema.Number }))
})
export type HealthResult = typeof HealthResult.Type

export const Health = method("health", {
  requires: requiresAuthenticated,
  // OpenClaw's live probe: `{probe: true}` takes a snapshot now.
  params: Schema.Struct({ probe: opt(Schema.Boolean), timeoutMs: opt(Schema.Number) }),
  result: HealthResult
})

const Listener = Schema.Struct({ host: Schema.String, port: Schema.Number })
const EventLoopDelay = Schema.Struct({ p50: Schema.Number, p99: Schema.Number, max: opt(Schema.Number) })
export const Vitals = Schema.Struct({
  memory: Schema.Struct({ rssBytes: Schema.Number, heapUsedBytes: Schema.Number, heapTotalBytes: Schema.Number }),
  eventLoopDelayMs: EventLoopDelay,
  connections: Connections,
  requestsInFlight: Schema.Number,
  agent: Schema.Struct({ runs: Schema.Number, sessions: Schema.Number })
})

/** `status`: clawgate's fields are optional for the same reason as health's (OpenClaw's status has others). */
export const StatusResult = Schema.Struct({
  ts: opt(Schema.Number),
  version: opt(Schema.String),
  host: opt(Schema.String),
  platform: opt(Schema.String),
  uptimeMs: opt(Schema.Number),
  gateway: opt(
    Schema.Struct({
      mode: opt(Schema.String),
      bind: opt(Schema.String),
      port: opt(Schema.NullOr(Schema.Number)),
      listeners: opt(Schema.Array(Listener)),
      authMode: opt(Schema.String),
      tls: opt(Schema.Boolean),
      /** The served certificate's SHA-256 (lower-case hex, what clients pin); null without TLS. */
      tlsFingerprint: opt(Schema.NullOr(Schema.String)),
      tailscale: opt(Schema.String),
      /** The profile the Gateway runs under (`--profile NAME`); null for the default one. */
      profile: opt(Schema.NullOr(Schema.String))
    })
  ),
  connections: opt(Connections),
  presence: opt(Schema.Struct({ count: Schema.Number, version: Schema.Number })),
  runtimeVersion: opt(Schema.String),
  channelSummary: opt(Strings),
  sessions: opt(
    Schema.Struct({ count: Schema.Number, paths: opt(Strings), recent: opt(Schema.Array(RecentSession)), asOf: opt(Schema.Number) })
  ),
  health: opt(Schema.Struct({ version: Schema.Number, ts: Schema.Number })),
  vitals: opt(Vitals),
  security: opt(
    Schema.Struct({
      untrustedProxyHeaders: Schema.Struct({
        count: Schema.Number,
        lastFrom: Schema.NullOr(Schema.String),
        lastAt: Schema.NullOr(Schema.Number)
      })
    })
  )
})
export type StatusResult = typeof StatusResult.Type

export const Status = method("status", { requires: requiresScope("operator.read"), result: StatusResult })

export const PresenceEntry = Schema.Struct({
  host: opt(Schema.String),
  ip: opt(Schema.String),
  version: opt(Schema.String),
  platform: opt(Schema.String),
  deviceFamily: opt(Schema.String),
  mode: opt(Schema.String),
  roles: opt(Strings),
  scopes: opt(Strings),
  instanceId: opt(Schema.String),
  deviceId: opt(Schema.String),
  clientId: opt(Schema.String),
  reason: opt(Schema.String),
  text: opt(Schema.String),
  ts: opt(Schema.Number)
})

export const SystemPresence = method("system-presence", { requires: requiresScope("operator.read"), result: Schema.Array(PresenceEntry) })

export const ConfigGet = method("config.get", {
  requires: requiresScope("operator.read"),
  result: Schema.Struct({
    path: Schema.String,
    exists: Schema.Boolean,
    valid: Schema.Boolean,
    hash: opt(Schema.String),
    issues: opt(Schema.Array(Schema.Struct({ path: Schema.String, message: Schema.String }))),
    config: Schema.Unknown
  })
})

export const LogsTail = method("logs.tail", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({
    cursor: opt(Int.pipe(Schema.nonNegative())),
    limit: opt(Int.pipe(Schema.between(1, 5000))),
    maxBytes: opt(Int.pipe(Schema.between(1, 4 * 1024 * 1024)))
  }),
  result: Schema.Struct({
    file: Schema.String,
    cursor: Schema.Number,
    size: Schema.Number,
    lines: Strings,
    truncated: Schema.Boolean,
    reset: Schema.Boolean
  })
})
