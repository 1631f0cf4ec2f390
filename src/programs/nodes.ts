/**
 * `clawgate nodes ...` and `clawgate devices ...`: written once against
 * GatewayClient, so they work against a local or a remote Gateway alike.
 */
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { GatewayClient } from "../services/GatewayClient.js"
import { UsageError } from "./errors.js"
import { formatDuration } from "./render.js"

export interface NodeEntry {
  readonly nodeId: string
  readonly displayName?: string
  readonly platform?: string
  readonly version?: string
  readonly commands: ReadonlyArray<string>
  readonly connected: boolean
  readonly paired: boolean
  readonly connectedAtMs?: number
  readonly lastSeenAtMs?: number
  readonly remoteIp?: string
}

interface Listed {
  readonly ts: number
  readonly nodes: ReadonlyArray<NodeEntry>
}

const call = (method: string, params?: unknown) => Effect.flatMap(GatewayClient, (c) => c.request(method, params))

export const nodesList = Effect.map(call("node.list"), (v) => v as Listed)

/**
 * A node named on the command line: its full id, a unique id prefix (6+
 * characters) or its display name (case-insensitive).
 */
export const resolveNode = (ref: string) =>
  Effect.gen(function* () {
    const { nodes } = yield* nodesList
    const exact = nodes.find((n) => n.nodeId === ref)
    if (exact) return exact
    const byName = nodes.filter((n) => n.displayName?.toLowerCase() === ref.toLowerCase())
    const byPrefix = ref.length >= 6 ? nodes.filter((n) => n.nodeId.startsWith(ref.toLowerCase())) : []
    const matches = [...new Map([...byName, ...byPrefix].map((n) => [n.nodeId, n])).values()]
    if (matches.length === 1) return matches[0]!
    const known = nodes.map((n) => `${n.displayName ?? "(unnamed)"} ${n.nodeId.slice(0, 12)}`).join(", ") || "none"
    return yield* new UsageError({
      message:
        matches.length === 0
          ? `no node matches "${ref}" (known nodes: ${known}); use a node id, an id prefix or a display name`
          : `"${ref}" matches ${matches.length} nodes (${matches.map((n) => n.nodeId.slice(0, 12)).join(", ")}); use a longer id`
    })
  })

export const nodesDescribe = (ref: string) =>
  Effect.gen(function* () {
    const node = yield* resolveNode(ref)
    return yield* call("node.describe", { nodeId: node.nodeId })
  })

export interface InvokeOptions {
  readonly params?: unknown
  readonly timeoutMs?: number | undefined
  readonly idempotencyKey?: string | undefined
}

export const nodesInvoke = (ref: string, command: string, options: InvokeOptions = {}) =>
  Effect.gen(function* () {
    const node = yield* resolveNode(ref)
    const client = yield* GatewayClient
    const invokeTimeout = options.timeoutMs
    return yield* client.request(
      "node.invoke",
      {
        nodeId: node.nodeId,
        command,
        ...(options.params === undefined ? {} : { params: options.params }),
        ...(invokeTimeout === undefined ? {} : { timeoutMs: invokeTimeout }),
        idempotencyKey: options.idempotencyKey ?? randomUUID()
      },
      // The request waits a little longer than the node is given.
      { timeoutMs: (invokeTimeout ?? 30_000) + 5_000 }
    )
  })

export const renderNodes = (listed: Listed): string => {
  if (listed.nodes.length === 0) return "No nodes. Start one with: clawgate node run --url <gateway> --token <token> --name <name>"
  const now = Date.now()
  return listed.nodes
    .map((n) => {
      const state = n.connected
        ? `connected${n.connectedAtMs ? ` ${formatDuration(now - n.connectedAtMs)}` : ""}`
        : `offline${n.lastSeenAtMs ? `, seen ${formatDuration(now - n.lastSeenAtMs)} ago` : ""}`
      return `${(n.displayName ?? "(unnamed)").padEnd(16)} ${n.nodeId.slice(0, 12)}  ${state.padEnd(24)} ${n.platform ?? "?"}  ${n.commands.join(", ") || "-"}`
    })
    .join("\n")
}

// --- devices -----------------------------------------------------------------

interface DeviceLists {
  readonly pending: ReadonlyArray<Record<string, any>>
  readonly paired: ReadonlyArray<Record<string, any>>
}

export const devicesList = Effect.map(call("device.pair.list"), (v) => v as DeviceLists)

/** A paired device named by its id or a unique prefix (6+ characters). */
const resolveDevice = (ref: string) =>
  Effect.gen(function* () {
    const { paired } = yield* devicesList
    const matches = paired.filter((d) => d.deviceId === ref || (ref.length >= 6 && String(d.deviceId).startsWith(ref.toLowerCase())))
    if (matches.length === 1) return String(matches[0]!.deviceId)
    return yield* new UsageError({
      message:
        matches.length === 0
          ? `no paired device matches "${ref}"; see clawgate devices list`
          : `"${ref}" matches ${matches.length} devices; use a longer id`
    })
  })

export const devicesApprove = (requestId: string) => call("device.pair.approve", { requestId })
export const devicesReject = (requestId: string) => call("device.pair.reject", { requestId })
export const devicesRemove = (ref: string) => Effect.flatMap(resolveDevice(ref), (deviceId) => call("device.pair.remove", { deviceId }))
export const devicesRotate = (ref: string, role: string) =>
  Effect.flatMap(resolveDevice(ref), (deviceId) => call("device.token.rotate", { deviceId, role }))
export const devicesRevoke = (ref: string, role: string) =>
  Effect.flatMap(resolveDevice(ref), (deviceId) => call("device.token.revoke", { deviceId, role }))

export const renderDevices = (l: DeviceLists): string => {
  const lines: Array<string> = []
  lines.push(`Pending (${l.pending.length})${l.pending.length ? ": approve with clawgate devices approve <requestId>" : ""}`)
  for (const r of l.pending) {
    lines.push(
      `  ${r.requestId}  ${String(r.displayName ?? r.clientId).padEnd(16)} ${String(r.deviceId).slice(0, 12)}  ${r.roles.join(",")}  ${r.reason}${r.remoteIp ? ` from ${r.remoteIp}` : ""}`
    )
  }
  lines.push(`Paired (${l.paired.length})`)
  for (const d of l.paired) {
    lines.push(
      `  ${String(d.deviceId).slice(0, 12)}  ${String(d.displayName ?? d.clientId).padEnd(16)} ${d.roles.join(",") || "(no role)"}  ${d.connected ? "connected" : "offline"}  via ${d.approvedVia}`
    )
  }
  return lines.join("\n")
}
