/**
 * What the Gateway offers a chat page, in OpenClaw's names and shapes (all
 * operator.read): `models.list` (the models the config names), `agents.list`
 * (clawgate has one agent, `main`) and `agent.identity.get` (its display name
 * and avatar; clawgate has no per-agent identity, so OpenClaw's defaults).
 */
import { Schema } from "effect"
import { method, requiresScope } from "../method.js"
import { Name, opt } from "./common.js"

/** A model a run can use: `ref` (`<provider>/<model>`) is what `agents.defaults.model.primary` takes. */
export const ModelChoice = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  provider: Schema.String,
  /** Runs on this host without a network (the built-in offline model). */
  local: opt(Schema.Boolean),
  /** clawgate: `<provider>/<model>`. */
  ref: opt(Schema.String),
  /** clawgate: the provider's API (`offline`, `openai-completions`, `anthropic-messages`). */
  api: opt(Schema.String),
  /** clawgate: it is `agents.defaults.model.primary` (or the built-in default when that is unset). */
  default: opt(Schema.Boolean)
})
export type ModelChoice = typeof ModelChoice.Type

export const ModelsList = method("models.list", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({ agentId: opt(Name), sessionKey: opt(Name), provider: opt(Name) }),
  result: Schema.Struct({ models: Schema.Array(ModelChoice) })
})

export const AgentSummary = Schema.Struct({
  id: Schema.String,
  name: opt(Schema.String),
  identity: opt(Schema.Struct({ name: opt(Schema.String), emoji: opt(Schema.String), avatar: opt(Schema.String) })),
  model: opt(Schema.Struct({ primary: opt(Schema.String) }))
})

export const AgentsList = method("agents.list", {
  requires: requiresScope("operator.read"),
  result: Schema.Struct({
    defaultId: Schema.String,
    mainKey: Schema.String,
    /** Each channel peer has its own session (`agent:main:telegram:<chat>`). */
    scope: Schema.Literal("per-sender", "global"),
    agents: Schema.Array(AgentSummary)
  })
})

export const AgentIdentityGet = method("agent.identity.get", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({ agentId: opt(Name), sessionKey: opt(Schema.String.pipe(Schema.maxLength(512))) }),
  result: Schema.Struct({
    agentId: Schema.String,
    name: opt(Schema.String),
    nameSource: opt(Schema.String),
    avatar: opt(Schema.String),
    avatarStatus: opt(Schema.String),
    emoji: opt(Schema.String)
  })
})
