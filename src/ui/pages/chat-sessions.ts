/**
 * The chat's session list: `sessions.list`'s rows, checked and bounded,
 * with chats started on this page that have no message yet, most recent
 * first, filtered by key or label.
 *
 * Session keys: clawgate names the operator's main chat `agent:main:main`
 * (SESSION_DEFAULTS, sent in hello-ok's snapshot.sessionDefaults) and a
 * channel's chats `agent:<agent>:<channel>:<peer>`; OpenClaw's Control UI
 * starts a new chat as `agent:<agent>:dashboard:<uuid>`, and so does this
 * page, so both UIs list each other's chats the same way.
 */

export interface SessionItem {
  readonly key: string
  readonly label?: string | undefined
  readonly channel?: string | undefined
  readonly updatedAt: number
  readonly messageCount: number
  readonly lastText?: string | undefined
  /** Started on this page; the Gateway has no message of it yet. */
  readonly draft?: boolean
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)
const str = (v: unknown, max: number): string | undefined => (typeof v === "string" && v !== "" ? v.slice(0, max) : undefined)

export const MAX_SESSIONS = 500

/** `sessions.list`'s answer as items (rows without a key are dropped). */
export const readSessions = (payload: unknown): ReadonlyArray<SessionItem> => {
  const p = isRecord(payload) ? payload : {}
  const rows = Array.isArray(p.sessions) ? p.sessions : []
  const out: Array<SessionItem> = []
  for (const r of rows.slice(0, MAX_SESSIONS)) {
    if (!isRecord(r)) continue
    const key = str(r.key, 512)
    if (!key) continue
    out.push({
      key,
      label: str(r.label, 200),
      channel: str(r.channel, 64) ?? channelOfKey(key),
      updatedAt: typeof r.updatedAt === "number" && Number.isFinite(r.updatedAt) ? r.updatedAt : 0,
      messageCount: typeof r.messageCount === "number" && Number.isFinite(r.messageCount) ? r.messageCount : 0,
      lastText: str(r.lastText, 200)
    })
  }
  return out
}

/** The channel a key names (`agent:main:telegram:42` → telegram), when the row does not say. */
export const channelOfKey = (key: string): string | undefined => {
  const parts = key.split(":")
  if (parts[0] !== "agent" || parts.length < 4) return undefined
  return parts[2] === "dashboard" ? "webchat" : parts[2]
}

/** A new chat's key, in OpenClaw's Control UI's form. */
export const newSessionKey = (agentId: string, id: string): string => `agent:${agentId || "main"}:dashboard:${id}`

/** What the list shows for a session. */
export const sessionTitle = (s: Pick<SessionItem, "key" | "label" | "draft">, mainKey?: string): string => {
  if (s.label) return s.label
  if (mainKey !== undefined && s.key === mainKey) return "Main chat"
  if (s.draft) return "New chat"
  const parts = s.key.split(":")
  if (parts[0] === "agent" && parts.length >= 4 && parts[2] === "dashboard") return `Chat ${parts.slice(3).join(":").slice(0, 8)}`
  return s.key
}

/**
 * Server rows plus this page's drafts (a draft the server now lists is no
 * longer one), the open session always there, most recent first, then
 * filtered by `query` (case-insensitive, on key and label).
 */
export const visibleSessions = (
  rows: ReadonlyArray<SessionItem>,
  drafts: ReadonlyArray<SessionItem>,
  openKey: string,
  query: string
): ReadonlyArray<SessionItem> => {
  const byKey = new Map<string, SessionItem>()
  for (const d of drafts) byKey.set(d.key, d)
  for (const r of rows) byKey.set(r.key, r)
  if (!byKey.has(openKey)) byKey.set(openKey, { key: openKey, updatedAt: Number.MAX_SAFE_INTEGER, messageCount: 0, draft: true })
  const q = query.trim().toLowerCase()
  return [...byKey.values()]
    .filter((s) => q === "" || s.key.toLowerCase().includes(q) || (s.label ?? "").toLowerCase().includes(q))
    .sort((a, b) => b.updatedAt - a.updatedAt || a.key.localeCompare(b.key))
}
