/**
 * What a node publishes about itself once it is connected (role node only), in
 * OpenClaw's names and shapes: `node.skills.update` (the skills its agent
 * could use), `node.pluginTools.update` (its plugin and MCP tools) and
 * `node.runnerInventory.update` (whether it hosts worker sessions). OpenClaw's
 * node host sends all three after every hello-ok and retries them on any
 * answer other than ok, `unknown method` or another INVALID_REQUEST; clawgate
 * accepts them, keeps the latest of each for the node's connection and shows
 * them in `node.describe` (clawgate runs no agent on nodes and hosts no worker
 * sessions: an empty truth, kept so an operator sees what the node offers).
 *
 * Bounds are OpenClaw's where it has them (skill names, 64 skills, 1024 and
 * 65536 characters), clawgate's own where it has none (tool counts, lengths).
 */
import { Schema } from "effect"
import { method, requiresRole } from "../method.js"
import { Int, opt } from "./common.js"

const bounded = (max: number) =>
  Schema.String.pipe(
    Schema.minLength(1, { message: () => "must not be empty" }),
    Schema.maxLength(max, { message: () => `must be at most ${max} characters` })
  )

export const MAX_SKILLS = 64
export const MAX_SKILL_DESCRIPTION = 1024
export const MAX_SKILL_CONTENT = 65_536
export const MAX_PLUGIN_TOOLS = 128
export const MAX_TOOL_DESCRIPTION = 4096
/** A tool's `parameters` (a JSON schema), serialised, in characters. */
export const MAX_TOOL_PARAMETERS_CHARS = 16_384
export const MAX_PROTOCOL_FEATURES = 8

export const SkillName = Schema.String.pipe(
  Schema.pattern(/^(?!.*--)[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, {
    message: () => "must be 1-64 lowercase letters, digits and single dashes, starting and ending with a letter or digit"
  })
)
export const ToolName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, {
    message: () => "must be 1-64 letters, digits, '_' or '-', starting with a letter"
  })
)

export const SkillDescriptor = Schema.Struct({
  name: SkillName,
  description: bounded(MAX_SKILL_DESCRIPTION),
  content: bounded(MAX_SKILL_CONTENT)
})

const jsonChars = (v: unknown) => {
  try {
    return (JSON.stringify(v) ?? "").length
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

export const PluginToolDescriptor = Schema.Struct({
  pluginId: bounded(128),
  name: ToolName,
  description: bounded(MAX_TOOL_DESCRIPTION),
  parameters: opt(
    Schema.Record({ key: Schema.String, value: Schema.Unknown }).pipe(
      Schema.filter((p) => jsonChars(p) <= MAX_TOOL_PARAMETERS_CHARS || `must be at most ${MAX_TOOL_PARAMETERS_CHARS} characters as JSON`)
    )
  ),
  command: opt(bounded(256)),
  mcp: opt(Schema.Struct({ server: bounded(128), tool: bounded(128) }))
})

export const WorkerHost = Schema.Struct({
  enabled: Schema.Boolean,
  capacity: opt(
    Schema.Struct({ total: Int.pipe(Schema.between(1, 1024)), available: Int.pipe(Schema.between(0, 1024)) }).pipe(
      Schema.filter((c) => c.available <= c.total || "available must not exceed total")
    )
  ),
  bundlePrewarm: opt(Schema.Literal(1)),
  bundleRetention: opt(Schema.Literal(1)),
  bundleStatus: opt(Schema.Literal(1)),
  portalStream: opt(Schema.Literal(1)),
  environmentSession: opt(Schema.Literal(1)),
  preparedWorkspace: opt(Schema.Literal(1)),
  capturedExecPolicy: opt(Schema.Literal(true))
})

export const RunnerInventory = Schema.Struct({
  protocolFeatures: Schema.Array(bounded(64)).pipe(
    Schema.maxItems(MAX_PROTOCOL_FEATURES, { message: () => `at most ${MAX_PROTOCOL_FEATURES} protocol features` })
  ),
  workerHost: opt(WorkerHost)
})

/** A skill as `node.describe` shows it: its text is counted, not repeated. */
export const SkillSummary = Schema.Struct({ name: Schema.String, description: Schema.String, contentChars: Schema.Number })
/** A tool as `node.describe` shows it (its parameters schema is checked, not kept). */
export const ToolSummary = Schema.Struct({
  pluginId: Schema.String,
  name: Schema.String,
  description: Schema.String,
  command: opt(Schema.String),
  mcp: opt(Schema.Struct({ server: Schema.String, tool: Schema.String }))
})

/** What a connected node published on its current connection (`node.describe`'s `published`). */
export const Published = Schema.Struct({
  skills: opt(Schema.Array(SkillSummary)),
  pluginTools: opt(Schema.Array(ToolSummary)),
  runnerInventory: opt(RunnerInventory),
  /** How many updates of each kind this connection sent (OpenClaw's node host sends each once per connection when answered ok). */
  updates: Schema.Struct({ skills: Schema.Number, pluginTools: Schema.Number, runnerInventory: Schema.Number }),
  updatedAtMs: opt(Schema.Number)
})
export type Published = typeof Published.Type

export const NodeSkillsUpdate = method("node.skills.update", {
  requires: requiresRole("node"),
  params: Schema.Struct({
    skills: Schema.Array(SkillDescriptor).pipe(Schema.maxItems(MAX_SKILLS, { message: () => `at most ${MAX_SKILLS} skills` }))
  }),
  result: Schema.Struct({ nodeId: Schema.String, skills: Schema.Array(SkillSummary) })
})

export const NodePluginToolsUpdate = method("node.pluginTools.update", {
  requires: requiresRole("node"),
  params: Schema.Struct({
    tools: Schema.Array(PluginToolDescriptor).pipe(
      Schema.maxItems(MAX_PLUGIN_TOOLS, { message: () => `at most ${MAX_PLUGIN_TOOLS} tools` })
    )
  }),
  result: Schema.Struct({ nodeId: Schema.String, tools: Schema.Array(ToolSummary) })
})

export const NodeRunnerInventoryUpdate = method("node.runnerInventory.update", {
  requires: requiresRole("node"),
  params: RunnerInventory,
  result: Schema.Struct({ nodeId: Schema.String })
})
