/**
 * The connected nodes' commands as the model's tools: one `@effect/ai` tool
 * per (node, command), named `node_<node>__<command>` in the charset every
 * provider accepts (`[a-zA-Z0-9_-]`, at most 64 characters), whose handler is
 * `node.invoke` underneath (`NodeRegistry.invoke`: the command must be
 * declared by the node and allowed by `gateway.nodes.commands`).
 *
 * A tool call never fails the run: its result is `{ok: true, payload}` or
 * `{ok: false, error: {code, message}}` (a failure result, `isFailure: true`),
 * which the model reads and can act on.
 */
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { createHash } from "node:crypto"
import { Effect, Option, Schema } from "effect"
import type { GatewayError } from "../protocol/errors.js"
import { ConfigStore } from "../services/Config.js"
import { NodeRegistry } from "../services/NodeRegistry.js"
import { commandAllowed } from "./nodes/NodeRegistryLive.js"
import { INVALID_TOOL_ARGUMENTS_KEY } from "./ModelOpenAiCompat.js"

/** A node command's params: any JSON object (the command defines them). */
export const NodeToolParams = Schema.Struct({}, Schema.Record({ key: Schema.String, value: Schema.Unknown })).annotations({
  description: "The command's params, as a JSON object ({} for none).",
  // What providers are sent: plainer than the generated schema, which llama.cpp's grammar builder also takes.
  jsonSchema: { type: "object", properties: {}, additionalProperties: true }
})

export const NodeToolSuccess = Schema.Struct({ ok: Schema.Literal(true), payload: Schema.Unknown })
export const NodeToolFailure = Schema.Struct({
  ok: Schema.Literal(false),
  error: Schema.Struct({ code: Schema.String, message: Schema.String })
})
export type NodeToolResult = typeof NodeToolSuccess.Type | typeof NodeToolFailure.Type

/** What a tool name stands for. */
export interface NodeToolTarget {
  readonly toolName: string
  readonly nodeId: string
  readonly command: string
  /** The node's display name, else the start of its id. */
  readonly nodeName: string
}

/** A tool call as the model made it (a `tool-call` part). */
export interface NodeToolCall {
  readonly id: string
  readonly name: string
  readonly params: unknown
}

export interface NodeTools {
  /** For `languageModel.streamText({ prompt, toolkit })`. Empty when no node is connected. */
  readonly toolkit: Toolkit.WithHandler<Record<string, Tool.Any>>
  readonly targets: ReadonlyArray<NodeToolTarget>
  readonly describe: (toolName: string) => NodeToolTarget | undefined
  /**
   * Runs one tool call with the idempotency key `<runId>:<toolCallId>`, for a
   * runner that resolves tool calls itself (`disableToolCallResolution: true`).
   * Never fails: a refused, failed or unknown call is a failure result.
   */
  readonly call: (toolCall: NodeToolCall) => Effect.Effect<{ readonly isFailure: boolean; readonly result: NodeToolResult }>
}

export interface NodeToolsOptions {
  /** The agent run: idempotency keys are `<runId>:<toolCallId>`. */
  readonly runId: string
  /** Per invoke; default the NodeRegistry's (30 s). */
  readonly timeoutMs?: number | undefined
}

export const MAX_TOOL_NAME = 64

const sanitize = (s: string) => s.replace(/[^a-zA-Z0-9_-]+/g, "_")
const shortHash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 8)

/** `node_<node>__<command>`, within the providers' charset and length. */
export const nodeToolName = (nodePart: string, command: string): string => {
  const node =
    sanitize(nodePart)
      .replace(/_+/g, "_")
      .replace(/^_+|_+$/g, "")
      .slice(0, 24) || "node"
  const name = `node_${node}__${sanitize(command)}`
  return name.length <= MAX_TOOL_NAME ? name : `${name.slice(0, MAX_TOOL_NAME - 9)}_${shortHash(name)}`
}

interface NodeInfo {
  readonly nodeId: string
  readonly displayName?: string | undefined
  readonly platform?: string | undefined
  readonly commands: ReadonlyArray<string>
}

/** One target per (node, command), with unique names; nodes that share a name are told apart by their id. */
export const nodeToolTargets = (nodes: ReadonlyArray<NodeInfo>): Array<NodeToolTarget> => {
  const sorted = [...nodes].sort((a, b) => a.nodeId.localeCompare(b.nodeId))
  const baseName = (n: NodeInfo) =>
    n.displayName && sanitize(n.displayName).replace(/_/g, "") !== "" ? n.displayName : n.nodeId.slice(0, 8)
  const count = new Map<string, number>()
  for (const n of sorted) count.set(nodeToolName(baseName(n), ""), (count.get(nodeToolName(baseName(n), "")) ?? 0) + 1)
  const used = new Set<string>()
  const out: Array<NodeToolTarget> = []
  for (const n of sorted) {
    const shared = (count.get(nodeToolName(baseName(n), "")) ?? 0) > 1
    const nodePart = shared ? `${baseName(n).slice(0, 16)}-${n.nodeId.slice(0, 6)}` : baseName(n)
    for (const command of [...new Set(n.commands)].sort()) {
      let name = nodeToolName(nodePart, command)
      for (let i = 2; used.has(name); i++) name = nodeToolName(nodePart, `${command}_${i}`)
      used.add(name)
      out.push({ toolName: name, nodeId: n.nodeId, command, nodeName: n.displayName ?? n.nodeId.slice(0, 12) })
    }
  }
  return out
}

const failure = (code: string, message: string): typeof NodeToolFailure.Type => ({ ok: false, error: { code, message } })

const fromGatewayError = (error: GatewayError): typeof NodeToolFailure.Type => {
  const details = error.details as { nodeError?: { code?: string }; code?: string } | undefined
  return failure(details?.nodeError?.code ?? details?.code ?? error.code, error.message)
}

const makeTool = (target: NodeToolTarget, platform: string | undefined) =>
  Tool.make(target.toolName, {
    description:
      `Runs the command "${target.command}" on the node "${target.nodeName}"` +
      `${platform ? ` (${platform})` : ""}, nodeId ${target.nodeId.slice(0, 12)}…. ` +
      `Pass the command's params as a JSON object ({} for none). Answers {ok:true,payload} or {ok:false,error:{code,message}}.`,
    success: NodeToolSuccess,
    failure: NodeToolFailure,
    failureMode: "return"
  }).setParameters(NodeToolParams)

/**
 * The tools for one agent run, from the nodes connected now (and, when the
 * Config service is there, only the commands `gateway.nodes.commands` allows;
 * `NodeRegistry.invoke` checks it again at call time).
 */
export const nodeToolkit = (options: NodeToolsOptions): Effect.Effect<NodeTools, never, NodeRegistry> =>
  Effect.gen(function* () {
    const registry = yield* NodeRegistry
    const config = yield* Effect.serviceOption(ConfigStore)
    const policy = Option.isSome(config) ? ((yield* config.value.snapshot).gateway?.nodes?.commands ?? {}) : {}
    const listed = yield* registry.list.pipe(
      Effect.map((l) => l.nodes),
      Effect.catchAll((error) =>
        Effect.as(Effect.logWarning(`agent: node commands are not offered as tools this run: ${error.message}`), [])
      )
    )
    const nodes = listed.filter((n) => n.connected).map((n) => ({ ...n, commands: n.commands.filter((c) => commandAllowed(c, policy).ok) }))
    const platforms = new Map(nodes.map((n) => [n.nodeId, n.platform]))
    const targets = nodeToolTargets(nodes)
    const byName = new Map(targets.map((t) => [t.toolName, t]))

    const invoke = (target: NodeToolTarget, params: unknown, idempotencyKey: string): Effect.Effect<NodeToolResult> => {
      const raw = (params as Record<string, unknown> | undefined)?.[INVALID_TOOL_ARGUMENTS_KEY]
      if (typeof raw === "string") {
        return Effect.succeed(failure("INVALID_ARGUMENTS", `the arguments of this call are not a JSON object: ${raw.slice(0, 200)}`))
      }
      return registry
        .invoke({
          nodeId: target.nodeId,
          command: target.command,
          params: params ?? {},
          idempotencyKey,
          ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {})
        })
        .pipe(
          Effect.map((r): NodeToolResult => ({ ok: true, payload: r.payload })),
          Effect.catchAll((error) => Effect.succeed(fromGatewayError(error)))
        )
    }

    // The framework's handler is not told the tool call's id: its key counts the calls of this run instead.
    let handled = 0
    const tools = targets.map((t) => makeTool(t, platforms.get(t.nodeId)))
    const kit = Toolkit.make(...(tools as Array<Tool.Any>)) as unknown as Toolkit.Toolkit<Record<string, Tool.Any>>
    const handlers = Object.fromEntries(
      targets.map((t) => [
        t.toolName,
        (params: unknown) =>
          Effect.flatMap(invoke(t, params, `${options.runId}:${t.toolName}#${++handled}`), (r) =>
            r.ok ? Effect.succeed(r) : Effect.fail(r)
          )
      ])
    )
    const toolkit = (yield* Effect.provide(kit, yield* kit.toContext(handlers as never))) as Toolkit.WithHandler<Record<string, Tool.Any>>

    const call = (toolCall: NodeToolCall) => {
      const target = byName.get(toolCall.name)
      const result: Effect.Effect<NodeToolResult> = target
        ? invoke(target, toolCall.params, `${options.runId}:${toolCall.id}`)
        : Effect.succeed(
            failure("UNKNOWN_TOOL", `there is no tool "${toolCall.name}" (offered: ${targets.map((t) => t.toolName).join(", ") || "none"})`)
          )
      return Effect.map(result, (r) => ({ isFailure: !r.ok, result: r }))
    }

    return { toolkit, targets, describe: (name: string) => byName.get(name), call } satisfies NodeTools
  })
