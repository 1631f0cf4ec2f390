/**
 * GatewayClient in the same process as the Gateway: calls enter the same
 * Dispatcher as frames from the wire, as an operator with every scope.
 */
import { Deferred, Effect, Fiber, Layer, Option, Stream } from "effect"
import { ALL_SCOPES, DEFAULT_TICK_INTERVAL_MS, PROTOCOL_VERSION } from "../protocol/frames.js"
import { callThrough } from "./clientCall.js"
import { Dispatcher } from "../services/Dispatcher.js"
import { EventBus } from "../services/EventBus.js"
import { GatewayClient, type GatewayClientService } from "../services/GatewayClient.js"
import { VERSION } from "../version.js"

export const makeGatewayClientLocal = Effect.gen(function* () {
  const dispatcher = yield* Dispatcher
  const bus = yield* EventBus
  const connId = "in-process"

  const request: GatewayClientService["request"] = (method, params, options = {}) =>
    Effect.gen(function* () {
      // Without expectFinal, the first interim reply (e.g. `accepted`) is the answer, as over the wire.
      const first = yield* Deferred.make<unknown>()
      const ctx = {
        connId,
        role: "operator" as const,
        scopes: ALL_SCOPES,
        interim: (payload: unknown) => Deferred.succeed(first, payload).pipe(Effect.asVoid)
      }
      const run = dispatcher.dispatch(ctx, method, params)
      if (options.expectFinal) return yield* run
      // The run goes on after `accepted` is returned, as it would in the Gateway.
      const fiber = yield* Effect.forkDaemon(run)
      return yield* Effect.raceFirst(Deferred.await(first), Fiber.join(fiber))
    })

  return {
    target: { url: "in-process", urlSource: "in-process", mode: "in-process" },
    connect: Effect.succeed({
      version: VERSION,
      protocol: PROTOCOL_VERSION,
      connId,
      methods: dispatcher.methods,
      authMethod: "local",
      scopes: ALL_SCOPES,
      tickIntervalMs: DEFAULT_TICK_INTERVAL_MS,
      connectMs: 0
    }),
    request,
    call: callThrough(request),
    events: Stream.unwrapScoped(
      Effect.map(bus.subscribe, (q) =>
        Stream.fromQueue(q).pipe(
          Stream.filterMap((e) =>
            e.role === "node" || (e.connId !== undefined && e.connId !== connId)
              ? Option.none()
              : Option.some({ type: "event" as const, event: e.event, payload: e.payload })
          )
        )
      )
    )
  } satisfies GatewayClientService
})

export const GatewayClientLocal = Layer.effect(GatewayClient, makeGatewayClientLocal)
