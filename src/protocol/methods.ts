/**
 * THE METHOD TABLE: every method this Gateway serves, with who may call it,
 * its params schema and its result schema (see method.ts). The Dispatcher
 * decodes and authorises from it, `GatewayClient.call` types and decodes
 * answers from it, the Control UI imports it. A new method is one
 * declaration in `methods/<area>.ts`, one line here and one handler.
 */
import type { Scope } from "./frames.js"
import { type AnyMethod, requiresScope, type Requirement } from "./method.js"
import { Agent, AgentWait, ChatAbort, ChatSend } from "./methods/agent.js"
import { AgentIdentityGet, AgentsList, ModelsList } from "./methods/catalog.js"
import { ChannelsStatus, Send } from "./methods/channels.js"
import { ConfigSet, ConfigValidate } from "./methods/config.js"
import { ConfigGet, Health, LogsTail, Status, SystemPresence } from "./methods/core.js"
import {
  DeviceBootstrapIssue,
  DevicePairApprove,
  DevicePairList,
  DevicePairReject,
  DevicePairRemove,
  DeviceTokenRevoke,
  DeviceTokenRotate,
  NodePairApprove,
  NodePairList,
  NodePairReject,
  NodePairRemove
} from "./methods/devices.js"
import { OpenclawUiTable } from "./methods/openclawUi.js"
import { NodeDescribe, NodeEvent, NodeInvoke, NodeInvokeResult, NodeList } from "./methods/nodes.js"
import { NodePluginToolsUpdate, NodeRunnerInventoryUpdate, NodeSkillsUpdate } from "./methods/nodeInventory.js"
import { SecurityAudit } from "./methods/security.js"
import {
  ChatHistory,
  ChatStartup,
  SessionsDelete,
  SessionsDescribe,
  SessionsList,
  SessionsMessagesSubscribe,
  SessionsMessagesUnsubscribe,
  SessionsReset,
  SessionsSubscribe,
  SessionsUnsubscribe
} from "./methods/sessions.js"

export * from "./method.js"
export * as Agents from "./methods/agent.js"
export * as Catalog from "./methods/catalog.js"
export * as ChannelMethods from "./methods/channels.js"
export * as ConfigMethods from "./methods/config.js"
export * as Core from "./methods/core.js"
export * as Pairing from "./methods/devices.js"
export * as Nodes from "./methods/nodes.js"
export * as NodeInventory from "./methods/nodeInventory.js"
export * as OpenclawUi from "./methods/openclawUi.js"
export * as Security from "./methods/security.js"
export * as SessionMethods from "./methods/sessions.js"

/** The core methods, by name. */
export const Methods = {
  health: Health,
  status: Status,
  "system-presence": SystemPresence,
  "config.get": ConfigGet,
  "config.validate": ConfigValidate,
  "config.set": ConfigSet,
  "security.audit": SecurityAudit,
  "logs.tail": LogsTail,
  "node.list": NodeList,
  "node.describe": NodeDescribe,
  "node.invoke": NodeInvoke,
  "node.invoke.result": NodeInvokeResult,
  "node.event": NodeEvent,
  "node.skills.update": NodeSkillsUpdate,
  "node.pluginTools.update": NodePluginToolsUpdate,
  "node.runnerInventory.update": NodeRunnerInventoryUpdate,
  "device.pair.list": DevicePairList,
  "device.pair.approve": DevicePairApprove,
  "device.pair.reject": DevicePairReject,
  "device.pair.remove": DevicePairRemove,
  "device.token.rotate": DeviceTokenRotate,
  "device.token.revoke": DeviceTokenRevoke,
  "device.bootstrap.issue": DeviceBootstrapIssue,
  "node.pair.list": NodePairList,
  "node.pair.approve": NodePairApprove,
  "node.pair.reject": NodePairReject,
  "node.pair.remove": NodePairRemove,
  "sessions.list": SessionsList,
  "chat.history": ChatHistory,
  "sessions.reset": SessionsReset,
  "sessions.delete": SessionsDelete,
  "sessions.describe": SessionsDescribe,
  "sessions.subscribe": SessionsSubscribe,
  "sessions.unsubscribe": SessionsUnsubscribe,
  "sessions.messages.subscribe": SessionsMessagesSubscribe,
  "sessions.messages.unsubscribe": SessionsMessagesUnsubscribe,
  "chat.startup": ChatStartup,
  "models.list": ModelsList,
  "agents.list": AgentsList,
  "agent.identity.get": AgentIdentityGet,
  "channels.status": ChannelsStatus,
  send: Send,
  agent: Agent,
  "agent.wait": AgentWait,
  "chat.send": ChatSend,
  "chat.abort": ChatAbort,
  ...OpenclawUiTable
} as const satisfies { readonly [K in string]: AnyMethod & { readonly name: K } }

export type CoreMethodName = keyof typeof Methods

const byName: ReadonlyMap<string, AnyMethod> = new Map(Object.values(Methods).map((m) => [m.name, m]))

/** A method no table declares is treated as an admin-only one. */
export const requirementOf = (method: string): Requirement => byName.get(method)?.requires ?? requiresScope("operator.admin")

/** The scopes a client should request to call `methods`, least privilege first. */
export const scopesFor = (methods: ReadonlyArray<string>): Array<Scope> => {
  const needed = new Set<Scope>()
  for (const m of methods) {
    const r = requirementOf(m)
    needed.add(r._tag === "Scope" ? r.scope : "operator.read")
  }
  if (needed.has("operator.admin")) return ["operator.admin"]
  if (needed.has("operator.write")) needed.delete("operator.read")
  return [...needed]
}

export { scopeSatisfies } from "./scopes.js"

/** Events a client may see from this Gateway. */
export const GATEWAY_EVENTS = [
  "connect.challenge",
  "tick",
  "shutdown",
  "presence",
  "health",
  "device.pair.requested",
  "device.pair.resolved",
  "node.pair.requested",
  "node.pair.resolved",
  "node.invoke.request",
  "node.invoke.cancel",
  "node.event",
  "agent",
  "chat",
  "sessions.changed",
  "session.message"
] as const
