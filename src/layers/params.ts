/**
 * Method params: decoded with Schema, answered with INVALID_REQUEST naming
 * what is wrong and where. A module of its own so that the method modules and
 * the Dispatcher can all import it without an import cycle.
 */
import { type Effect, Either, type Schema } from "effect"
import { GatewayError } from "../protocol/errors.js"
import { decodeExplained, issuesText } from "../protocol/issues.js"

/** Decodes a method's params, answering INVALID_REQUEST with what is wrong and where (bounded: see protocol/issues). */
export const decodeParamsEither = <A, I>(method: string, schema: Schema.Schema<A, I>) => {
  const decode = decodeExplained(schema)
  return (params: unknown): Either.Either<A, GatewayError> =>
    Either.mapLeft(decode(params ?? {}), (issues) =>
      GatewayError.invalidRequest(`invalid ${method} params: ${issuesText(issues)}`, { issues })
    )
}

/** decodeParamsEither as an effect. */
export const decodeParams = <A, I>(method: string, schema: Schema.Schema<A, I>) => {
  const decode = decodeParamsEither(method, schema)
  return (params: unknown): Effect.Effect<A, GatewayError> => decode(params)
}
