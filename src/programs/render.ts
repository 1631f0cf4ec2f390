/** Human-readable output for the programs; `--json` prints their results as they are. */
import type { AuditReport } from "./audit.js"
import type { GatewayStatusReport, HealthReport, StatusReport } from "./probe.js"

type Json = { readonly [key: string]: unknown }
const isJson = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v)
/** What the Gateway sent, read as an object: anything else reads as `{}`. */
const obj = (v: unknown): Json => (isJson(v) ? v : {})
/** A list the Gateway sent, each entry read as an object (a `null` in it must not crash the CLI). */
const objs = (v: unknown): Array<Json> => (Array.isArray(v) ? v.map(obj) : [])
/** The strings of a list the Gateway sent. */
const strings = (v: unknown): Array<string> => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [])

export const formatDuration = (ms: number): string => {
  if (!Number.isFinite(ms) || ms < 0) return "?"
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h ${m % 60}m`
  return `${Math.floor(h / 24)}d ${h % 24}h`
}

const where = (t: { url: string; urlSource: string }) => `${t.url} (${t.urlSource})`

/** A snapshot older than this says how old it is. */
const STALE_AFTER_MS = 5_000

const channelLine = (c: Json) => {
  const probe = obj(c.probe)
  const asked =
    typeof probe.ok === "boolean" ? (probe.ok ? ` · answered in ${probe.ms} ms` : ` · not answering: ${probe.error ?? "?"}`) : ""
  const error = obj(c.lastError)
  return `${c.label ?? c.id}: ${c.state ?? "?"}${c.account ? ` (${c.account})` : ""}${asked}${!asked && error.message ? ` · last error: ${error.message}` : ""}`
}

const sessionLine = (s: Json) =>
  `${s.key}${s.channel ? ` [${s.channel}]` : ""} · ${typeof s.age === "number" ? `${formatDuration(s.age)} ago` : "?"}`

export const renderHealth = (r: HealthReport): string => {
  const h = obj(r.health)
  const gw = obj(h.gateway)
  const conns = obj(gw.connections)
  const sessions = obj(h.sessions)
  const channels = Array.isArray(h.channelOrder) ? strings(h.channelOrder) : Object.keys(obj(h.channels))
  const agents = objs(h.agents)
  const age = typeof h.ts === "number" ? r.receivedAt - h.ts : 0
  const when = r.probed
    ? "taken now"
    : age > STALE_AFTER_MS
      ? `snapshot from ${formatDuration(age)} ago; --verbose takes a fresh one`
      : undefined
  const lines = [`Gateway ${where(r.target)}: ${h.ok === false ? "UNHEALTHY" : "healthy"} (${r.latencyMs} ms${when ? `, ${when}` : ""})`]
  const facts: Array<string> = []
  if (gw.version) facts.push(`version ${gw.version}`)
  if (typeof gw.uptimeMs === "number") facts.push(`uptime ${formatDuration(gw.uptimeMs)}`)
  if (typeof conns.operators === "number") facts.push(`operators ${conns.operators}`)
  if (typeof conns.nodes === "number") facts.push(`nodes ${conns.nodes}`)
  if (typeof gw.presence === "number") facts.push(`presence ${gw.presence}`)
  if (typeof sessions.count === "number") facts.push(`sessions ${sessions.count}`)
  if (facts.length) lines.push(`  ${facts.join(" · ")}`)
  if (!r.probed) {
    lines.push(`  channels: ${channels.length ? channels.join(", ") : "none configured"}`)
    if (agents.length) lines.push(`  agents: ${agents.map((a) => String(a.agentId ?? "?")).join(", ")}`)
    return lines.join("\n")
  }
  lines.push(channels.length ? "  channels:" : "  channels: none configured")
  for (const id of channels) lines.push(`    ${channelLine(obj(obj(h.channels)[id]))}`)
  for (const a of agents) {
    const s = obj(a.sessions)
    const recent = objs(s.recent)
    lines.push(
      `  agent ${a.agentId}${a.isDefault ? " (default)" : ""}: ${s.count ?? 0} session${s.count === 1 ? "" : "s"}${recent.length ? ", most recent:" : ""}`
    )
    for (const x of recent) lines.push(`    ${sessionLine(x)}`)
  }
  return lines.join("\n")
}

export const renderGatewayStatus = (r: GatewayStatusReport): string => {
  const lines = [`Profile:   ${r.profile.name} (state dir ${r.profile.stateDir})`, `Target:    ${where(r.target)}`]
  if (!r.reachable || !r.server) {
    lines.push(`Reachable: no — ${r.error ?? "unknown error"}`)
    return lines.join("\n")
  }
  const s = r.server
  lines.push(`Reachable: yes (handshake ${s.connectMs} ms) · server ${s.version} · protocol ${s.protocol} · auth ${s.authMethod ?? "?"}`)
  const st = obj(r.status)
  const gw = obj(st.gateway)
  const conns = obj(st.connections)
  const listeners = Array.isArray(gw.listeners)
    ? objs(gw.listeners)
        .map((l) => `${String(l.host).includes(":") ? `[${l.host}]` : l.host}:${l.port}`)
        .join(", ")
    : undefined
  const facts: Array<string> = []
  if (typeof gw.profile === "string" && gw.profile !== (r.profile.name === "default" ? "" : r.profile.name))
    facts.push(`profile ${gw.profile}`)
  if (gw.bind) facts.push(`bind ${gw.bind}`)
  if (listeners) facts.push(`listening ${listeners}`)
  if (typeof gw.tailscale === "string" && gw.tailscale !== "off") facts.push(`tailscale ${gw.tailscale}`)
  if (typeof st.uptimeMs === "number") facts.push(`uptime ${formatDuration(st.uptimeMs)}`)
  if (typeof conns.operators === "number") facts.push(`operators ${conns.operators}, nodes ${conns.nodes ?? 0}`)
  if (facts.length) lines.push(`Gateway:   ${facts.join(" · ")}`)
  return lines.join("\n")
}

export const renderStatus = (r: StatusReport): string => {
  const lines = [`Config:    ${r.config.path} (mode ${r.config.mode})`, renderGatewayStatus(r)]
  const v = obj(obj(r.status).vitals)
  if (Object.keys(v).length > 0) {
    const mem = obj(v.memory)
    const eld = obj(v.eventLoopDelayMs)
    const conns = obj(v.connections)
    const agent = obj(v.agent)
    const mb = (b: unknown) => (typeof b === "number" ? `${(b / 1048576).toFixed(1)} MB` : "?")
    lines.push(
      `Vitals:    RSS ${mb(mem.rssBytes)} · heap ${mb(mem.heapUsedBytes)} of ${mb(mem.heapTotalBytes)} · event loop delay p50 ${eld.p50 ?? "?"} ms / p99 ${eld.p99 ?? "?"} ms (last ${formatDuration(Number(eld.windowMs))})`,
      `           connections: ${conns.operators ?? 0} operators, ${conns.nodes ?? 0} nodes, ${conns.pending ?? 0} connecting · ` +
        `${v.requestsInFlight ?? 0} requests in flight · ${agent.runs ?? 0} agent runs`
    )
  }
  if (r.health !== undefined) {
    const h = obj(r.health)
    const channels = strings(h.channelOrder)
    const states = channels.map((id) => channelLine(obj(obj(h.channels)[id])))
    lines.push(
      `Health:    ${h.ok === false ? "UNHEALTHY" : "ok"} (${r.latencyMs} ms, taken now) · sessions ${obj(h.sessions).count ?? "?"} · channels: ${states.length ? states.join("; ") : "none"}`
    )
  }
  if (Array.isArray(r.presence)) {
    lines.push(`Presence:  ${r.presence.length} entr${r.presence.length === 1 ? "y" : "ies"}`)
    for (const p of objs(r.presence)) {
      lines.push(
        `  - ${p.text ?? p.host ?? p.key ?? "?"}${p.ip ? ` from ${p.ip}` : ""}${Array.isArray(p.roles) ? ` [${strings(p.roles).join(",")}]` : ""}`
      )
    }
  }
  return lines.join("\n")
}

export const renderValue = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v, null, 2))

const SEVERITY_LABEL = { critical: "CRITICAL", warn: "WARN", info: "INFO" } as const

export const renderAudit = (r: AuditReport): string => {
  const blocks = r.findings.map((f) =>
    [`${SEVERITY_LABEL[f.severity]}  ${f.title}  [${f.id}]`, `  ${f.detail}`, ...(f.fix ? [`  fix: ${f.fix}`] : [])].join("\n")
  )
  const live = r.live ? `live checks against ${r.gateway.url}` : "live checks skipped (no Gateway answered)"
  const summary = `${r.summary.critical} critical · ${r.summary.warn} warn · ${r.summary.info} info — config ${r.configPath}, ${live}`
  return [...blocks, `Summary: ${summary}`].join("\n\n")
}
