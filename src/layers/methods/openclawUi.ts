/**
 * The methods OpenClaw's Control UI calls that no other area serves
 * (protocol/methods/openclawUi.ts): `chat.metadata` from the config (the one
 * agent, the models a run may use), `sessions.observer.visibility`
 * acknowledged, and the true answer for what clawgate has no concept of: no
 * cron jobs, tasks, approvals, questions, progress cards, branches,
 * companion, voice, auth profiles or self-update.
 */
import * as os from "node:os"
import { Clock, Effect } from "effect"
import type { ClawgateConfig } from "../../config/schema.js"
import { OpenclawUi } from "../../protocol/methods.js"
import { ConfigStore } from "../../services/Config.js"
import { serve } from "../../services/Dispatcher.js"
import { DEFAULT_MODEL_REF } from "../../services/Models.js"
import { modelChoices } from "./catalog.js"
import { knownAgent } from "./sessionRows.js"

/** `agent:<id>:...` names its agent; other keys belong to the default one. */
const agentOfKey = (key: string | undefined) => (key === undefined ? undefined : /^agent:([^:]+):/.exec(key)?.[1])

/** The params' agent (or the session key's): the one agent, or INVALID_REQUEST naming it. */
const agentOf = (p: { readonly agentId?: string | undefined; readonly sessionKey?: string | undefined }) =>
  knownAgent(p.agentId ?? agentOfKey(p.sessionKey))

const NONE = [] as const
const NO_PROVIDERS = { ready: false, providers: NONE } as const

/** This host, from Node's os module. */
const systemInfo = () => {
  const cpus = os.cpus()
  const [one = 0, five = 0, fifteen = 0] = os.loadavg()
  return {
    machineName: os.hostname(),
    hostname: os.hostname(),
    platform: process.platform,
    release: os.release(),
    arch: process.arch,
    osLabel: `${os.type()} ${os.release()} (${process.arch})`,
    nodeVersion: process.version,
    pid: process.pid,
    uptimeMs: Math.round(process.uptime() * 1000),
    cpuCount: cpus.length,
    ...(cpus[0]?.model ? { cpuModel: cpus[0].model } : {}),
    loadAverage: [one, five, fifteen] as const,
    memoryTotalBytes: os.totalmem(),
    memoryFreeBytes: os.freemem()
  }
}

export const openclawUiMethods = Effect.gen(function* () {
  const config = yield* ConfigStore
  const current = config.current.pipe(Effect.orElseSucceed((): ClawgateConfig => ({})))

  return [
    serve(OpenclawUi.ChatMetadata, (p) =>
      Effect.gen(function* () {
        const agentId = yield* agentOf(p)
        const cfg = yield* current
        return {
          agentId,
          ...(p.sessionKey === undefined ? {} : { sessionKey: p.sessionKey }),
          models: modelChoices(cfg),
          defaultModel: cfg.agents?.defaults?.model?.primary ?? DEFAULT_MODEL_REF,
          commands: NONE
        }
      })
    ),
    serve(OpenclawUi.CronStatus, () => Effect.succeed({ enabled: false, triggersEnabled: false, jobs: 0, nextWakeAtMs: null } as const)),
    serve(OpenclawUi.CronList, (p) =>
      Effect.map(
        knownAgent(p.agentId),
        () =>
          ({
            jobs: NONE,
            snapshotRevision: "empty",
            total: 0,
            offset: 0,
            limit: Math.max(1, Math.min(200, Math.floor(p.limit ?? 50))),
            hasMore: false,
            nextOffset: null
          }) as const
      )
    ),
    serve(OpenclawUi.TasksList, (p) => Effect.as(agentOf(p), { tasks: NONE })),
    serve(OpenclawUi.ExecApprovalList, () => Effect.succeed(NONE)),
    serve(OpenclawUi.PluginApprovalList, () => Effect.succeed(NONE)),
    serve(OpenclawUi.OpenclawApprovalList, () => Effect.succeed(NONE)),
    serve(OpenclawUi.QuestionList, () => Effect.succeed({ questions: NONE })),
    serve(OpenclawUi.ProgressCardGet, (p) => Effect.as(agentOf(p), { card: null })),
    serve(OpenclawUi.SessionsBranchesList, (p) => Effect.as(agentOf(p), { branches: NONE })),
    serve(OpenclawUi.SessionsCompanionState, (p) => Effect.as(agentOf(p), { exchanges: NONE })),
    serve(OpenclawUi.SessionsObserverVisibility, () => Effect.succeed({ ok: true } as const)),
    serve(OpenclawUi.TalkCatalog, () =>
      Effect.succeed({
        modes: NONE,
        transports: NONE,
        brains: NONE,
        speech: NO_PROVIDERS,
        transcription: NO_PROVIDERS,
        realtime: NO_PROVIDERS
      })
    ),
    serve(OpenclawUi.ModelsAuthStatus, (p) =>
      Effect.zipWith(knownAgent(p.agentId), Clock.currentTimeMillis, (_, ts) => ({ ts, providers: NONE }))
    ),
    serve(OpenclawUi.UpdateStatus, () => Effect.succeed({ sentinel: null, updateAvailable: null })),
    serve(OpenclawUi.ExecApprovalsGet, () =>
      Effect.succeed({
        path: "",
        exists: false,
        hash: "",
        file: { version: 1 },
        resolvedDefaults: { security: "deny", ask: "off", askFallback: "deny", autoAllowSkills: false }
      } as const)
    ),
    serve(OpenclawUi.EnvironmentsList, () => Effect.succeed({ environments: NONE })),
    serve(OpenclawUi.SystemInfo, () => Effect.sync(systemInfo))
  ]
})
