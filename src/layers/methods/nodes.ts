/**
 * node.* and device.* methods: the node registry and pairing. `node.invoke`
 * and `node.invoke.result` also come as plain callbacks, which the transport
 * runs without a fiber (their params decoded by invokeDecoder.ts).
 */
import { Effect, Either, Exit } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { Nodes, Pairing, scopeSatisfies } from "../../protocol/methods.js"
import { Devices } from "../../services/Devices.js"
import { serve, type CallContext } from "../../services/Dispatcher.js"
import { NodeRegistry, type InvokeRequest, type NodeResultParams } from "../../services/NodeRegistry.js"
import { decodeNodeInvoke, decodeNodeInvokeResult } from "./invokeDecoder.js"

type InvokeParams = typeof Nodes.InvokeParams.Type

export const nodeMethods = Effect.gen(function* () {
  const nodes = yield* NodeRegistry
  const devices = yield* Devices

  const request = (p: InvokeParams, ctx: CallContext): InvokeRequest => ({
    nodeId: p.nodeId,
    command: p.command,
    params: p.params,
    timeoutMs: p.timeoutMs,
    idempotencyKey: p.idempotencyKey,
    // Approval fields in the params reach the node only from a caller that may approve (see NodeRegistry).
    mayApprove: ctx.role === "operator" && scopeSatisfies(ctx.scopes, "operator.approvals")
  })
  const withDevice = <A>(ctx: CallContext, f: (deviceId: string) => Exit.Exit<A, GatewayError>): Exit.Exit<A, GatewayError> =>
    ctx.deviceId ? f(ctx.deviceId) : Exit.fail(GatewayError.invalidRequest("this connection has no device identity"))
  const result = (p: NodeResultParams, ctx: CallContext) => withDevice(ctx, (deviceId) => nodes.unsafeResult(deviceId, ctx.connId, p))

  const approver = (ctx: CallContext) => ({ deviceId: ctx.deviceId, scopes: ctx.role === "operator" ? ctx.scopes : [] })
  const needDevice = (ctx: CallContext) =>
    ctx.deviceId ? Effect.succeed(ctx.deviceId) : Effect.fail(GatewayError.invalidRequest("this connection has no device identity"))
  const asNode = <D extends { readonly deviceId: string }>(d: D) => ({ ...d, nodeId: d.deviceId })

  return [
    serve(Nodes.NodeList, () => nodes.list),
    serve(Nodes.NodeDescribe, (p) => nodes.describe(p.nodeId)),
    serve(
      Nodes.NodeInvoke,
      (p, ctx) => Effect.async((resume) => Effect.sync(nodes.unsafeInvoke(request(p, ctx), resume))),
      (params, ctx, done) => {
        const p = decodeNodeInvoke(params)
        if (Either.isLeft(p)) done(Exit.fail(p.left))
        else nodes.unsafeInvoke(request(p.right, ctx), done)
      }
    ),
    serve(
      Nodes.NodeInvokeResult,
      (p, ctx) => Effect.suspend(() => result(p, ctx)),
      (params, ctx, done) => {
        const p = decodeNodeInvokeResult(params)
        done(Either.isLeft(p) ? Exit.fail(p.left) : result(p.right, ctx))
      }
    ),
    serve(Nodes.NodeEvent, (p, ctx) => Effect.flatMap(needDevice(ctx), (deviceId) => nodes.event(deviceId, p))),

    serve(Pairing.DevicePairList, () => devices.list),
    serve(Pairing.DevicePairApprove, (p, ctx) => devices.approve(p.requestId, approver(ctx))),
    serve(Pairing.DevicePairReject, (p) => devices.reject(p.requestId)),
    serve(Pairing.DevicePairRemove, (p, ctx) => devices.remove(p.deviceId, approver(ctx))),
    serve(Pairing.DeviceTokenRotate, (p, ctx) => devices.rotate(p.deviceId, p.role, p.scopes, approver(ctx))),
    serve(Pairing.DeviceTokenRevoke, (p, ctx) => devices.revoke(p.deviceId, p.role, approver(ctx))),

    // Node pairing is device pairing for role "node" (one approval covers the node and the commands it declares).
    serve(Pairing.NodePairList, () =>
      Effect.map(devices.list, (l) => ({
        pending: l.pending.filter((r) => r.roles.includes("node")).map(asNode),
        paired: l.paired.filter((d) => d.roles.includes("node")).map(asNode)
      }))
    ),
    serve(Pairing.NodePairApprove, (p, ctx) =>
      Effect.map(devices.approve(p.requestId, approver(ctx)), (r) => ({ requestId: r.requestId, node: asNode(r.device) }))
    ),
    serve(Pairing.NodePairReject, (p) => Effect.map(devices.reject(p.requestId), (r) => ({ requestId: r.requestId, nodeId: r.deviceId }))),
    serve(Pairing.NodePairRemove, (p, ctx) => Effect.as(devices.remove(p.nodeId, approver(ctx)), { nodeId: p.nodeId }))
  ]
})
