/**
 * Models for the Gateway: the real ModelsLive, loaded with `@effect/ai`, the
 * providers and the HTTP client on the first `resolve` (the first agent run).
 * A Gateway that never runs the agent starts without them and keeps its
 * memory for what it does.
 */
import { Effect, Layer } from "effect"
import { ConfigStore } from "../services/Config.js"
import { Models } from "../services/Models.js"

export const ModelsOnDemand: Layer.Layer<Models, never, ConfigStore> = Layer.effect(
  Models,
  Effect.gen(function* () {
    const config = yield* ConfigStore
    const load = yield* Effect.cached(
      Effect.promise(() => Promise.all([import("./ModelsLive.js"), import("@effect/platform/FetchHttpClient")])).pipe(
        Effect.flatMap(([live, fetch]) => live.makeModels().pipe(Effect.provide(fetch.layer))),
        Effect.provideService(ConfigStore, config)
      )
    )
    return Models.of({ resolve: (ref) => Effect.flatMap(load, (models) => models.resolve(ref)) })
  })
)
