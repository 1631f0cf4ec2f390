/**
 * GatewayClient fake for unit tests of programs: scripted handlers per
 * method, every call recorded, events pushed by the test. A method the test
 * did not script is a defect naming it (the program called something the
 * test did not expect), never a quiet error answer.
 */
import { Context, Effect, Layer, PubSub, Ref, Stream } from "effect"
import type { GatewayError } from "../protocol/errors.js"
import type { EventFrame } from "../protocol/frames.js"
import { GatewayClient, type GatewayClientService, type RequestOptions } from "../services/GatewayClient.js"
import { callThrough } from "./clientCall.js"

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

/** Pushes events to the programs under test, as the Gateway would after the handshake. */
export interface GatewayClientScriptService {
  readonly emit: (event: string, payload?: unknown) => Effect.Effect<void>
  /** Waits until `n` calls of `method` were made (a positive signal to synchronise on, instead of a sleep). */
  readonly awaitCalls: (method: string, n?: number) => Effect.Effect<ReadonlyArray<RecordedCall>>
}

export class GatewayClientScript extends Context.Tag("clawgate/test/GatewayClientScript")<
  GatewayClientScript,
  GatewayClientScriptService
>() {}

export const GatewayClientTest = (handlers: Record<string, TestHandler>) =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const calls = yield* Ref.make<ReadonlyArray<RecordedCall>>([])
      const made = yield* PubSub.unbounded<void>()
      // Replayed to late subscribers: a program's watcher that starts after the test emitted still sees it all.
      const events = yield* Effect.acquireRelease(PubSub.unbounded<EventFrame>({ replay: 1024 }), PubSub.shutdown)
      let seq = 0
      const request: GatewayClientService["request"] = (method, params, options = {}) =>
        Effect.gen(function* () {
          yield* Ref.update(calls, (c) => [...c, { method, params, options }])
          yield* PubSub.publish(made, undefined)
          const handler = Object.hasOwn(handlers, method) ? handlers[method] : undefined
          if (!handler) {
            return yield* Effect.dieMessage(
              `GatewayClientTest: the program called "${method}", which this test did not script (scripted: ${Object.keys(handlers).join(", ") || "none"})`
            )
          }
          return yield* handler(params, options)
        })
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
        request,
        call: callThrough(request),
        events: Stream.fromPubSub(events)
      }
      const callsOf = (method: string) => Effect.map(Ref.get(calls), (c) => c.filter((x) => x.method === method))
      const script: GatewayClientScriptService = {
        emit: (event, payload) => Effect.asVoid(PubSub.publish(events, { type: "event", event, payload, seq: ++seq })),
        awaitCalls: (method, n = 1) =>
          Effect.scoped(
            Effect.gen(function* () {
              const signal = yield* PubSub.subscribe(made)
              for (;;) {
                const found = yield* callsOf(method)
                if (found.length >= n) return found
                yield* signal.take
              }
            })
          )
      }
      return Context.make(GatewayClient, service).pipe(Context.add(GatewayClientCalls, calls), Context.add(GatewayClientScript, script))
    })
  )
