/**
 * `device.pair.list` read for the Devices page (shapes: src/protocol/methods/devices.ts),
 * and the live updates from `device.pair.requested` / `device.pair.resolved`.
 */
import { bool, isRecord, num, records, str, strs } from "./read.js"

export interface DeviceBase {
  readonly deviceId: string
  readonly displayName?: string | undefined
  readonly platform?: string | undefined
  readonly deviceFamily?: string | undefined
  readonly clientId?: string | undefined
  readonly clientMode?: string | undefined
  readonly role?: string | undefined
  readonly roles: ReadonlyArray<string>
  readonly scopes: ReadonlyArray<string>
}

export interface PendingView extends DeviceBase {
  readonly requestId: string
  readonly reason?: string | undefined
  readonly isRepair: boolean
  readonly remoteIp?: string | undefined
  readonly commands: ReadonlyArray<string>
  readonly ts?: number | undefined
}

export interface TokenView {
  readonly role: string
  readonly scopes: ReadonlyArray<string>
  readonly createdAtMs?: number | undefined
  readonly rotatedAtMs?: number | undefined
  readonly revokedAtMs?: number | undefined
}

export interface PairedView extends DeviceBase {
  readonly approvedVia?: string | undefined
  readonly createdAtMs?: number | undefined
  readonly approvedAtMs?: number | undefined
  readonly lastSeenAtMs?: number | undefined
  readonly lastSeenReason?: string | undefined
  readonly connected: boolean
  readonly tokens: ReadonlyArray<TokenView>
}

export interface DeviceLists {
  readonly pending: ReadonlyArray<PendingView>
  readonly paired: ReadonlyArray<PairedView>
}

const base = (r: Record<string, unknown>): DeviceBase | undefined => {
  const deviceId = str(r.deviceId ?? r.nodeId, 200)
  if (deviceId === undefined) return undefined
  const role = str(r.role, 64)
  const roles = strs(r.roles, 16, 64)
  return {
    deviceId,
    displayName: str(r.displayName, 200),
    platform: str(r.platform, 100),
    deviceFamily: str(r.deviceFamily, 100),
    clientId: str(r.clientId, 100),
    clientMode: str(r.clientMode, 64),
    role,
    roles: roles.length > 0 ? roles : role !== undefined ? [role] : [],
    scopes: strs(r.scopes, 32, 64)
  }
}

export const readPending = (v: unknown): PendingView | undefined => {
  if (!isRecord(v)) return undefined
  const b = base(v)
  const requestId = str(v.requestId, 200)
  if (b === undefined || requestId === undefined) return undefined
  return {
    ...b,
    requestId,
    reason: str(v.reason, 64),
    isRepair: v.isRepair === true,
    remoteIp: str(v.remoteIp, 100),
    commands: strs(v.commands, 256, 200),
    ts: num(v.ts)
  }
}

export const readPaired = (v: unknown): PairedView | undefined => {
  if (!isRecord(v)) return undefined
  const b = base(v)
  if (b === undefined) return undefined
  return {
    ...b,
    approvedVia: str(v.approvedVia, 32),
    createdAtMs: num(v.createdAtMs),
    approvedAtMs: num(v.approvedAtMs),
    lastSeenAtMs: num(v.lastSeenAtMs),
    lastSeenReason: str(v.lastSeenReason, 200),
    connected: bool(v.connected) ?? false,
    tokens: records(v.tokens, 16).flatMap((t) => {
      const role = str(t.role, 64)
      return role === undefined
        ? []
        : [
            {
              role,
              scopes: strs(t.scopes, 32, 64),
              createdAtMs: num(t.createdAtMs),
              rotatedAtMs: num(t.rotatedAtMs),
              revokedAtMs: num(t.revokedAtMs)
            }
          ]
    })
  }
}

export const readDeviceLists = (v: unknown): DeviceLists => ({
  pending: records(isRecord(v) ? v.pending : undefined).flatMap((r) => readPending(r) ?? []),
  paired: records(isRecord(v) ? v.paired : undefined).flatMap((r) => readPaired(r) ?? [])
})

/** The lists after a `device.pair.requested` event: the request added (or replaced, by id), newest last. */
export const withRequested = (lists: DeviceLists, payload: unknown): DeviceLists => {
  const request = readPending(payload)
  if (request === undefined) return lists
  return { ...lists, pending: [...lists.pending.filter((p) => p.requestId !== request.requestId), request] }
}

/** The lists after a `device.pair.resolved` event: the request gone (the paired list is reloaded by the page). */
export const withResolved = (lists: DeviceLists, payload: unknown): DeviceLists => {
  const requestId = str(field(payload, "requestId"), 200)
  return requestId === undefined ? lists : { ...lists, pending: lists.pending.filter((p) => p.requestId !== requestId) }
}

const field = (v: unknown, k: string): unknown => (isRecord(v) ? v[k] : undefined)

/** The roles whose token can be rotated or revoked: those with an unrevoked token, else the paired roles. */
export const tokenRoles = (d: PairedView): Array<string> => {
  const live = d.tokens.filter((t) => t.revokedAtMs === undefined).map((t) => t.role)
  const roles = live.length > 0 ? live : [...d.roles]
  return [...new Set(roles)].filter((r) => r === "operator" || r === "node")
}

/** How the page names a device: its display name, else its client id, else the start of its id. */
export const deviceName = (d: DeviceBase): string => d.displayName ?? d.clientId ?? d.deviceId.slice(0, 12)

/** A node's command surface waiting for approval (`node.pair.list`'s pending, OpenClaw's shape). */
export interface NodeRequestView {
  readonly requestId: string
  readonly nodeId: string
  readonly displayName?: string | undefined
  readonly platform?: string | undefined
  readonly remoteIp?: string | undefined
  readonly commands: ReadonlyArray<string>
  readonly requiredApproveScopes: ReadonlyArray<string>
  readonly ts?: number | undefined
}

export const readNodeRequest = (v: unknown): NodeRequestView | undefined => {
  if (!isRecord(v)) return undefined
  const requestId = str(v.requestId, 200)
  const nodeId = str(v.nodeId, 200)
  if (requestId === undefined || nodeId === undefined) return undefined
  return {
    requestId,
    nodeId,
    displayName: str(v.displayName, 200),
    platform: str(v.platform, 100),
    remoteIp: str(v.remoteIp, 100),
    commands: strs(v.commands, 256, 200),
    requiredApproveScopes: strs(v.requiredApproveScopes, 8, 64),
    ts: num(v.ts)
  }
}

/**
 * The node requests of `node.pair.list` that are not device-pairing requests already shown above
 * (clawgate lists a node's waiting device pairing in both, under the same requestId).
 */
export const readNodeRequests = (v: unknown, devicePending: ReadonlyArray<PendingView>): Array<NodeRequestView> => {
  const shown = new Set(devicePending.map((p) => p.requestId))
  return records(isRecord(v) ? v.pending : undefined, 256)
    .flatMap((r) => readNodeRequest(r) ?? [])
    .filter((r) => !shown.has(r.requestId))
}
