/**
 * Method params: decoded with Schema, answered with INVALID_REQUEST naming
 * what is wrong and where. A module of its own so that the method modules and
 * the Dispatcher can all import it without an import cycle.
 */
import { Effect, Either, ParseResult, Schema } from "effect"
import { GatewayError } from "../protocol/errors.js"

/** Decodes a method's params, answering INVALID_REQUEST with what is wrong and where. */
export const decodeParamsEither = <A, I>(method: string, schema: Schema.Schema<A, I>) => {
  // Valid params take the fast path; only a failure pays for collecting every issue.
  const decode = Schema.decodeUnknownEither(schema)
  const explain = Schema.decodeUnknownEither(schema, { errors: "all" })
  return (params: unknown): Either.Either<A, GatewayError> => {
    const fast = decode(params ?? {})
    if (Either.isRight(fast)) return Either.right(fast.right)
    const result = explain(params ?? {})
    if (Either.isRight(result)) return Either.right(result.right)
    const issues = ParseResult.ArrayFormatter.formatErrorSync(result.left)
    const text = issues.map((i) => `${i.path.length ? i.path.join(".") + ": " : ""}${i.message}`).join("; ")
    return Either.left(GatewayError.invalidRequest(`invalid ${method} params: ${text}`, { issues }))
  }
}

/** decodeParamsEither as an effect. */
export const decodeParams = <A, I>(method: string, schema: Schema.Schema<A, I>) => {
  const decode = decodeParamsEither(method, schema)
  return (params: unknown): Effect.Effect<A, GatewayError> => decode(params)
}

