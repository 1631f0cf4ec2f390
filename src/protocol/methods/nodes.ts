/** The node methods: listing and describing nodes, invoking their commands, and what nodes send back. */
import { Schema } from "effect"
import { method, requiresRole, requiresScope } from "../method.js"
import { Int, Name, NonEmpty, opt, Strings } from "./common.js"
import { Published } from "./nodeInventory.js"

export const NodeEntry = Schema.Struct({
  nodeId: Schema.String,
  displayName: opt(Schema.String),
  platform: opt(Schema.String),
  version: opt(Schema.String),
  clientId: opt(Schema.String),
  clientMode: opt(Schema.String),
  deviceFamily: opt(Schema.String),
  caps: opt(Strings),
  commands: Strings,
  approvalState: opt(Schema.String),
  paired: Schema.Boolean,
  connected: Schema.Boolean,
  connectedAtMs: opt(Schema.Number),
  remoteIp: opt(Schema.String),
  approvedAtMs: opt(Schema.Number),
  lastSeenAtMs: opt(Schema.Number),
  lastSeenReason: opt(Schema.String),
  /** What the node published on its current connection (node.skills/pluginTools/runnerInventory.update); node.describe only. */
  published: opt(Published)
})
export type NodeEntry = typeof NodeEntry.Type

export const NodeList = method("node.list", {
  requires: requiresScope("operator.read"),
  result: Schema.Struct({ ts: Schema.Number, nodes: Schema.Array(NodeEntry) })
})

export const NodeDescribe = method("node.describe", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({ nodeId: Name }),
  result: Schema.extend(Schema.Struct({ ts: Schema.Number }), NodeEntry)
})

export const MAX_INVOKE_TIMEOUT_MS = 10 * 60_000
export const InvokeParams = Schema.Struct({
  nodeId: Name,
  command: Name,
  params: opt(Schema.Unknown),
  timeoutMs: opt(Int.pipe(Schema.between(1, MAX_INVOKE_TIMEOUT_MS))),
  idempotencyKey: Name
})

export const NodeInvoke = method("node.invoke", {
  requires: requiresScope("operator.write"),
  params: InvokeParams,
  result: Schema.Struct({
    ok: Schema.Literal(true),
    nodeId: Schema.String,
    command: Schema.String,
    payload: Schema.Unknown,
    payloadJSON: Schema.NullOr(Schema.String)
  })
})

export const InvokeResultParams = Schema.Struct({
  id: NonEmpty,
  nodeId: NonEmpty,
  ok: Schema.Boolean,
  payload: opt(Schema.Unknown),
  payloadJSON: opt(Schema.NullOr(Schema.String)),
  error: opt(Schema.Struct({ code: opt(Schema.String), message: opt(Schema.String) }))
})

export const NodeInvokeResult = method("node.invoke.result", {
  requires: requiresRole("node"),
  params: InvokeResultParams,
  result: Schema.Struct({ ok: Schema.Literal(true), ignored: opt(Schema.Literal(true)) })
})

export const NodeEvent = method("node.event", {
  requires: requiresRole("node"),
  params: Schema.Struct({ event: NonEmpty, payload: opt(Schema.Unknown), payloadJSON: opt(Schema.String) }),
  result: Schema.Struct({ ok: Schema.Boolean, event: Schema.String, handled: Schema.Boolean, reason: Schema.String })
})
