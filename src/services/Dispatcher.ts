/**
 * Dispatcher: the one place a method call is checked and run. The WebSocket
 * transport and the in-process (local) client both enter here, so a call
 * behaves the same whether it came over the wire or not.
 */
import { Context, type Effect, type Exit, type Scope } from "effect"
import type { GatewayError } from "../protocol/errors.js"
import type { ClientInfo, Role } from "../protocol/frames.js"
import type { AnyMethod, ParamsOf, ResultOf } from "../protocol/method.js"

export interface CallContext {
  readonly connId: string
  readonly role: Role
  readonly scopes: ReadonlyArray<string>
  readonly client?: ClientInfo | undefined
  readonly clientIp?: string | undefined
  /** The verified device of this connection, if it presented one (a node's id is its device id). */
  readonly deviceId?: string | undefined
  /**
   * Sends an interim response on the same request id (e.g. `{status:"accepted"}`)
   * before the final one. A no-op where the caller cannot receive one.
   */
  readonly interim: (payload: unknown) => Effect.Effect<void>
  /**
   * The connection's own Scope, closed when it disconnects: where a call
   * keeps what lasts as long as the connection (a subscription's release).
   * Absent for a caller without a connection (the in-process client).
   */
  readonly scope?: Scope.Scope | undefined
}

/**
 * A result may carry its own JSON (under this symbol, which JSON.stringify
 * does not see): the transport sends that text instead of serialising the
 * value. A handler that answers the same big value over and over (health)
 * splices its few changing fields into kept text.
 */
export const PREPARED_JSON: unique symbol = Symbol.for("clawgate/PreparedJson")

/** `value` as a result whose JSON is `json` (which must be what JSON.stringify(value) would give). */
export const withJson = <A extends object>(value: A, json: string): A => Object.defineProperty(value, PREPARED_JSON, { value: json })

/** A method's handler: its params already decoded with the method's schema, its result of the method's result type. */
export type Handler<M extends AnyMethod> = (params: ParamsOf<M>, ctx: CallContext) => Effect.Effect<ResultOf<M>, GatewayError>

/** A handler on raw params (what the Dispatcher runs once it has decoded them). */
export type MethodHandler = (params: unknown, ctx: CallContext) => Effect.Effect<unknown, GatewayError>

/**
 * A handler with a plain callback instead of an effect, for the few methods on
 * the hot path (`node.invoke`, `node.invoke.result`): same checks, same
 * answers, no fiber per call. `done` is called exactly once.
 */
export type UnsafeMethodHandler = (params: unknown, ctx: CallContext, done: (exit: Exit.Exit<unknown, GatewayError>) => void) => void

/**
 * A method of the table with its handler: what the Dispatcher serves. `unsafe`
 * is the same method as a plain callback, for the hot path; it decodes the
 * raw params itself and must accept exactly what `method.params` accepts.
 */
export interface Served<M extends AnyMethod = AnyMethod> {
  readonly method: M
  readonly handle: Handler<M>
  readonly unsafe?: UnsafeMethodHandler | undefined
}

/** Serves `method` with `handle` (and, for the hot path, `unsafe`). */
export const serve = <M extends AnyMethod>(method: M, handle: Handler<M>, unsafe?: UnsafeMethodHandler): Served => ({
  method,
  handle,
  unsafe
})

export interface DispatcherService {
  /** The methods served, as advertised in `hello-ok.features.methods`. */
  readonly methods: ReadonlyArray<string>
  readonly events: ReadonlyArray<string>
  /** Checks role and scope, validates nothing else, runs the handler. */
  readonly dispatch: (ctx: CallContext, method: string, params: unknown) => Effect.Effect<unknown, GatewayError>
  /**
   * `dispatch` for the methods that have an UnsafeMethodHandler: returns false,
   * without calling `done`, for every other method (use `dispatch` for those).
   */
  readonly unsafeDispatch: (
    ctx: CallContext,
    method: string,
    params: unknown,
    done: (exit: Exit.Exit<unknown, GatewayError>) => void
  ) => boolean
}

export class Dispatcher extends Context.Tag("clawgate/Dispatcher")<Dispatcher, DispatcherService>() {}
