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
    // An unpaired device's approved command surface goes with it (a new pairing starts from nothing).
    serve(Pairing.DevicePairRemove, (p, ctx) =>
      Effect.tap(devices.remove(p.deviceId, approver(ctx)), (r) => nodes.forgetSurface(r.deviceId))
    ),
    serve(Pairing.DeviceTokenRotate, (p, ctx) => devices.rotate(p.deviceId, p.role, p.scopes, approver(ctx))),
    serve(Pairing.DeviceTokenRevoke, (p, ctx) =>
      Effect.tap(devices.revoke(p.deviceId, p.role, approver(ctx)), (r) =>
        r.role === "node" ? nodes.forgetSurface(r.deviceId) : Effect.void
      )
    ),

    // node.pair.*: command surfaces held for approval (gateway.nodes.pairing.commandApproval) and nodes' device pairing.
    serve(Pairing.NodePairList, () => nodes.pairList),
    serve(Pairing.NodePairApprove, (p, ctx) => nodes.pairApprove(p.requestId, approver(ctx))),
    serve(Pairing.NodePairReject, (p) => nodes.pairReject(p.requestId)),
    serve(Pairing.NodePairRemove, (p, ctx) =>
      Effect.as(Effect.zipRight(devices.remove(p.nodeId, approver(ctx)), nodes.forgetSurface(p.nodeId)), { nodeId: p.nodeId })
    )
  ]
})
