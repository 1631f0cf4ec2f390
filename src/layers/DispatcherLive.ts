/**
 * The Dispatcher, derived from the method table: for each served method it
 * checks the caller's role or scope against the method's requirement, decodes
 * the params with the method's schema (INVALID_REQUEST naming what is wrong),
 * and runs the handler. The handlers live in `methods/`, one module per area.
 */
import { Effect, Either, Exit, Layer } from "effect"
import { GatewayError } from "../protocol/errors.js"
import { printable } from "../protocol/codec.js"
import { GATEWAY_EVENTS, scopeSatisfies, type Requirement } from "../protocol/methods.js"
import { Dispatcher, type CallContext, type DispatcherService, type MethodHandler, type Served } from "../services/Dispatcher.js"
import { agentMethods } from "./methods/agent.js"
import { catalogMethods } from "./methods/catalog.js"
import { channelMethods } from "./methods/channels.js"
import { configMethods } from "./methods/config.js"
import { coreMethods } from "./methods/core.js"
import { dashboardMethods } from "./methods/dashboard.js"
import { nodeInventoryMethods } from "./methods/nodeInventory.js"
import { nodeMethods } from "./methods/nodes.js"
import { openclawUiMethods } from "./methods/openclawUi.js"
import { securityMethods } from "./methods/security.js"
import { sessionMethods } from "./methods/sessions.js"
import { decodeParamsEither } from "./params.js"

export { decodeParams, decodeParamsEither } from "./params.js"

/** Whether this connection may call `method`: its role, or its operator scopes. */
const authorize = (ctx: CallContext, method: string, req: Requirement): GatewayError | undefined => {
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

interface Entry {
  readonly requires: Requirement
  readonly run: MethodHandler
  readonly unsafe: Served["unsafe"]
}

type Decode = (params: unknown) => Either.Either<unknown, GatewayError>

/**
 * One entry per served method: its params decoder built once, on the method's first call (not at start:
 * building all of them took 10 ms of every start and kept parsers of methods that may never be called);
 * absent params decoded once then too.
 */
const entryOf = (served: Served): Entry => {
  const { method, handle } = served
  let decoder: { readonly decode: Decode; readonly none: ReturnType<Decode> } | undefined
  const run: MethodHandler = (params, ctx) => {
    if (decoder === undefined) {
      const decode = decodeParamsEither(method.name, method.params)
      // Most calls send no params, and decoding none always gives the same value.
      decoder = { decode, none: decode(undefined) }
    }
    const p = params === undefined ? decoder.none : decoder.decode(params)
    return Either.isLeft(p) ? Effect.fail(p.left) : handle(p.right, ctx)
  }
  return { requires: method.requires, run, unsafe: served.unsafe }
}

/** The Dispatcher of `served` methods (a later entry of the same name replaces an earlier one, and its fast path). */
export const makeDispatcher = (served: ReadonlyArray<Served>): DispatcherService => {
  const entries = new Map<string, Entry>()
  for (const s of served) entries.set(s.method.name, entryOf(s))
  const methods = [...entries.keys()].sort()
  // An unknown method is answered as such for every caller, before any scope check: the method list is
  // public in hello-ok anyway, and OpenClaw's clients read exactly this answer as "not supported here".
  const unknown = (method: string) =>
    GatewayError.invalidRequest(`unknown method: ${printable(method, 64)}`, { code: "UNKNOWN_METHOD", method: printable(method, 64) })
  const dispatch = (ctx: CallContext, method: string, params: unknown): Effect.Effect<unknown, GatewayError> => {
    const entry = entries.get(method)
    if (entry === undefined) return Effect.fail(unknown(method))
    const denied = authorize(ctx, method, entry.requires)
    if (denied) return Effect.fail(denied)
    return entry.run(params, ctx)
  }
  const unsafeDispatch: DispatcherService["unsafeDispatch"] = (ctx, method, params, done) => {
    const entry = entries.get(method)
    if (entry?.unsafe === undefined) return false
    const denied = authorize(ctx, method, entry.requires)
    if (denied) done(Exit.fail(denied))
    else entry.unsafe(params, ctx, done)
    return true
  }
  return { methods, events: [...GATEWAY_EVENTS], dispatch, unsafeDispatch }
}

/** Every core method with its handler (what the areas keep running, the session feed, lives in the Dispatcher's scope). */
export const coreServed = Effect.map(
  Effect.all([
    coreMethods,
    nodeMethods,
    nodeInventoryMethods,
    sessionMethods,
    channelMethods,
    agentMethods,
    dashboardMethods,
    configMethods,
    securityMethods,
    catalogMethods,
    openclawUiMethods
  ]),
  (areas) => areas.flat()
)

/**
 * The Dispatcher with the core methods, plus `extra` ones: the extension point
 * for teams adding their own typed methods (declare them with `method(...)`
 * from protocol/method.ts, serve them with `serve(...)`). An extra method of a
 * core method's name replaces it.
 */
export const DispatcherWith = (extra: ReadonlyArray<Served> = []) =>
  Layer.scoped(
    Dispatcher,
    Effect.map(coreServed, (core) => makeDispatcher([...core, ...extra]))
  )

export const DispatcherLive = DispatcherWith()
