/**
 * The methods OpenClaw's browser Control UI calls on load and in chat that no
 * other area serves, in OpenClaw's names, scopes and result shapes. Where
 * clawgate has the thing (its sessions, its models) the answer comes from its
 * state; where it has no such concept (cron jobs, background tasks, plugin
 * and exec approvals, questions, progress cards, talk providers, self-update)
 * the answer is the true one: an empty list or a neutral state, in the shape
 * OpenClaw's client reads. Empty lists are declared as empty tuples: the
 * table says that clawgate never has one.
 */
import { Schema } from "effect"
import { method, requiresScope } from "../method.js"
import { ModelChoice } from "./catalog.js"
import { Int, Name, opt } from "./common.js"
import { SessionKey } from "./sessions.js"

/** A list clawgate never has an entry for. */
const None = Schema.Tuple()

const SessionScoped = Schema.Struct({ sessionKey: SessionKey, agentId: opt(Name) })

/** `chat.metadata`: what a chat composer offers (clawgate: its one agent and the models the config names). */
export const ChatMetadata = method("chat.metadata", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({ agentId: opt(Name), sessionKey: opt(SessionKey), authProfileId: opt(Name) }),
  result: Schema.Struct({
    agentId: Schema.String,
    sessionKey: opt(Schema.String),
    models: Schema.Array(ModelChoice),
    /** `<provider>/<model>`: `agents.defaults.model.primary`, or the built-in default. */
    defaultModel: Schema.String,
    /** Slash commands a chat may use: clawgate has none. */
    commands: None
  })
})

/** `cron.status`: clawgate has no scheduler. */
export const CronStatus = method("cron.status", {
  requires: requiresScope("operator.read"),
  result: Schema.Struct({
    enabled: Schema.Literal(false),
    triggersEnabled: Schema.Literal(false),
    jobs: Schema.Literal(0),
    nextWakeAtMs: Schema.Null
  })
})

/** `cron.list`: an empty page in OpenClaw's paging shape. */
export const CronList = method("cron.list", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({ agentId: opt(Name), offset: opt(Int), limit: opt(Int) }),
  result: Schema.Struct({
    jobs: None,
    snapshotRevision: Schema.String,
    total: Schema.Literal(0),
    offset: Schema.Literal(0),
    limit: Int,
    hasMore: Schema.Literal(false),
    nextOffset: Schema.Null
  })
})

/** `tasks.list`: clawgate runs no background tasks. */
export const TasksList = method("tasks.list", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({ sessionKey: opt(SessionKey), agentId: opt(Name) }),
  result: Schema.Struct({ tasks: None })
})

/** Pending exec, plugin and system-agent approvals: clawgate asks for none (OpenClaw answers a bare array). */
export const ExecApprovalList = method("exec.approval.list", { requires: requiresScope("operator.approvals"), result: None })
export const PluginApprovalList = method("plugin.approval.list", { requires: requiresScope("operator.approvals"), result: None })
export const OpenclawApprovalList = method("openclaw.approval.list", { requires: requiresScope("operator.approvals"), result: None })

/**
 * `question.list`: questions an agent run put to the operator; clawgate's agent asks none. OpenClaw asks
 * for `operator.questions`, a scope clawgate does not have: the answer (always empty) tells nothing, so
 * operator.read.
 */
export const QuestionList = method("question.list", {
  requires: requiresScope("operator.read"),
  result: Schema.Struct({ questions: None })
})

/** `progressCard.get`: a session's progress card; clawgate keeps none. */
export const ProgressCardGet = method("progressCard.get", {
  requires: requiresScope("operator.read"),
  params: SessionScoped,
  result: Schema.Struct({ card: Schema.Null })
})

/** `sessions.branches.list`: a clawgate transcript is one line, never a tree of branches. */
export const SessionsBranchesList = method("sessions.branches.list", {
  requires: requiresScope("operator.read"),
  params: SessionScoped,
  result: Schema.Struct({ branches: None })
})

/** `sessions.companion.state`: the side companion's exchanges; clawgate has no companion. */
export const SessionsCompanionState = method("sessions.companion.state", {
  requires: requiresScope("operator.read"),
  params: SessionScoped,
  result: Schema.Struct({ exchanges: None })
})

/** `sessions.observer.visibility`: the page says whether it is visible; clawgate acknowledges it and changes nothing. */
export const SessionsObserverVisibility = method("sessions.observer.visibility", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({ visible: Schema.Boolean }),
  result: Schema.Struct({ ok: Schema.Literal(true) })
})

/** A talk provider group with nothing in it. */
const NoProviders = Schema.Struct({ ready: Schema.Literal(false), providers: None })

/** `talk.catalog`: voice modes and providers; clawgate has no voice. */
export const TalkCatalog = method("talk.catalog", {
  requires: requiresScope("operator.read"),
  result: Schema.Struct({
    modes: None,
    transports: None,
    brains: None,
    speech: NoProviders,
    transcription: NoProviders,
    realtime: NoProviders
  })
})

/** `models.authStatus`: the health of model auth profiles (OAuth, keys in an auth store); clawgate has none (keys live in the config). */
export const ModelsAuthStatus = method("models.authStatus", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({ agentId: opt(Name), refresh: opt(Schema.Boolean) }),
  result: Schema.Struct({ ts: Int, providers: None })
})

/** `update.status`: clawgate does not update itself (it is run from a checkout). */
export const UpdateStatus = method("update.status", {
  requires: requiresScope("operator.admin"),
  result: Schema.Struct({ sentinel: Schema.Null, updateAvailable: Schema.Null })
})

/**
 * `exec.approvals.get`: the Gateway host's own exec allowlist. clawgate runs no command on its own host
 * (system.run goes to a node), so there is no file and everything is denied.
 */
export const ExecApprovalsGet = method("exec.approvals.get", {
  requires: requiresScope("operator.admin"),
  result: Schema.Struct({
    path: Schema.String,
    exists: Schema.Literal(false),
    hash: Schema.String,
    file: Schema.Struct({ version: Schema.Literal(1) }),
    resolvedDefaults: Schema.Struct({
      security: Schema.Literal("deny"),
      ask: Schema.Literal("off"),
      askFallback: Schema.Literal("deny"),
      autoAllowSkills: Schema.Literal(false)
    })
  })
})

/** `environments.list`: worker environments (cloud machines) besides the host and its nodes; clawgate has none. */
export const EnvironmentsList = method("environments.list", {
  requires: requiresScope("operator.read"),
  result: Schema.Struct({ environments: None })
})

/** `system.info`: the Gateway's host, as the Systems page shows it (real data). */
export const SystemInfo = method("system.info", {
  requires: requiresScope("operator.read"),
  result: Schema.Struct({
    machineName: Schema.String,
    hostname: Schema.String,
    platform: Schema.String,
    release: Schema.String,
    arch: Schema.String,
    osLabel: Schema.String,
    nodeVersion: Schema.String,
    pid: Int,
    uptimeMs: Int,
    cpuCount: Int,
    cpuModel: opt(Schema.String),
    loadAverage: opt(Schema.Tuple(Schema.Number, Schema.Number, Schema.Number)),
    memoryTotalBytes: Int,
    memoryFreeBytes: Int
  })
})

/** These methods by name, spread into THE METHOD TABLE (methods.ts). */
export const OpenclawUiTable = {
  "chat.metadata": ChatMetadata,
  "cron.status": CronStatus,
  "cron.list": CronList,
  "tasks.list": TasksList,
  "exec.approval.list": ExecApprovalList,
  "plugin.approval.list": PluginApprovalList,
  "openclaw.approval.list": OpenclawApprovalList,
  "question.list": QuestionList,
  "progressCard.get": ProgressCardGet,
  "sessions.branches.list": SessionsBranchesList,
  "sessions.companion.state": SessionsCompanionState,
  "sessions.observer.visibility": SessionsObserverVisibility,
  "talk.catalog": TalkCatalog,
  "models.authStatus": ModelsAuthStatus,
  "update.status": UpdateStatus,
  "exec.approvals.get": ExecApprovalsGet,
  "environments.list": EnvironmentsList,
  "system.info": SystemInfo
} as const
