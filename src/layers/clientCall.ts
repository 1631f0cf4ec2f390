/**
 * `GatewayClient.call`, derived once from a client's `request`: the method's
 * name goes on the wire with its params, and the answer is decoded with the
 * method's result schema (every declared field checked, the others kept).
 */
import { Effect, Either } from "effect"
import type { GatewayError } from "../protocol/errors.js"
import { issuesText } from "../protocol/issues.js"
import { resultDecoder, type AnyMethod, type ResultOf } from "../protocol/method.js"
import { GatewayClientError, type CallArgs, type GatewayClientService, type RequestOptions } from "../services/GatewayClient.js"

const decoders = new WeakMap<AnyMethod, ReturnType<typeof resultDecoder>>()
const decoderOf = (m: AnyMethod) => {
  let d = decoders.get(m)
  if (d === undefined) decoders.set(m, (d = resultDecoder(m)))
  return d
}

export const callThrough =
  (request: GatewayClientService["request"]): GatewayClientService["call"] =>
  <M extends AnyMethod>(m: M, ...args: CallArgs<M>): Effect.Effect<ResultOf<M>, GatewayError | GatewayClientError> => {
    const [params, options] = args as [unknown, RequestOptions | undefined]
    return Effect.flatMap(request(m.name, params, options), (answer) => {
      const decoded = decoderOf(m)(answer)
      return Either.isRight(decoded)
        ? Effect.succeed(decoded.right as ResultOf<M>)
        : Effect.fail(
            new GatewayClientError({
              reason: "Answer",
              message: `the Gateway's answer to ${m.name} is not what this client reads: ${issuesText(decoded.left)}`
            })
          )
    })
  }
