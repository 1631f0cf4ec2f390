/**
 * `models.list`, `agents.list`, `agent.identity.get` (operator.read), in
 * OpenClaw's shapes, from the config as it is now: the models a run may use
 * are the ones `agents.defaults.model.primary` may name (the built-in offline
 * model, each `models.providers.<name>.models` entry, and the primary itself),
 * and clawgate runs one agent, `main`, whose identity is OpenClaw's default.
 */
import { Effect } from "effect"
import type { ClawgateConfig } from "../../config/schema.js"
import { Catalog } from "../../protocol/methods.js"
import { ConfigStore } from "../../services/Config.js"
import { serve } from "../../services/Dispatcher.js"
import { DEFAULT_MODEL_REF } from "../../services/Models.js"
import { SESSION_DEFAULTS } from "../../services/Sessions.js"
import { AGENT_ID, knownAgent } from "./sessionRows.js"

const OFFLINE = "offline"

/** The models the config lets a run use, the primary marked. */
export const modelChoices = (cfg: ClawgateConfig): Array<Catalog.ModelChoice> => {
  const primary = cfg.agents?.defaults?.model?.primary ?? DEFAULT_MODEL_REF
  const providers = cfg.models?.providers ?? {}
  const refs = new Map<string, { provider: string; id: string; api: string }>()
  const add = (provider: string, id: string, api: string) => {
    const ref = `${provider}/${id}`
    if (!refs.has(ref)) refs.set(ref, { provider, id, api })
  }
  add(OFFLINE, DEFAULT_MODEL_REF.slice(OFFLINE.length + 1), OFFLINE)
  for (const [name, p] of Object.entries(providers)) for (const id of p.models ?? []) add(name, id, p.api)
  // The primary may name a model its provider does not list (a provider without a `models` list takes any).
  const slash = primary.indexOf("/")
  if (slash > 0) {
    const provider = primary.slice(0, slash)
    const api = provider === OFFLINE ? OFFLINE : providers[provider]?.api
    if (api !== undefined) add(provider, primary.slice(slash + 1), api)
  }
  return [...refs.entries()].map(([ref, m]) => ({
    id: m.id,
    name: m.id,
    provider: m.provider,
    ...(m.api === OFFLINE ? { local: true } : {}),
    ref,
    api: m.api,
    default: ref === primary
  }))
}

/** `agent:<id>:...` names its agent; other keys (`main`, a bare key) belong to the default one. */
const agentOfKey = (key: string | undefined) => {
  const m = key === undefined ? null : /^agent:([^:]+):/.exec(key)
  return m?.[1]
}

export const catalogMethods = Effect.gen(function* () {
  const config = yield* ConfigStore
  const current = config.current.pipe(Effect.orElseSucceed((): ClawgateConfig => ({})))

  return [
    serve(Catalog.ModelsList, (p) =>
      Effect.gen(function* () {
        yield* knownAgent(p.agentId ?? agentOfKey(p.sessionKey))
        const models = modelChoices(yield* current)
        return { models: p.provider === undefined ? models : models.filter((m) => m.provider === p.provider) }
      })
    ),

    serve(Catalog.AgentsList, () =>
      Effect.map(current, (cfg) => ({
        defaultId: AGENT_ID,
        mainKey: SESSION_DEFAULTS.mainKey,
        scope: "per-sender" as const,
        agents: [{ id: AGENT_ID, model: { primary: cfg.agents?.defaults?.model?.primary ?? DEFAULT_MODEL_REF } }]
      }))
    ),

    serve(Catalog.AgentIdentityGet, (p) =>
      Effect.map(knownAgent(p.agentId ?? agentOfKey(p.sessionKey)), (agentId) => ({
        agentId,
        // No identity is configured for clawgate's agent: OpenClaw's defaults, said to be defaults.
        name: "Assistant",
        nameSource: "default",
        avatar: "A",
        avatarStatus: "none"
      }))
    )
  ]
})
