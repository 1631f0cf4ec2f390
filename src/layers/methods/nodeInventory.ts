/**
 * node.skills.update, node.pluginTools.update, node.runnerInventory.update:
 * what a connected node publishes about itself, kept by the NodeRegistry for
 * the node's current connection and shown by node.describe (see
 * protocol/methods/nodeInventory.ts). Answered as OpenClaw answers them.
 */
import { Effect } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { NodeInventory } from "../../protocol/methods.js"
import { serve, type CallContext } from "../../services/Dispatcher.js"
import { NodeRegistry, type InventoryUpdate } from "../../services/NodeRegistry.js"

export const nodeInventoryMethods = Effect.gen(function* () {
  const nodes = yield* NodeRegistry

  const publish = <A>(ctx: CallContext, update: InventoryUpdate, answer: (nodeId: string) => A) =>
    ctx.deviceId
      ? Effect.as(nodes.publish(ctx.deviceId, ctx.connId, update), answer(ctx.deviceId))
      : Effect.fail(GatewayError.invalidRequest("nodeId required: this connection has no device identity"))

  return [
    serve(NodeInventory.NodeSkillsUpdate, (p, ctx) => {
      const skills = p.skills.map((s) => ({ name: s.name, description: s.description, contentChars: s.content.length }))
      return publish(ctx, { _tag: "skills", skills }, (nodeId) => ({ nodeId, skills }))
    }),
    serve(NodeInventory.NodePluginToolsUpdate, (p, ctx) => {
      const tools = p.tools.map((t) => ({
        pluginId: t.pluginId,
        name: t.name,
        description: t.description,
        ...(t.command !== undefined ? { command: t.command } : {}),
        ...(t.mcp !== undefined ? { mcp: { server: t.mcp.server, tool: t.mcp.tool } } : {})
      }))
      return publish(ctx, { _tag: "pluginTools", tools }, (nodeId) => ({ nodeId, tools }))
    }),
    serve(NodeInventory.NodeRunnerInventoryUpdate, (p, ctx) =>
      publish(ctx, { _tag: "runnerInventory", inventory: p }, (nodeId) => ({ nodeId }))
    )
  ]
})
