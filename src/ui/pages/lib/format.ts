/** Times, durations and sizes as the pages show them. Pure: "now" is always passed in. */

/** `ms` as the largest one or two units: "42s", "5m 3s", "2h 5m", "3d 4h". */
export const duration = (ms: number): string => {
  if (!Number.isFinite(ms) || ms < 0) return "–"
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return s % 60 === 0 ? `${m}m` : `${m}m ${s % 60}s`
  const h = Math.floor(m / 60)
  if (h < 24) return m % 60 === 0 ? `${h}h` : `${h}h ${m % 60}m`
  const d = Math.floor(h / 24)
  return h % 24 === 0 ? `${d}d` : `${d}d ${h % 24}h`
}

/** When `at` was (or will be), seen from `now`: "just now", "12s ago", "5m ago", "2h ago", "3d ago", "in 20s". */
export const relativeTime = (at: number, now: number): string => {
  if (!Number.isFinite(at) || !Number.isFinite(now)) return "–"
  const diff = now - at
  const future = diff < 0
  const s = Math.floor(Math.abs(diff) / 1000)
  if (s < 1) return "just now"
  const unit =
    s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86_400 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86_400)}d`
  return future ? `in ${unit}` : `${unit} ago`
}

/** An absolute time for a tooltip or a `<time dateTime>`: ISO 8601, or undefined for a value that is not a time. */
export const isoTime = (ms: number | undefined): string | undefined => {
  if (ms === undefined || !Number.isFinite(ms)) return undefined
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString()
}

/** A byte count: "512 B", "1.5 KB", "3.2 MB". */
export const bytes = (n: number): string => {
  if (!Number.isFinite(n) || n < 0) return "–"
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GB`
}

/** The start of a long id (device ids are 64 hex characters): enough to recognise, as the CLI accepts 6+. */
export const shortId = (id: string, n = 12): string => (id.length > n ? `${id.slice(0, n)}…` : id)

/** A listener as an address: IPv6 hosts in brackets. */
export const hostPort = (host: string, port: number): string => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`)
