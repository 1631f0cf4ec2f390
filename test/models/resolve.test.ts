/** Models.resolve: the ref and the provider from the config, and errors that name the setting to fix. */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { ConfigMemory } from "../../src/layers/ConfigMemory.js"
import { makeModelsLive } from "../../src/layers/ModelsLive.js"
import { ConfigStore } from "../../src/services/Config.js"
import { Models } from "../../src/services/Models.js"

const layer = (config: Record<string, unknown>, env: Record<string, string> = {}) =>
  makeModelsLive(env).pipe(Layer.provideMerge(ConfigMemory(config)), Layer.provide(NodeHttpClient.layer))

const primary = (ref: string, providers: Record<string, unknown> = {}) => ({
  agents: { defaults: { model: { primary: ref } } },
  models: { providers }
})

const resolveError = (config: Record<string, unknown>, env: Record<string, string> = {}, ref?: string) =>
  Effect.flatMap(Models, (m) => Effect.flip(m.resolve(ref))).pipe(Effect.provide(layer(config, env)))

describe("Models.resolve", () => {
  it.effect("an unknown provider names agents.defaults.model.primary and models.providers", () =>
    Effect.gen(function* () {
      const error = yield* resolveError(primary("foo/bar", { local: { api: "openai-completions", baseUrl: "http://127.0.0.1:8080/v1" } }))
      expect(error.code).toBe("INVALID_REQUEST")
      expect(error.message).toBe(
        'agents.defaults.model.primary "foo/bar": no provider "foo" in models.providers (configured: local; built in: offline)'
      )
      expect(error.details).toEqual({ key: "models.providers.foo" })
    })
  )

  it.effect("a ref without a provider says the form it must have", () =>
    Effect.gen(function* () {
      const error = yield* resolveError(primary("gpt-4o"))
      expect(error.message).toBe(
        'agents.defaults.model.primary "gpt-4o": expected "<provider>/<model>", e.g. "offline/clawgate-offline" or "ollama/llama3.2"'
      )
      expect((yield* resolveError({}, {}, "ollama/")).message).toMatch(/^model "ollama\/": expected "<provider>\/<model>"/)
    })
  )

  it.effect("an OpenAI-compatible provider without baseUrl names models.providers.<name>.baseUrl", () =>
    Effect.gen(function* () {
      const error = yield* resolveError(primary("llama/qwen", { llama: { api: "openai-completions" } }))
      expect(error.message).toMatch(/^models\.providers\.llama\.baseUrl is not set: the URL of the OpenAI-compatible server/)
      expect(error.details).toEqual({ key: "models.providers.llama.baseUrl" })
      const bad = yield* resolveError(primary("llama/qwen", { llama: { api: "openai-completions", baseUrl: "ftp://host/v1" } }))
      expect(bad.message).toBe('models.providers.llama.baseUrl "ftp://host/v1" must be an http:// or https:// URL')
      const notUrl = yield* resolveError(primary("llama/qwen", { llama: { api: "openai-completions", baseUrl: "localhost:8080" } }))
      expect(notUrl.message).toMatch(/must be an http:\/\/ or https:\/\/ URL|is not a URL/)
    })
  )

  it.effect("hosted APIs need a key: from the provider's apiKey or the environment", () =>
    Effect.gen(function* () {
      const openai = yield* resolveError(primary("openai/gpt-4o-mini", { openai: { api: "openai-completions" } }))
      expect(openai.message).toBe(
        "models.providers.openai: api.openai.com needs a key: set models.providers.openai.apiKey or OPENAI_API_KEY"
      )
      const anthropic = yield* resolveError(primary("anthropic/claude-sonnet-4-5", { anthropic: { api: "anthropic-messages" } }))
      expect(anthropic.message).toBe(
        "models.providers.anthropic: api.anthropic.com needs a key: set models.providers.anthropic.apiKey or ANTHROPIC_API_KEY"
      )
      const withEnv = yield* Effect.flatMap(Models, (m) => m.resolve()).pipe(
        Effect.provide(layer(primary("openai/gpt-4o-mini", { openai: { api: "openai-completions" } }), { OPENAI_API_KEY: "sk-x" }))
      )
      expect(withEnv).toMatchObject({ provider: "openai", model: "gpt-4o-mini", api: "openai-completions" })
      const claude = yield* Effect.flatMap(Models, (m) => m.resolve()).pipe(
        Effect.provide(
          layer(primary("anthropic/claude-sonnet-4-5", { anthropic: { api: "anthropic-messages" } }), { ANTHROPIC_API_KEY: "sk-ant" })
        )
      )
      expect(claude).toMatchObject({ provider: "anthropic", model: "claude-sonnet-4-5", api: "anthropic-messages" })
    })
  )

  it.effect("a provider's models list restricts the model, naming models.providers.<name>.models", () =>
    Effect.gen(function* () {
      const error = yield* resolveError(
        primary("ollama/llama3", {
          ollama: { api: "openai-completions", baseUrl: "http://127.0.0.1:11434/v1", models: ["llama3.2", "qwen2.5"] }
        })
      )
      expect(error.message).toBe(
        'agents.defaults.model.primary "ollama/llama3": model "llama3" is not in models.providers.ollama.models (llama3.2, qwen2.5)'
      )
    })
  )

  it.effect("model names may contain slashes; an explicit ref wins over the config; a config edit applies to the next resolve", () =>
    Effect.gen(function* () {
      const models = yield* Models
      const config = yield* ConfigStore
      const vllm = yield* models.resolve("vllm/meta-llama/Llama-3.1-8B-Instruct")
      expect(vllm).toMatchObject({ provider: "vllm", model: "meta-llama/Llama-3.1-8B-Instruct", api: "openai-completions" })
      expect((yield* models.resolve()).api).toBe("offline")
      yield* config.update((raw) => ({ ...raw, agents: { defaults: { model: { primary: "vllm/qwen" } } } }))
      expect(yield* models.resolve()).toMatchObject({ ref: "vllm/qwen", provider: "vllm", model: "qwen" })
    }).pipe(Effect.provide(layer({ models: { providers: { vllm: { api: "openai-completions", baseUrl: "http://127.0.0.1:8000/v1" } } } })))
  )
})
