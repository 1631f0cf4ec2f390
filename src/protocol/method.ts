/**
 * A method of the protocol as one declaration: its name, who may call it, the
 * schema of its params and the schema of its result. The Dispatcher decodes
 * params and authorises calls from it; `GatewayClient.call` takes its types
 * and decodes the answer with it; the Control UI imports it. (The shape is
 * @effect/rpc's `Rpc.make(name, { payload, success })`; the wire stays
 * OpenClaw's protocol 4.)
 *
 * Result schemas describe what this Gateway sends and what a client reads. A
 * client decodes with `onExcessProperty: "preserve"`, so fields it does not
 * know (an OpenClaw Gateway's, a newer clawgate's) still reach `--json`.
 * Schemas here have no transformations (their Type is their Encoded), so a
 * handler's value is sent as it is.
 */
import { Schema } from "effect"
import type { Role, Scope } from "./frames.js"
import { decodeExplained } from "./issues.js"

export type Requirement =
  | { readonly _tag: "Scope"; readonly scope: Scope }
  | { readonly _tag: "Role"; readonly role: Role }
  | { readonly _tag: "Authenticated" }

export const requiresScope = (scope: Scope): Requirement => ({ _tag: "Scope", scope })
export const requiresRole = (role: Role): Requirement => ({ _tag: "Role", role })
/** Any authenticated connection (OpenClaw lets every one ask for `health`). */
export const requiresAuthenticated: Requirement = { _tag: "Authenticated" }

// biome-ignore lint/suspicious/noExplicitAny: a method's params and results are invariant schemas; `any` is the top of both
export interface Method<Name extends string = string, P = any, R = any> {
  readonly name: Name
  readonly requires: Requirement
  readonly params: Schema.Schema<P, P>
  readonly result: Schema.Schema<R, R>
}

// biome-ignore lint/suspicious/noExplicitAny: a table holds methods of every params and result type
export type AnyMethod = Method<string, any, any>
// biome-ignore lint/suspicious/noExplicitAny: inference position
export type ParamsOf<M extends AnyMethod> = M extends Method<string, infer P, any> ? P : never
// biome-ignore lint/suspicious/noExplicitAny: inference position
export type ResultOf<M extends AnyMethod> = M extends Method<string, any, infer R> ? R : never

/** Declares a method. `params` defaults to "no params" (an empty struct: extra fields are ignored, as on OpenClaw). */
export const method = <const Name extends string, P = Record<never, never>, R = unknown>(
  name: Name,
  spec: {
    readonly requires: Requirement
    readonly params?: Schema.Schema<P, P>
    readonly result: Schema.Schema<R, R>
  }
): Method<Name, P, R> => ({
  name,
  requires: spec.requires,
  params: (spec.params ?? NoParams) as Schema.Schema<P, P>,
  result: spec.result
})

export const NoParams = Schema.Struct({})

/** Decodes a result from the wire: every declared field checked, unknown ones kept; failures bounded (see issues.ts). */
// biome-ignore lint/suspicious/noExplicitAny: any method's params
export const resultDecoder = <R>(m: Method<string, any, R>) => decodeExplained(m.result, { onExcessProperty: "preserve" })
