/**
 * `clawgate nodes ...` and `clawgate devices ...`: written once against
 * GatewayClient, so they work against a local or a remote Gateway alike.
 */
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { Nodes, Pairing, type ResultOf } from "../protocol/methods.js"
import { GatewayClient } from "../services/GatewayClient.js"
import { UsageError } from "./errors.js"
import { formatDuration } from "./render.js"

export type NodeEntry = Nodes.NodeEntry
type Listed = ResultOf<typeof Nodes.NodeList>

export const nodesList = Effect.flatMap(GatewayClient, (c) => c.call(Nodes.NodeList))

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
    const [only] = matches
    if (only !== undefined && matches.length === 1) return only
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
    return yield* Effect.flatMap(GatewayClient, (c) => c.call(Nodes.NodeDescribe, { nodeId: node.nodeId }))
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
    return yield* client.call(
      Nodes.NodeInvoke,
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

// --- node pairing: command surfaces (node.pair.*) ---------------------------------

type NodePairLists = ResultOf<typeof Pairing.NodePairList>
type PendingNode = NodePairLists["pending"][number]

export const nodesPairList = Effect.flatMap(GatewayClient, (c) => c.call(Pairing.NodePairList))
export const nodesPending = Effect.map(nodesPairList, (l) => l.pending)

/** A waiting request by its id, or a usage error that lists the ones there are. */
export const nodesPendingRequest = (requestId: string) =>
  Effect.gen(function* () {
    const pending = yield* nodesPending
    const found = pending.find((r) => r.requestId === requestId)
    if (found) return found
    return yield* new UsageError({
      message: `no pending node request "${requestId}" (${
        pending.length ? `pending: ${pending.map((r) => r.requestId).join(", ")}` : "none are pending"
      }); see clawgate nodes pending`
    })
  })

const APPROVE_SCOPES: ReadonlyArray<string> = ["operator.pairing", "operator.write", "operator.admin"]

/**
 * The scopes `node.pair.approve` of this request needs, as OpenClaw's CLI decides them: the Gateway's
 * `requiredApproveScopes` when it says, else from the commands (`operator.admin` for `system.run`).
 */
export const approveScopesFor = (r: PendingNode): Array<"operator.pairing" | "operator.write" | "operator.admin"> => {
  const declared = (r.requiredApproveScopes ?? []).filter((s) => APPROVE_SCOPES.includes(s)) as Array<
    "operator.pairing" | "operator.write" | "operator.admin"
  >
  const scopes = new Set(["operator.pairing" as const, ...declared])
  return scopes.size > 1 ? [...scopes] : Pairing.nodePairApprovalScopes(r.commands ?? [])
}

export const nodesApprove = (requestId: string) => Effect.flatMap(GatewayClient, (c) => c.call(Pairing.NodePairApprove, { requestId }))
export const nodesReject = (requestId: string) => Effect.flatMap(GatewayClient, (c) => c.call(Pairing.NodePairReject, { requestId }))

export const renderNodesPending = (pending: ReadonlyArray<PendingNode>): string => {
  if (pending.length === 0) return "No pending node requests."
  const now = Date.now()
  const lines = [`Pending (${pending.length}): approve with clawgate nodes approve <requestId>`]
  for (const r of pending) {
    const admin = r.requiredApproveScopes?.includes("operator.admin") ? "  [needs operator.admin]" : ""
    lines.push(
      `  ${r.requestId}  ${(r.displayName ?? r.clientId ?? "(unnamed)").padEnd(16)} ${r.nodeId.slice(0, 12)}  ${
        r.commands?.join(", ") || "(no commands)"
      }  ${formatDuration(Math.max(0, now - r.ts))} ago${r.remoteIp ? ` from ${r.remoteIp}` : ""}${admin}`
    )
  }
  return lines.join("\n")
}

export const renderNodeApproved = (r: ResultOf<typeof Pairing.NodePairApprove>): string =>
  `approved ${r.requestId}: node ${r.node.displayName ?? ""} ${r.node.nodeId.slice(0, 12)} may now be asked to run ${
    r.node.commands?.join(", ") || "(no commands)"
  }`.replace(/ {2,}/g, " ")

// --- devices -----------------------------------------------------------------

type DeviceLists = ResultOf<typeof Pairing.DevicePairList>

export const devicesList = Effect.flatMap(GatewayClient, (c) => c.call(Pairing.DevicePairList))

/** A paired device named by its id or a unique prefix (6+ characters). */
const resolveDevice = (ref: string) =>
  Effect.gen(function* () {
    const { paired } = yield* devicesList
    const matches = paired.filter((d) => d.deviceId === ref || (ref.length >= 6 && d.deviceId.startsWith(ref.toLowerCase())))
    const [only] = matches
    if (only !== undefined && matches.length === 1) return only.deviceId
    return yield* new UsageError({
      message:
        matches.length === 0
          ? `no paired device matches "${ref}"; see clawgate devices list`
          : `"${ref}" matches ${matches.length} devices; use a longer id`
    })
  })

type TokenRole = "operator" | "node"
export const devicesApprove = (requestId: string) => Effect.flatMap(GatewayClient, (c) => c.call(Pairing.DevicePairApprove, { requestId }))
export const devicesReject = (requestId: string) => Effect.flatMap(GatewayClient, (c) => c.call(Pairing.DevicePairReject, { requestId }))
export const devicesRemove = (ref: string) =>
  Effect.flatMap(Effect.zip(resolveDevice(ref), GatewayClient), ([deviceId, c]) => c.call(Pairing.DevicePairRemove, { deviceId }))
export const devicesRotate = (ref: string, role: TokenRole) =>
  Effect.flatMap(Effect.zip(resolveDevice(ref), GatewayClient), ([deviceId, c]) => c.call(Pairing.DeviceTokenRotate, { deviceId, role }))
export const devicesRevoke = (ref: string, role: TokenRole) =>
  Effect.flatMap(Effect.zip(resolveDevice(ref), GatewayClient), ([deviceId, c]) => c.call(Pairing.DeviceTokenRevoke, { deviceId, role }))

export const renderDevices = (l: DeviceLists): string => {
  const lines: Array<string> = []
  lines.push(`Pending (${l.pending.length})${l.pending.length ? ": approve with clawgate devices approve <requestId>" : ""}`)
  for (const r of l.pending) {
    lines.push(
      `  ${r.requestId}  ${(r.displayName ?? r.clientId).padEnd(16)} ${r.deviceId.slice(0, 12)}  ${r.roles.join(",")}  ${r.reason}${r.remoteIp ? ` from ${r.remoteIp}` : ""}`
    )
  }
  lines.push(`Paired (${l.paired.length})`)
  for (const d of l.paired) {
    lines.push(
      `  ${d.deviceId.slice(0, 12)}  ${(d.displayName ?? d.clientId).padEnd(16)} ${d.roles.join(",") || "(no role)"}  ${d.connected ? "connected" : "offline"}  via ${d.approvedVia}`
    )
  }
  return lines.join("\n")
}
