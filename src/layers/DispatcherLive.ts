/**
 * The Dispatcher and the core methods of this Gateway. Each handler validates
 * its own params with Schema and depends only on service tags.
 */
import * as os from "node:os"
import * as path from "node:path"
import { createHash } from "node:crypto"
import { Effect, Either, Layer, ParseResult, Schema } from "effect"
import { redact, type ClawgateConfig } from "../config/schema.js"
import { GatewayError } from "../protocol/errors.js"
import { GATEWAY_EVENTS, requirementOf, scopeSatisfies } from "../protocol/methods.js"
import { Auth } from "../services/Auth.js"
import { Config } from "../services/Config.js"
import { Dispatcher, type CallContext, type DispatcherService, type MethodHandler } from "../services/Dispatcher.js"
import { GatewayLog } from "../services/GatewayLog.js"
import { GatewayState } from "../services/GatewayState.js"
import { Health } from "../services/Health.js"
import { Presence } from "../services/Presence.js"

export const SESSION_DEFAULTS = { defaultAgentId: "main", mainKey: "main", mainSessionKey: "agent:main:main" } as const

/** Decodes a method's params, answering INVALID_REQUEST with what is wrong and where. */
export const decodeParams =
  <A, I>(method: string, schema: Schema.Schema<A, I>) =>
  (params: unknown): Effect.Effect<A, GatewayError> => {
    const result = Schema.decodeUnknownEither(schema, { errors: "all" })(params ?? {})
    if (Either.isRight(result)) return Effect.succeed(result.right)
    const issues = ParseResult.ArrayFormatter.formatErrorSync(result.left)
    const text = issues.map((i) => `${i.path.length ? i.path.join(".") + ": " : ""}${i.message}`).join("; ")
    return Effect.fail(GatewayError.invalidRequest(`invalid ${method} params: ${text}`, { issues }))
  }

const Int = Schema.Number.pipe(Schema.int())
const LogsTailParams = Schema.Struct({
  cursor: Schema.optional(Int.pipe(Schema.nonNegative())),
  limit: Schema.optional(Int.pipe(Schema.between(1, 5000))),
  maxBytes: Schema.optional(Int.pipe(Schema.between(1, 4 * 1024 * 1024)))
})

export const makeDispatcher = (handlers: Record<string, MethodHandler>): DispatcherService => {
  const methods = Object.keys(handlers).sort()
  const dispatch = (ctx: CallContext, method: string, params: unknown): Effect.Effect<unknown, GatewayError> => {
    const req = requirementOf(method)
    if (req._tag === "Role") {
      if (ctx.role !== req.role) {
        return Effect.fail(
          GatewayError.of("FORBIDDEN", `unauthorized role: ${method} is for role "${req.role}" only`, {
            details: { code: "ROLE_NOT_ALLOWED", requiredRole: req.role, role: ctx.role }
          })
        )
      }
    } else if (req._tag === "Scope" && (ctx.role !== "operator" || !scopeSatisfies(ctx.scopes, req.scope))) {
      return Effect.fail(
        GatewayError.of("FORBIDDEN", `missing scope: ${req.scope}`, {
          details: { code: "MISSING_SCOPE", missingScope: req.scope, requiredScopes: [req.scope] }
        })
      )
    }
    const handler = handlers[method]
    if (handler === undefined) {
      return Effect.fail(GatewayError.invalidRequest(`unknown method: ${method}`, { code: "UNKNOWN_METHOD", method }))
    }
    return handler(params, ctx)
  }
  return { methods, events: [...GATEWAY_EVENTS], dispatch }
}

export const coreHandlers = Effect.gen(function* () {
  const health = yield* Health
  const presence = yield* Presence
  const state = yield* GatewayState
  const config = yield* Config
  const log = yield* GatewayLog
  const auth = yield* Auth
  const sessionsPath = path.join(config.paths.stateDir, "sessions")

  const handlers: Record<string, MethodHandler> = {
    health: () => health.snapshot,

    status: () =>
      Effect.gen(function* () {
        const serving = yield* state.serving
        const connections = yield* state.connections
        const entries = yield* presence.list
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
            authMode
          },
          connections,
          presence: { count: entries.length, version: yield* presence.version },
          // The fields OpenClaw's CLI reads from `status` (its `status` command maps over them).
          runtimeVersion: state.version,
          heartbeat: { defaultAgentId: SESSION_DEFAULTS.defaultAgentId, agents: [] },
          channelSummary: [],
          queuedSystemEvents: [],
          sessions: {
            count: 0,
            paths: [sessionsPath],
            defaults: SESSION_DEFAULTS,
            recent: [],
            byAgent: [{ agentId: SESSION_DEFAULTS.defaultAgentId, path: sessionsPath, count: 0, recent: [] }]
          },
          health: { version: yield* health.version, ts: (yield* health.snapshot).ts }
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

    "logs.tail": (params) => Effect.flatMap(decodeParams("logs.tail", LogsTailParams)(params), log.tail)
  }
  return handlers
})

/**
 * The Dispatcher with the core methods, plus `extra` ones: the extension point
 * for teams adding their own typed methods. A method not in the protocol's
 * table needs `operator.admin`.
 */
export const DispatcherWith = (extra: Record<string, MethodHandler> = {}) =>
  Layer.effect(
    Dispatcher,
    Effect.map(coreHandlers, (core) => makeDispatcher({ ...core, ...extra }))
  )

export const DispatcherLive = DispatcherWith()
