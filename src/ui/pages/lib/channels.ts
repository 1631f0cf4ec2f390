/** `channels.status` read for the Channels page (shape: ChannelState in src/protocol/methods/core.ts). */
import { bool, isRecord, num, records, str } from "./read.js"

export interface ChannelView {
  readonly id: string
  readonly label: string
  readonly configured: boolean
  readonly enabled: boolean
  readonly state: string
  readonly mode?: string | undefined
  readonly account?: string | undefined
  readonly accountId?: string | undefined
  readonly lastInboundAt?: number | undefined
  readonly lastOutboundAt?: number | undefined
  readonly lastError?: { readonly message: string; readonly at?: number | undefined } | undefined
  readonly probe?: { readonly ok: boolean; readonly ms?: number | undefined; readonly error?: string | undefined } | undefined
}

export const readChannels = (v: unknown): Array<ChannelView> => {
  const labels = isRecord(v) && isRecord(v.channelLabels) ? v.channelLabels : {}
  return records(isRecord(v) ? v.channels : undefined, 64).flatMap((c) => {
    const id = str(c.id, 100)
    if (id === undefined) return []
    const configured = bool(c.configured) ?? true
    const enabled = bool(c.enabled) ?? true
    const e = c.lastError
    const lastError = isRecord(e)
      ? str(e.message) !== undefined
        ? { message: str(e.message) ?? "", at: num(e.at) }
        : undefined
      : typeof e === "string"
        ? { message: str(e) ?? "", at: num(c.lastErrorAt) }
        : undefined
    const p = isRecord(c.probe) ? c.probe : undefined
    return [
      {
        id,
        label: str(c.label, 100) ?? str(labels[id], 100) ?? id,
        configured,
        enabled,
        state: str(c.state, 64) ?? (!configured ? "not configured" : !enabled ? "disabled" : "unknown"),
        mode: str(c.mode, 64),
        account: str(c.account, 200),
        accountId: str(c.accountId, 200),
        lastInboundAt: num(c.lastInboundAt),
        lastOutboundAt: num(c.lastOutboundAt),
        lastError,
        probe: p !== undefined ? { ok: p.ok === true, ms: num(p.ms), error: str(p.error) } : undefined
      }
    ]
  })
}

/** A state's tone for its badge: good, bad, or neither. */
export const stateTone = (state: string): "ok" | "bad" | "muted" =>
  /^(running|connected|ok|ready|polling|listening)$/i.test(state) ? "ok" : /error|fail|crash/i.test(state) ? "bad" : "muted"
