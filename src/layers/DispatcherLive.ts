/**
 * The Dispatcher and the core methods of this Gateway. Each handler validates
 * its own params with Schema and depends only on service tags.
 */
import * as os from "node:os"
import { createHash } from "node:crypto"
import { Effect, Either, Exit, Layer, Option, Schema } from "effect"
import { redact, type ClawgateConfig } from "../config/schema.js"
import { GatewayError } from "../protocol/errors.js"
import { printable } from "../protocol/codec.js"
import { decodeParams, decodeParamsEither } from "./params.js"
import { GATEWAY_EVENTS, requirementOf, scopeSatisfies } from "../protocol/methods.js"
import { Auth } from "../services/Auth.js"
import { Config } from "../services/Config.js"
import {
  Dispatcher,
  type CallContext,
  type DispatcherService,
  type MethodHandler,
  type UnsafeMethodHandler
} from "../services/Dispatcher.js"
import { GatewayLog } from "../services/GatewayLog.js"
import { GatewayState } from "../services/GatewayState.js"
import { Health } from "../services/Health.js"
import { Presence } from "../services/Presence.js"
import { Devices } from "../services/Devices.js"
import { NodeRegistry } from "../services/NodeRegistry.js"
import { agentHandlers } from "./AgentMethods.js"
import { Vitals } from "../services/Vitals.js"
import { AgentRunner } from "../services/AgentRunner.js"
import { databasePath } from "./Database.js"
import { sessionHandlers } from "./SessionMethods.js"
import { channelHandlers, channelSummary } from "./ChannelMethods.js"
import { Channels } from "../services/Channels.js"

export const SESSION_DEFAULTS = { defaultAgentId: "main", mainKey: "main", mainSessionKey: "agent:main:main" } as const

export { decodeParams, decodeParamsEither } from "./params.js"
const Int = Schema.Number.pipe(Schema.int())
const HealthParams = Schema.Struct({ probe: Schema.optional(Schema.Boolean), timeoutMs: Schema.optional(Schema.Number) })
const LogsTailParams = Schema.Struct({
  cursor: Schema.optional(Int.pipe(Schema.nonNegative())),
  limit: Schema.optional(Int.pipe(Schema.between(1, 5000))),
  maxBytes: Schema.optional(Int.pipe(Schema.between(1, 4 * 1024 * 1024)))
})

/** Whether this connection may call `method`: its role, or its operator scopes. */
const authorize = (ctx: CallContext, method: string): GatewayError | undefined => {
  const req = requirementOf(method)
  if (req._tag === "Role") {
    if (ctx.role !== req.role) {
      return GatewayError.of("FORBIDDEN", `unauthorized role: ${method} is for role "${req.role}" only`, {
        details: { code: "ROLE_NOT_ALLOWED", requiredRole: req.role, role: ctx.role }
      })
    }
  } else if (req._tag === "Scope" && (ctx.role !== "operator" || !scopeSatisfies(ctx.scopes, req.scope))) {
    return GatewayError.of("FORBIDDEN", `missing scope: ${req.scope}`, {
      details: { code: "MISSING_SCOPE", missingScope: req.scope, requiredScopes: [req.scope] }
    })
  }
  return undefined
}

/**
 * `handlers` serve every method; `unsafe` (a subset, same behaviour) lets the
 * transport answer the hottest ones without a fiber.
 */
export const makeDispatcher = (
  handlers: Record<string, MethodHandler>,
  unsafe: Record<string, UnsafeMethodHandler> = {}
): DispatcherService => {
  const methods = Object.keys(handlers).sort()
  // An unknown method is answered as such for every caller, before any scope check: the method list is
  // public in hello-ok anyway, and OpenClaw's clients read exactly this answer as "not supported here".
  const unknown = (method: string) =>
    GatewayError.invalidRequest(`unknown method: ${printable(method, 64)}`, { code: "UNKNOWN_METHOD", method: printable(method, 64) })
  const dispatch = (ctx: CallContext, method: string, params: unknown): Effect.Effect<unknown, GatewayError> => {
    const handler = Object.hasOwn(handlers, method) ? handlers[method] : undefined
    if (handler === undefined) return Effect.fail(unknown(method))
    const denied = authorize(ctx, method)
    if (denied) return Effect.fail(denied)
    return handler(params, ctx)
  }
  const unsafeDispatch: DispatcherService["unsafeDispatch"] = (ctx, method, params, done) => {
    const handler = Object.hasOwn(unsafe, method) ? unsafe[method] : undefined
    if (handler === undefined || !Object.hasOwn(handlers, method)) return false
    const denied = authorize(ctx, method)
    if (denied) done(Exit.fail(denied))
    else handler(params, ctx, done)
    return true
  }
  return { methods, events: [...GATEWAY_EVENTS], dispatch, unsafeDispatch }
}

export const coreHandlers = Effect.gen(function* () {
  const health = yield* Health
  const presence = yield* Presence
  const state = yield* GatewayState
  const config = yield* Config
  const log = yield* GatewayLog
  const auth = yield* Auth
  const channels = yield* Channels
  const vitals = yield* Vitals
  const runner = yield* Effect.serviceOption(AgentRunner)
  const sessionsPath = databasePath(config.paths.stateDir)

  const handlers: Record<string, MethodHandler> = {
    // OpenClaw's live probe: `{probe: true}` takes a snapshot now (the store, each channel's service).
    health: (params) =>
      // Most callers send no params: no decoding for them.
      params === undefined ? health.snapshot : Effect.flatMap(decodeHealth(params), (p) => (p.probe === true ? health.probe : health.snapshot)),

    status: () =>
      Effect.gen(function* () {
        const serving = yield* state.serving
        const connections = yield* state.connections
        const entries = yield* presence.list
        // Counts from the store now (one aggregate read), without asking any channel's service.
        const snapshot = yield* health.fresh
        const cfg = yield* config.current.pipe(Effect.orElseSucceed((): ClawgateConfig => ({})))
        const authMode = yield* auth.resolved.pipe(
          Effect.map((r) => r.mode),
          Effect.orElseSucceed(() => "unknown")
        )
        return {
          ts: Date.now(),
          version: state.version,
          host: os.hostname(),
          platform: process.platform,
          uptimeMs: yield* state.uptimeMs,
          gateway: {
            mode: cfg.gateway?.mode ?? "local",
            bind: serving?.bind ?? cfg.gateway?.bind ?? "loopback",
            port: serving?.port ?? null,
            listeners: serving?.listeners ?? [],
            authMode,
            tls: serving?.tls ?? cfg.gateway?.tls?.enabled === true,
            tailscale: serving?.tailscale ?? cfg.gateway?.tailscale?.mode ?? "off"
          },
          connections,
          presence: { count: entries.length, version: yield* presence.version },
          // The fields OpenClaw's CLI reads from `status` (its `status` command maps over them).
          runtimeVersion: state.version,
          heartbeat: { defaultAgentId: SESSION_DEFAULTS.defaultAgentId, agents: [] },
          channelSummary: channelSummary(yield* channels.status),
          queuedSystemEvents: [],
          sessions: {
            count: snapshot.sessions.count,
            paths: [sessionsPath],
            defaults: SESSION_DEFAULTS,
            recent: snapshot.sessions.recent,
            byAgent: snapshot.agents.map((a) => ({ agentId: a.agentId, path: sessionsPath, count: a.sessions.count, recent: a.sessions.recent })),
            asOf: snapshot.ts
          },
          health: { version: yield* health.version, ts: snapshot.ts },
          // The Gateway's own vital signs (clawgate extension, read by `status`, `security audit` and the Control UI).
          vitals: {
            ...(yield* vitals.read),
            connections,
            requestsInFlight: yield* state.requestsInFlight,
            agent: Option.isSome(runner) ? yield* runner.value.activity : { runs: 0, sessions: 0 }
          },
          // clawgate extension, read by `clawgate security audit`.
          security: { untrustedProxyHeaders: yield* state.untrustedProxyHeaders }
        }
      }),

    "system-presence": () => presence.list,

    "config.get": () =>
      Effect.gen(function* () {
        const file = yield* config.load.pipe(Effect.either)
        if (Either.isLeft(file)) {
          return {
            path: config.paths.configPath,
            exists: true,
            valid: false,
            issues: file.left.issues ?? [{ path: "(file)", message: file.left.message }],
            config: null
          }
        }
        const text = JSON.stringify(file.right.raw)
        return {
          path: config.paths.configPath,
          exists: file.right.exists,
          valid: true,
          hash: createHash("sha256").update(text).digest("hex"),
          config: redact(file.right.raw)
        }
      }),

    "logs.tail": (params) => Effect.flatMap(decodeLogsTail(params), log.tail)
  }
  return handlers
})

/**
 * The Dispatcher with the core methods, plus `extra` ones: the extension point
 * for teams adding their own typed methods. A method not in the protocol's
 * table needs `operator.admin`.
 */
const Str = Schema.String.pipe(Schema.minLength(1))
/** Names and keys that are stored (the idempotency cache), echoed in errors or logged: bounded. */
const MAX_NAME = 256
const Name = Str.pipe(Schema.maxLength(MAX_NAME, { message: () => `must be at most ${MAX_NAME} characters` }))
const NodeIdParams = Schema.Struct({ nodeId: Name })
const RequestIdParams = Schema.Struct({ requestId: Name })
const DeviceIdParams = Schema.Struct({ deviceId: Name })
const RoleParams = Schema.Struct({
  deviceId: Name,
  role: Schema.Literal("operator", "node"),
  scopes: Schema.optional(Schema.Array(Name).pipe(Schema.maxItems(16)))
})
const InvokeParams = Schema.Struct({
  nodeId: Name,
  command: Name,
  params: Schema.optional(Schema.Unknown),
  timeoutMs: Schema.optional(Int.pipe(Schema.between(1, 10 * 60_000))),
  idempotencyKey: Name
})
const InvokeResultParams = Schema.Struct({
  id: Str,
  nodeId: Str,
  ok: Schema.Boolean,
  payload: Schema.optional(Schema.Unknown),
  payloadJSON: Schema.optional(Schema.NullOr(Schema.String)),
  error: Schema.optional(Schema.Struct({ code: Schema.optional(Schema.String), message: Schema.optional(Schema.String) }))
})
const NodeEventParams = Schema.Struct({
  event: Str,
  payload: Schema.optional(Schema.Unknown),
  payloadJSON: Schema.optional(Schema.String)
})

/** One decoder per method, built once. */
const decodeDevicePairApprove = decodeParams("device.pair.approve", RequestIdParams)
const decodeDevicePairReject = decodeParams("device.pair.reject", RequestIdParams)
const decodeDevicePairRemove = decodeParams("device.pair.remove", DeviceIdParams)
const decodeDeviceTokenRevoke = decodeParams("device.token.revoke", RoleParams)
const decodeDeviceTokenRotate = decodeParams("device.token.rotate", RoleParams)
const decodeLogsTail = decodeParams("logs.tail", LogsTailParams)
const decodeHealth = decodeParams("health", HealthParams)
const decodeNodeDescribe = decodeParams("node.describe", NodeIdParams)
const decodeNodeEvent = decodeParams("node.event", NodeEventParams)
/*
 * node.invoke and node.invoke.result are on every invoke's path: params of the
 * usual shape are checked by hand (accepting exactly what the schemas accept);
 * anything else goes through the schema, which also explains what is wrong.
 */
type Obj = Record<string, unknown>
const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.length > 0
const name = (v: unknown): v is string => nonEmpty(v) && v.length <= MAX_NAME
const optionalString = (v: unknown) => v === undefined || typeof v === "string"
const schemaInvoke = decodeParamsEither("node.invoke", InvokeParams)
const decodeNodeInvoke = (params: unknown): Either.Either<typeof InvokeParams.Type, GatewayError> => {
  const o = params as Obj | null | undefined
  if (typeof o !== "object" || o === null || !name(o.nodeId) || !name(o.command) || !name(o.idempotencyKey)) {
    return schemaInvoke(params)
  }
  const t = o.timeoutMs
  if (t !== undefined && !(typeof t === "number" && Number.isInteger(t) && t >= 1 && t <= 10 * 60_000)) return schemaInvoke(params)
  return Either.right({
    nodeId: o.nodeId,
    command: o.command,
    idempotencyKey: o.idempotencyKey,
    ...(o.params !== undefined ? { params: o.params } : {}),
    ...(t !== undefined ? { timeoutMs: t } : {})
  })
}
const schemaInvokeResult = decodeParamsEither("node.invoke.result", InvokeResultParams)
const decodeNodeInvokeResult = (params: unknown): Either.Either<typeof InvokeResultParams.Type, GatewayError> => {
  const o = params as Obj | null | undefined
  if (typeof o !== "object" || o === null || !nonEmpty(o.id) || !nonEmpty(o.nodeId) || typeof o.ok !== "boolean") {
    return schemaInvokeResult(params)
  }
  const pj = o.payloadJSON
  if (!(pj === undefined || pj === null || typeof pj === "string")) return schemaInvokeResult(params)
  const e = o.error as Obj | null | undefined
  if (e !== undefined && (typeof e !== "object" || e === null || !optionalString(e.code) || !optionalString(e.message))) {
    return schemaInvokeResult(params)
  }
  return Either.right({
    id: o.id,
    nodeId: o.nodeId,
    ok: o.ok,
    ...(o.payload !== undefined ? { payload: o.payload } : {}),
    ...(pj !== undefined ? { payloadJSON: pj } : {}),
    ...(e !== undefined
      ? { error: { ...(e.code !== undefined ? { code: e.code as string } : {}), ...(e.message !== undefined ? { message: e.message as string } : {}) } }
      : {})
  })
}
const decodeNodePairApprove = decodeParams("node.pair.approve", RequestIdParams)
const decodeNodePairReject = decodeParams("node.pair.reject", RequestIdParams)
const decodeNodePairRemove = decodeParams("node.pair.remove", NodeIdParams)

/** node.* and device.* methods: the node registry and pairing. */
export const nodeHandlers = Effect.gen(function* () {
  const nodes = yield* NodeRegistry
  const devices = yield* Devices
  // node.invoke and node.invoke.result, as plain functions: the transport calls them without a fiber.
  const invoke = (params: unknown, ctx: CallContext, done: (exit: Exit.Exit<unknown, GatewayError>) => void): (() => void) => {
    const p = decodeNodeInvoke(params)
    if (Either.isLeft(p)) {
      done(Exit.fail(p.left))
      return () => {}
    }
    const { nodeId, command, params: commandParams, timeoutMs, idempotencyKey } = p.right
    const mayApprove = ctx.role === "operator" && scopeSatisfies(ctx.scopes, "operator.approvals")
    return nodes.unsafeInvoke({ nodeId, command, params: commandParams, timeoutMs, idempotencyKey, mayApprove }, done)
  }
  const result = (params: unknown, ctx: CallContext): Exit.Exit<unknown, GatewayError> => {
    const p = decodeNodeInvokeResult(params)
    if (Either.isLeft(p)) return Exit.fail(p.left)
    if (!ctx.deviceId) return Exit.fail(GatewayError.invalidRequest("this connection has no device identity"))
    return nodes.unsafeResult(ctx.deviceId, ctx.connId, p.right)
  }
  const unsafe: Record<string, UnsafeMethodHandler> = {
    "node.invoke": (params, ctx, done) => void invoke(params, ctx, done),
    "node.invoke.result": (params, ctx, done) => done(result(params, ctx))
  }
  const approver = (ctx: CallContext) => ({ deviceId: ctx.deviceId, scopes: ctx.role === "operator" ? ctx.scopes : [] })
  const needDevice = (ctx: CallContext) =>
    ctx.deviceId ? Effect.succeed(ctx.deviceId) : Effect.fail(GatewayError.invalidRequest("this connection has no device identity"))
  const handlers: Record<string, MethodHandler> = {
    "node.list": () => nodes.list,
    "node.describe": (params) => Effect.flatMap(decodeNodeDescribe(params), (p) => nodes.describe(p.nodeId)),
    "node.invoke": (params, ctx) => Effect.async((resume) => Effect.sync(invoke(params, ctx, resume))),
    "node.invoke.result": (params, ctx) => Effect.suspend(() => result(params, ctx)),
    "node.event": (params, ctx) =>
      Effect.gen(function* () {
        const p = yield* decodeNodeEvent(params)
        return yield* nodes.event(yield* needDevice(ctx), p)
      }),
    "device.pair.list": () => devices.list,
    "device.pair.approve": (params, ctx) => Effect.flatMap(decodeDevicePairApprove(params), (p) => devices.approve(p.requestId, approver(ctx))),
    "device.pair.reject": (params) => Effect.flatMap(decodeDevicePairReject(params), (p) => devices.reject(p.requestId)),
    "device.pair.remove": (params, ctx) => Effect.flatMap(decodeDevicePairRemove(params), (p) => devices.remove(p.deviceId, approver(ctx))),
    "device.token.rotate": (params, ctx) =>
      Effect.flatMap(decodeDeviceTokenRotate(params), (p) => devices.rotate(p.deviceId, p.role, p.scopes, approver(ctx))),
    "device.token.revoke": (params, ctx) =>
      Effect.flatMap(decodeDeviceTokenRevoke(params), (p) => devices.revoke(p.deviceId, p.role, approver(ctx))),
    // Node pairing is device pairing for role "node" (one approval covers the node and the commands it declares).
    "node.pair.list": () =>
      Effect.map(devices.list, (l) => ({
        pending: l.pending.filter((r) => r.roles.includes("node")).map((r) => ({ ...r, nodeId: r.deviceId })),
        paired: l.paired.filter((d) => d.roles.includes("node")).map((d) => ({ ...d, nodeId: d.deviceId }))
      })),
    "node.pair.approve": (params, ctx) =>
      Effect.flatMap(decodeNodePairApprove(params), (p) =>
        Effect.map(devices.approve(p.requestId, approver(ctx)), (r) => ({ requestId: r.requestId, node: { ...r.device, nodeId: r.device.deviceId } }))
      ),
    "node.pair.reject": (params) =>
      Effect.flatMap(decodeNodePairReject(params), (p) =>
        Effect.map(devices.reject(p.requestId), (r) => ({ requestId: r.requestId, nodeId: r.deviceId }))
      ),
    "node.pair.remove": (params, ctx) =>
      Effect.flatMap(decodeNodePairRemove(params), (p) =>
        Effect.map(devices.remove(p.nodeId, approver(ctx)), () => ({ nodeId: p.nodeId }))
      )
  }
  return { handlers, unsafe }
})

export const DispatcherWith = (extra: Record<string, MethodHandler> = {}) =>
  Layer.effect(
    Dispatcher,
    Effect.gen(function* () {
      const core = yield* coreHandlers
      const node = yield* nodeHandlers
      const session = yield* sessionHandlers
      const channel = yield* channelHandlers
      const agent = yield* agentHandlers
      // A method replaced through `extra` is served by its replacement only: no fast path.
      const unsafe = Object.fromEntries(Object.entries(node.unsafe).filter(([m]) => !(m in extra)))
      return makeDispatcher({ ...core, ...node.handlers, ...session, ...channel, ...agent, ...extra }, unsafe)
    })
  )

export const DispatcherLive = DispatcherWith()
