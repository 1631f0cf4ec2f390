/** Config held in memory: for tests and for embedding without a file. */
import { Effect, Either, Layer, Ref } from "effect"
import { configHash } from "../config/hash.js"
import { formatIssues, validateConfig } from "../config/schema.js"
import { ConfigStore, ConfigError, type ConfigEnv, type ConfigService } from "../services/Config.js"

/** The state dir of a config held in memory when none is given: nothing is written for it. */
export const MEMORY_STATE_DIR = "(memory)"

export const makeConfigMemory = (
  initial: Record<string, unknown> = {},
  options: { readonly env?: ConfigEnv; readonly stateDir?: string } = {}
): Effect.Effect<ConfigService> =>
  Effect.gen(function* () {
    const raw = yield* Ref.make(initial)
    const path = "(memory)"
    const validate = (value: Record<string, unknown>) =>
      Either.mapLeft(
        validateConfig(value),
        (issues) => new ConfigError({ reason: "Invalid", path, issues, message: `invalid config:\n${formatIssues(issues)}` })
      )
    const load = Effect.flatMap(Ref.get(raw), (value) => Either.map(validate(value), (config) => ({ exists: true, raw: value, config })))
    return {
      paths: { configPath: path, stateDir: options.stateDir ?? MEMORY_STATE_DIR, configPathSource: "default" },
      env: options.env ?? {},
      load,
      current: Effect.map(load, (s) => s.config),
      snapshot: Effect.map(
        Effect.orElseSucceed(load, () => ({ config: {} })),
        (s) => s.config
      ),
      update: (edit, options = {}) =>
        Effect.gen(function* () {
          const current = yield* Ref.get(raw)
          if (options.baseHash !== undefined && configHash(current) !== options.baseHash) {
            return yield* new ConfigError({
              reason: "Changed",
              path,
              hash: configHash(current),
              message: "refused: the config changed since it was read (nothing was written); read it again and retry"
            })
          }
          const next = edit(current)
          const config = yield* validate(next)
          yield* Ref.set(raw, next)
          return config
        })
    } satisfies ConfigService
  })

export const ConfigMemory = (initial: Record<string, unknown> = {}, options: { readonly env?: ConfigEnv } = {}) =>
  Layer.effect(ConfigStore, makeConfigMemory(initial, options))
