/**
 * `clawgate nodes` and `clawgate devices`: nodes and their commands, pairing and device tokens.
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import {
  devicesApprove,
  devicesList,
  devicesReject,
  devicesRemove,
  devicesRevoke,
  devicesRotate,
  approveScopesFor,
  nodesApprove,
  nodesDescribe,
  nodesInvoke,
  nodesList,
  nodesPending,
  nodesPendingRequest,
  nodesReject,
  renderNodeApproved,
  renderNodesPending,
  renderDevices,
  renderNodes
} from "../programs/nodes.js"
import { renderValue } from "../programs/render.js"
import { clientLayer, clientOptions, configLayer, output, withClient, parseParams } from "./shared.js"

// ---------------------------------------------------------------------------
// Nodes and devices

export const nodeRef = Args.text({ name: "node" }).pipe(Args.withDescription("Node id, id prefix (6+ characters) or display name"))

const nodeRequestRef = Args.text({ name: "requestId" }).pipe(Args.withDescription("The node request id (see clawgate nodes pending)"))

export const nodesCommand = Command.make("nodes").pipe(
  Command.withDescription("List, describe and invoke the Gateway's nodes"),
  Command.withSubcommands([
    Command.make("list", clientOptions, (opts) => withClient(opts, ["node.list"], nodesList, renderNodes)).pipe(
      Command.withDescription("Paired and connected nodes")
    ),
    Command.make("describe", { node: nodeRef, ...clientOptions }, (opts) =>
      withClient(opts, ["node.list", "node.describe"], nodesDescribe(opts.node), renderValue)
    ).pipe(Command.withDescription("One node: platform, commands, connection")),
    Command.make(
      "invoke",
      {
        node: nodeRef,
        command: Args.text({ name: "command" }).pipe(Args.withDescription("e.g. system.info, system.run")),
        params: Options.text("params").pipe(Options.withDescription("Params as a JSON object"), Options.optional),
        invokeTimeout: Options.integer("invoke-timeout").pipe(
          Options.withDescription("How long the node may take, in ms (default 30000)"),
          Options.optional
        ),
        idempotencyKey: Options.text("idempotency-key").pipe(
          Options.withDescription("Retries with the same key run once (default: a new key)"),
          Options.optional
        ),
        ...clientOptions
      },
      (opts) =>
        withClient(
          opts,
          ["node.list", "node.invoke"],
          Effect.flatMap(parseParams(opts.params), (params) =>
            nodesInvoke(opts.node, opts.command, {
              params,
              timeoutMs: Option.getOrUndefined(opts.invokeTimeout),
              idempotencyKey: Option.getOrUndefined(opts.idempotencyKey)
            })
          ),
          (r) => renderValue(r.payload ?? r)
        )
    ).pipe(Command.withDescription("Run a command on a node and print its result")),
    Command.make("pending", clientOptions, (opts) => withClient(opts, ["node.pair.list"], nodesPending, renderNodesPending)).pipe(
      Command.withDescription("Nodes waiting for approval: their declared commands (and nodes waiting for device pairing)")
    ),
    Command.make("approve", { requestId: nodeRequestRef, ...clientOptions }, (opts) =>
      output(
        Effect.gen(function* () {
          // The scopes depend on the request (operator.admin for system.run): read it first, then ask for exactly those.
          const request = yield* nodesPendingRequest(opts.requestId).pipe(
            Effect.provide(clientLayer(opts, ["node.pair.list"])),
            Effect.scoped
          )
          return yield* nodesApprove(opts.requestId).pipe(
            Effect.provide(clientLayer(opts, ["node.pair.approve"], false, approveScopesFor(request))),
            Effect.scoped
          )
        }).pipe(Effect.provide(configLayer)),
        opts.json,
        renderNodeApproved
      )
    ).pipe(Command.withDescription("Approve a node's pending request (its commands; system.run needs operator.admin)")),
    Command.make("reject", { requestId: nodeRequestRef, ...clientOptions }, (opts) =>
      withClient(opts, ["node.pair.reject"], nodesReject(opts.requestId), (r) => `rejected ${r.requestId} (node ${r.nodeId.slice(0, 12)})`)
    ).pipe(Command.withDescription("Reject a node's pending request"))
  ])
)

export const role = Options.choice("role", ["operator", "node"]).pipe(
  Options.withDescription("Which role's token (default node)"),
  Options.withDefault("node" as const)
)
export const deviceRef = Args.text({ name: "deviceId" }).pipe(Args.withDescription("Device id or unique prefix (6+ characters)"))
export const requestRef = Args.text({ name: "requestId" }).pipe(Args.withDescription("The pairing request id (see devices list)"))
export const pairingMethods = ["device.pair.list", "device.pair.approve"]

export const devicesCommand = Command.make("devices").pipe(
  Command.withDescription("Approve, reject and manage paired devices (nodes, apps, remote CLIs)"),
  Command.withSubcommands([
    Command.make("list", clientOptions, (opts) => withClient(opts, pairingMethods, devicesList, renderDevices)).pipe(
      Command.withDescription("Pending pairing requests and paired devices")
    ),
    Command.make("approve", { requestId: requestRef, ...clientOptions }, (opts) =>
      withClient(
        opts,
        pairingMethods,
        devicesApprove(opts.requestId),
        (r) => `approved ${opts.requestId}: ${JSON.stringify(r.device.deviceId)}`,
        true
      )
    ).pipe(Command.withDescription("Approve a pending pairing request")),
    Command.make("reject", { requestId: requestRef, ...clientOptions }, (opts) =>
      withClient(opts, pairingMethods, devicesReject(opts.requestId), () => `rejected ${opts.requestId}`)
    ).pipe(Command.withDescription("Reject a pending pairing request")),
    Command.make("remove", { device: deviceRef, ...clientOptions }, (opts) =>
      withClient(opts, pairingMethods, devicesRemove(opts.device), (r) => `removed ${r.deviceId} (disconnected if it was online)`, true)
    ).pipe(Command.withDescription("Unpair a device and disconnect it")),
    Command.make("rotate", { device: deviceRef, role, ...clientOptions }, (opts) =>
      withClient(
        opts,
        pairingMethods,
        devicesRotate(opts.device, opts.role),
        (r) => `rotated the ${opts.role} token of ${r.deviceId}; its sessions were closed`,
        true
      )
    ).pipe(Command.withDescription("Issue a new device token (the old one stops working)")),
    Command.make("revoke", { device: deviceRef, role, ...clientOptions }, (opts) =>
      withClient(
        opts,
        pairingMethods,
        devicesRevoke(opts.device, opts.role),
        (r) => `revoked the ${opts.role} token of ${r.deviceId}; it was disconnected`,
        true
      )
    ).pipe(Command.withDescription("Revoke a device's token and role; it must be approved again"))
  ])
)
