/** Device and node pairing, and device tokens (operator.pairing; touching an admin device needs operator.admin). */
import { Schema } from "effect"
import { method, requiresScope } from "../method.js"
import { Name, opt, Strings } from "./common.js"

const Description = {
  deviceId: Schema.String,
  publicKey: Schema.String,
  displayName: opt(Schema.String),
  platform: opt(Schema.String),
  deviceFamily: opt(Schema.String),
  clientId: Schema.String,
  clientMode: Schema.String
}

export const DeviceToken = Schema.Struct({
  role: Schema.String,
  scopes: Strings,
  createdAtMs: Schema.Number,
  rotatedAtMs: opt(Schema.Number),
  revokedAtMs: opt(Schema.Number)
})

export const PairedDevice = Schema.Struct({
  ...Description,
  role: Schema.String,
  roles: Strings,
  scopes: Strings,
  approvedVia: Schema.Literal("silent", "owner"),
  createdAtMs: Schema.Number,
  approvedAtMs: Schema.Number,
  lastSeenAtMs: opt(Schema.Number),
  lastSeenReason: opt(Schema.String),
  connected: Schema.Boolean,
  tokens: Schema.Array(DeviceToken)
})
export type PairedDevice = typeof PairedDevice.Type

export const PairingRequest = Schema.Struct({
  ...Description,
  requestId: Schema.String,
  role: Schema.String,
  roles: Strings,
  scopes: Strings,
  commands: opt(Strings),
  reason: Schema.Literal("not-paired", "role-upgrade", "scope-upgrade"),
  silent: Schema.Literal(false),
  isRepair: Schema.Boolean,
  remoteIp: opt(Schema.String),
  ts: Schema.Number
})
export type PairingRequest = typeof PairingRequest.Type

const pairing = requiresScope("operator.pairing")
const RequestId = Schema.Struct({ requestId: Name })
const DeviceId = Schema.Struct({ deviceId: Name })
const TokenParams = Schema.Struct({
  deviceId: Name,
  role: Schema.Literal("operator", "node"),
  scopes: opt(Schema.Array(Name).pipe(Schema.maxItems(16)))
})

export const DevicePairList = method("device.pair.list", {
  requires: pairing,
  result: Schema.Struct({ pending: Schema.Array(PairingRequest), paired: Schema.Array(PairedDevice) })
})
export const DevicePairApprove = method("device.pair.approve", {
  requires: pairing,
  params: RequestId,
  result: Schema.Struct({ requestId: Schema.String, device: PairedDevice })
})
export const DevicePairReject = method("device.pair.reject", {
  requires: pairing,
  params: RequestId,
  result: Schema.Struct({ requestId: Schema.String, deviceId: Schema.String })
})
export const DevicePairRemove = method("device.pair.remove", {
  requires: pairing,
  params: DeviceId,
  result: Schema.Struct({ deviceId: Schema.String })
})
export const DeviceTokenRotate = method("device.token.rotate", {
  requires: pairing,
  params: TokenParams,
  result: Schema.Struct({
    deviceId: Schema.String,
    role: Schema.String,
    scopes: Strings,
    rotatedAtMs: Schema.Number,
    tokenDelivery: Schema.Literal("in-band", "withheld-cross-device"),
    token: opt(Schema.String)
  })
})
export const DeviceTokenRevoke = method("device.token.revoke", {
  requires: pairing,
  params: TokenParams,
  result: Schema.Struct({ deviceId: Schema.String, role: Schema.String, revokedAtMs: Schema.Number })
})

/*
 * Node pairing (`node.pair.*`), in OpenClaw's shapes: the approval of a node's declared command surface,
 * separate from the device pairing that admits its connection. A pending request lists every command the
 * node declares and `requiredApproveScopes`, what its approver must hold (`nodePairApprovalScopes`).
 * clawgate's Gateway also lists a node's waiting device-pairing request here (same requestId as in
 * `device.pair.list`), so one `clawgate nodes approve` covers both steps.
 */
export const NodePairPending = Schema.Struct({
  requestId: Schema.String,
  nodeId: Schema.String,
  clientId: opt(Schema.String),
  clientMode: opt(Schema.String),
  displayName: opt(Schema.String),
  platform: opt(Schema.String),
  version: opt(Schema.String),
  deviceFamily: opt(Schema.String),
  caps: opt(Strings),
  commands: opt(Strings),
  requiredApproveScopes: opt(Strings),
  remoteIp: opt(Schema.String),
  silent: opt(Schema.Boolean),
  ts: Schema.Number
})
export type NodePairPending = typeof NodePairPending.Type

export const PairedNode = Schema.Struct({
  nodeId: Schema.String,
  clientId: opt(Schema.String),
  clientMode: opt(Schema.String),
  displayName: opt(Schema.String),
  platform: opt(Schema.String),
  version: opt(Schema.String),
  deviceFamily: opt(Schema.String),
  caps: opt(Strings),
  commands: opt(Strings),
  remoteIp: opt(Schema.String),
  createdAtMs: opt(Schema.Number),
  approvedAtMs: opt(Schema.Number),
  lastSeenAtMs: opt(Schema.Number),
  lastSeenReason: opt(Schema.String)
})
export type PairedNode = typeof PairedNode.Type

/** Commands whose approval needs `operator.admin` (OpenClaw's list: running programs, proxies, files). */
export const ADMIN_APPROVAL_COMMANDS: ReadonlyArray<string> = [
  "system.run",
  "system.run.prepare",
  "system.which",
  "system.execApprovals.get",
  "system.execApprovals.set",
  "browser.proxy",
  "browser.proxy.upload.v1",
  "fs.listDir",
  "terminal.upload"
]

/**
 * The scopes an approver of a node's command surface must hold, as OpenClaw decides them: `operator.pairing`,
 * plus `operator.admin` when a command runs programs or reaches files (`system.run`, ...), else plus
 * `operator.write` when there is any command at all.
 */
export const nodePairApprovalScopes = (commands: ReadonlyArray<string>): Array<"operator.pairing" | "operator.write" | "operator.admin"> =>
  commands.some((c) => ADMIN_APPROVAL_COMMANDS.includes(c))
    ? ["operator.pairing", "operator.admin"]
    : commands.length > 0
      ? ["operator.pairing", "operator.write"]
      : ["operator.pairing"]

export const NodePairList = method("node.pair.list", {
  requires: pairing,
  result: Schema.Struct({ pending: Schema.Array(NodePairPending), paired: Schema.Array(PairedNode) })
})
export const NodePairApprove = method("node.pair.approve", {
  requires: pairing,
  params: RequestId,
  result: Schema.Struct({ requestId: Schema.String, node: PairedNode })
})
export const NodePairReject = method("node.pair.reject", {
  requires: pairing,
  params: RequestId,
  result: Schema.Struct({ requestId: Schema.String, nodeId: Schema.String })
})
export const NodePairRemove = method("node.pair.remove", {
  requires: pairing,
  params: Schema.Struct({ nodeId: Name }),
  result: Schema.Struct({ nodeId: Schema.String })
})

/** A one-time dashboard code lives this long (as OpenClaw's bootstrap tokens do). */
export const BOOTSTRAP_CODE_TTL_MS = 600_000
/** A code's label (who asked for it, for the Gateway's log) is at most this long. */
export const MAX_BOOTSTRAP_LABEL = 128

/**
 * A one-time code for `auth.bootstrapToken` (`clawgate dashboard`): it pairs the first device that connects
 * with it, with `scopes` (default: the caller's), narrowed to what the caller holds, then stops working.
 * `basePath` is where this Gateway serves the Control UI (`gateway.controlUi.basePath`, default "/").
 */
export const DeviceBootstrapIssue = method("device.bootstrap.issue", {
  requires: pairing,
  params: Schema.Struct({
    scopes: opt(Schema.Array(Name).pipe(Schema.maxItems(16, { message: () => "must have at most 16 entries" }))),
    label: opt(
      Schema.String.pipe(Schema.maxLength(MAX_BOOTSTRAP_LABEL, { message: () => `must be at most ${MAX_BOOTSTRAP_LABEL} characters` }))
    )
  }),
  result: Schema.Struct({
    token: Schema.String,
    expiresAtMs: Schema.Number,
    scopes: opt(Strings),
    basePath: opt(Schema.String)
  })
})
