/**
 * GatewayClient fake for unit tests of programs: canned handlers per method,
 * every call recorded.
 */
import { Context, Effect, Layer, Ref, Stream } from "effect"
import { GatewayError } from "../protocol/errors.js"
import { GatewayClient, type GatewayClientService, type RequestOptions } from "../services/GatewayClient.js"

export type TestHandler = (params: unknown, options: RequestOptions) => Effect.Effect<unknown, GatewayError>

export interface RecordedCall {
  readonly method: string
  readonly params: unknown
  readonly options: RequestOptions
}

export class GatewayClientCalls extends Context.Tag("clawgate/test/GatewayClientCalls")<
  GatewayClientCalls,
  Ref.Ref<ReadonlyArray<RecordedCall>>
>() {}

export const GatewayClientTest = (handlers: Record<string, TestHandler>) =>
  Layer.effectContext(
    Effect.gen(function* () {
      const calls = yield* Ref.make<ReadonlyArray<RecordedCall>>([])
      const service: GatewayClientService = {
        target: { url: "test://gateway", urlSource: "test", mode: "test" },
        connect: Effect.succeed({
          version: "test",
          protocol: 4,
          connId: "test",
          methods: Object.keys(handlers),
          scopes: [],
          tickIntervalMs: 30_000,
          connectMs: 0
        }),
        request: (method, params, options = {}) =>
          Effect.gen(function* () {
            yield* Ref.update(calls, (c) => [...c, { method, params, options }])
            const handler = handlers[method]
            if (!handler) return yield* GatewayError.invalidRequest(`unknown method: ${method}`)
            return yield* handler(params, options)
          }),
        events: Stream.empty
      }
      return Context.make(GatewayClient, service).pipe(Context.add(GatewayClientCalls, calls))
    })
  )
