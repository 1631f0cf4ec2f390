/**
 * The hot path's params decoders: `node.invoke` and `node.invoke.result` are on
 * every invoke's path, and the benchmark (f) earned them a decoder by hand.
 * Params of the usual shape are checked by hand, accepting exactly what the
 * method table's schemas accept (a property test holds them to it); anything
 * else goes through the schema, which also explains what is wrong.
 */
import { Either } from "effect"
import type { GatewayError } from "../../protocol/errors.js"
import { Nodes } from "../../protocol/methods.js"
import { MAX_NAME } from "../../protocol/methods/common.js"
import { decodeParamsEither } from "../params.js"

const { InvokeParams, InvokeResultParams, MAX_INVOKE_TIMEOUT_MS } = Nodes

type Obj = Record<string, unknown>
const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.length > 0
const name = (v: unknown): v is string => nonEmpty(v) && v.length <= MAX_NAME
const optionalString = (v: unknown) => v === undefined || typeof v === "string"
export const schemaInvoke = decodeParamsEither("node.invoke", InvokeParams)
export const decodeNodeInvoke = (params: unknown): Either.Either<typeof InvokeParams.Type, GatewayError> => {
  const o = params as Obj | null | undefined
  if (typeof o !== "object" || o === null || !name(o.nodeId) || !name(o.command) || !name(o.idempotencyKey)) {
    return schemaInvoke(params)
  }
  const t = o.timeoutMs
  if (t !== undefined && !(typeof t === "number" && Number.isInteger(t) && t >= 1 && t <= MAX_INVOKE_TIMEOUT_MS))
    return schemaInvoke(params)
  return Either.right({
    nodeId: o.nodeId,
    command: o.command,
    idempotencyKey: o.idempotencyKey,
    ...(o.params !== undefined ? { params: o.params } : {}),
    ...(t !== undefined ? { timeoutMs: t } : {})
  })
}
export const schemaInvokeResult = decodeParamsEither("node.invoke.result", InvokeResultParams)
export const decodeNodeInvokeResult = (params: unknown): Either.Either<typeof InvokeResultParams.Type, GatewayError> => {
  const o = params as Obj | null | undefined
  if (typeof o !== "object" || o === null || !nonEmpty(o.id) || !nonEmpty(o.nodeId) || typeof o.ok !== "boolean") {
    return schemaInvokeResult(params)
  }
  const pj = o.payloadJSON
  if (!(pj === undefined || pj === null || typeof pj === "string")) return schemaInvokeResult(params)
  const e = o.error as Obj | null | undefined
  if (
    e !== undefined &&
    (typeof e !== "object" || e === null || Array.isArray(e) || !optionalString(e.code) || !optionalString(e.message))
  ) {
    return schemaInvokeResult(params)
  }
  return Either.right({
    id: o.id,
    nodeId: o.nodeId,
    ok: o.ok,
    ...(o.payload !== undefined ? { payload: o.payload } : {}),
    ...(pj !== undefined ? { payloadJSON: pj } : {}),
    ...(e !== undefined
      ? {
          error: {
            ...(e.code !== undefined ? { code: e.code as string } : {}),
            ...(e.message !== undefined ? { message: e.message as string } : {})
          }
        }
      : {})
  })
}
