/**
 * `health`, `status` and presence read for the Overview page (shapes:
 * src/protocol/methods/core.ts). `status.gateway.tlsFingerprint` is read when
 * a Gateway sends it (not yet in the method table).
 */
import { hostPort } from "./format.js"
import { bool, isRecord, num, records, str, strs } from "./read.js"

export interface StatusView {
  readonly version?: string | undefined
  readonly host?: string | undefined
  readonly platform?: string | undefined
  readonly runtimeVersion?: string | undefined
  readonly uptimeMs?: number | undefined
  readonly mode?: string | undefined
  readonly bind?: string | undefined
  readonly port?: number | undefined
  readonly listeners: ReadonlyArray<string>
  readonly authMode?: string | undefined
  readonly tls?: boolean | undefined
  readonly tlsFingerprint?: string | undefined
  readonly tailscale?: string | undefined
  readonly connections?: { readonly operators: number; readonly nodes: number; readonly pending?: number | undefined } | undefined
}

export const readStatus = (v: unknown): StatusView => {
  const s = isRecord(v) ? v : {}
  const g = isRecord(s.gateway) ? s.gateway : {}
  const c = isRecord(s.connections) ? s.connections : undefined
  const operators = num(c?.operators)
  const nodes = num(c?.nodes)
  return {
    version: str(s.version, 100),
    host: str(s.host, 200),
    platform: str(s.platform, 100),
    runtimeVersion: str(s.runtimeVersion, 100),
    uptimeMs: num(s.uptimeMs),
    mode: str(g.mode, 64),
    bind: str(g.bind, 200),
    port: num(g.port),
    listeners: records(g.listeners, 32).flatMap((l) => {
      const host = str(l.host, 200)
      const port = num(l.port)
      return host !== undefined && port !== undefined ? [hostPort(host, port)] : []
    }),
    authMode: str(g.authMode, 64),
    tls: bool(g.tls),
    tlsFingerprint: str(g.tlsFingerprint ?? g.tlsFingerprintSha256, 200),
    tailscale: str(g.tailscale ?? g.tailscaleMode, 64),
    connections: operators !== undefined && nodes !== undefined ? { operators, nodes, pending: num(c?.pending) } : undefined
  }
}

export interface ChannelHealth {
  readonly id: string
  readonly label: string
  readonly state?: string | undefined
  readonly error?: string | undefined
}

export interface HealthView {
  readonly ok?: boolean | undefined
  readonly ts?: number | undefined
  readonly channels: ReadonlyArray<ChannelHealth>
  readonly agents: ReadonlyArray<{ readonly agentId: string; readonly isDefault: boolean; readonly sessions?: number | undefined }>
  readonly sessionCount?: number | undefined
  readonly recent: ReadonlyArray<{ readonly key: string; readonly channel?: string | undefined; readonly updatedAt?: number | undefined }>
}

export const readHealth = (v: unknown): HealthView => {
  const h = isRecord(v) ? v : {}
  const channelsRec = isRecord(h.channels) ? h.channels : {}
  const labels = isRecord(h.channelLabels) ? h.channelLabels : {}
  const order = strs(h.channelOrder, 64, 100)
  const ids = [...new Set([...order, ...Object.keys(channelsRec).slice(0, 64)])]
  const channels = ids.map((id) => {
    const c = isRecord(channelsRec[id]) ? (channelsRec[id] as Record<string, unknown>) : {}
    const lastError = isRecord(c.lastError) ? str(c.lastError.message) : str(c.lastError)
    const state = str(c.state, 64) ?? (c.running === true ? "running" : c.configured === false ? "not configured" : undefined)
    return { id: id.slice(0, 100), label: str(c.label, 100) ?? str(labels[id], 100) ?? id.slice(0, 100), state, error: lastError }
  })
  const sessions = isRecord(h.sessions) ? h.sessions : {}
  return {
    ok: bool(h.ok),
    ts: num(h.ts),
    channels,
    agents: records(h.agents, 64).flatMap((a) => {
      const agentId = str(a.agentId, 100)
      return agentId === undefined
        ? []
        : [{ agentId, isDefault: a.isDefault === true, sessions: num(isRecord(a.sessions) ? a.sessions.count : undefined) }]
    }),
    sessionCount: num(sessions.count),
    recent: records(sessions.recent, 10).flatMap((r) => {
      const key = str(r.key, 300)
      return key === undefined ? [] : [{ key, channel: str(r.channel, 100), updatedAt: num(r.updatedAt) }]
    })
  }
}

export interface PresenceView {
  readonly key: string
  readonly client: string
  readonly mode?: string | undefined
  readonly ip?: string | undefined
  readonly roles: ReadonlyArray<string>
  readonly scopes: ReadonlyArray<string>
  readonly platform?: string | undefined
  readonly version?: string | undefined
  readonly deviceId?: string | undefined
  readonly since?: number | undefined
}

/** Presence entries (system-presence's answer, or a `presence` event's `{presence: [...]}`), the Gateway itself first. */
export const readPresence = (v: unknown): Array<PresenceView> => {
  const list = Array.isArray(v) ? v : isRecord(v) ? v.presence : undefined
  return records(list, 500)
    .map((p, i) => {
      const clientId = str(p.clientId, 100)
      const host = str(p.host, 200)
      const text = str(p.text, 300)
      const deviceId = str(p.deviceId, 200)
      const roles = strs(p.roles, 8, 32)
      return {
        key: `${str(p.instanceId, 200) ?? deviceId ?? host ?? ""}#${i}`,
        client: roles.includes("gateway") ? (text ?? host ?? "Gateway") : (clientId ?? text ?? host ?? "unknown client"),
        mode: str(p.mode, 64),
        ip: str(p.ip, 100),
        roles,
        scopes: strs(p.scopes, 16, 64),
        platform: str(p.platform, 100),
        version: str(p.version, 100),
        deviceId,
        since: num(p.ts)
      }
    })
    .sort((a, b) => Number(b.roles.includes("gateway")) - Number(a.roles.includes("gateway")))
}

/** Whether a tick is overdue: the Gateway sends one every `intervalMs`; a client hearing none for twice that reconnects. */
export const tickLate = (sinceMs: number, intervalMs: number | undefined): boolean =>
  intervalMs !== undefined && intervalMs > 0 && sinceMs > intervalMs * 1.5
