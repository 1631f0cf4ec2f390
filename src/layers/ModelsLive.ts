/**
 * Models from the config: `agents.defaults.model.primary` ("<provider>/<model>")
 * and `models.providers.<provider>`, read again on every `resolve`, so an edit
 * applies to the next run.
 *
 * - `offline/...`: the built-in offline model (no network; the default).
 * - `api: "openai-completions"`: any Chat Completions server (llama.cpp,
 *   Ollama, vLLM, LM Studio, OpenAI, ...) at `baseUrl` (with its `/v1`).
 * - `api: "anthropic-messages"`: Anthropic's Messages API through
 *   `@effect/ai-anthropic` (`baseUrl` defaults to https://api.anthropic.com).
 *
 * Keys: `models.providers.<name>.apiKey`, else `OPENAI_API_KEY` /
 * `ANTHROPIC_API_KEY` from the environment, but those only ever go to
 * api.openai.com / api.anthropic.com: a user's OpenAI key is not sent to
 * whatever server a provider points at. Local servers need no key.
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import { HttpClient } from "@effect/platform"
import { Effect, Layer, Redacted, String as Str } from "effect"
import type { ClawgateConfig } from "../config/schema.js"
import { GatewayError } from "../protocol/errors.js"
import { ConfigStore } from "../services/Config.js"
import { DEFAULT_MODEL_REF, Models, type ModelsService, type ResolvedModel } from "../services/Models.js"

// The providers (and @effect/ai under them) are loaded on first use: a Gateway that never runs
// the agent does not pay for them at start or in memory.
const OFFLINE_PROVIDER = "offline"
const offlineModule = () => import("./ModelOffline.js")
const openAiCompatModule = () => import("./ModelOpenAiCompat.js")

export const OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
export const ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"

type Env = Readonly<Record<string, string | undefined>>
type ProviderConfig = NonNullable<NonNullable<NonNullable<ClawgateConfig["models"]>["providers"]>[string]>

const hostOf = (url: string) => {
  try {
    return new URL(url).hostname.toLowerCase()
  } catch {
    return ""
  }
}

const invalid = (message: string, key: string) => GatewayError.invalidRequest(message, { key })

/** A provider's base URL, checked: http(s) only. */
const checkUrl = (url: string, key: string) =>
  Effect.suspend(() => {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      return Effect.fail(invalid(`${key} "${url}" is not a URL (e.g. "http://127.0.0.1:8080/v1")`, key))
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      return Effect.fail(invalid(`${key} "${url}" must be an http:// or https:// URL`, key))
    }
    return Effect.succeed(url.replace(/\/+$/, ""))
  })

export const makeModels = (env: Env = process.env): Effect.Effect<ModelsService, never, ConfigStore | HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const config = yield* ConfigStore
    const http = yield* HttpClient.HttpClient

    const openAiCompatible = (name: string, model: string, p: ProviderConfig) =>
      Effect.gen(function* () {
        const keyName = `models.providers.${name}`
        const configured = p.baseUrl ?? (name === "openai" ? OPENAI_DEFAULT_BASE_URL : undefined)
        if (configured === undefined) {
          return yield* invalid(
            `${keyName}.baseUrl is not set: the URL of the OpenAI-compatible server, with its /v1 ` +
              `(llama.cpp "http://127.0.0.1:8080/v1", Ollama "http://127.0.0.1:11434/v1", vLLM "http://127.0.0.1:8000/v1")`,
            `${keyName}.baseUrl`
          )
        }
        const baseUrl = yield* checkUrl(configured, `${keyName}.baseUrl`)
        const hosted = hostOf(baseUrl) === "api.openai.com"
        const apiKey = p.apiKey ?? (hosted ? env.OPENAI_API_KEY : undefined)
        if (hosted && !apiKey) {
          return yield* invalid(`${keyName}: api.openai.com needs a key: set ${keyName}.apiKey or OPENAI_API_KEY`, `${keyName}.apiKey`)
        }
        const { makeOpenAiCompatModel } = yield* Effect.promise(openAiCompatModule)
        return yield* makeOpenAiCompatModel({ baseUrl, model, apiKey: apiKey ? Redacted.make(apiKey) : undefined }).pipe(
          Effect.provideService(HttpClient.HttpClient, http)
        )
      })

    const anthropic = (name: string, model: string, p: ProviderConfig) =>
      Effect.gen(function* () {
        const keyName = `models.providers.${name}`
        // The client adds /v1/messages itself.
        const apiUrl = (yield* checkUrl(p.baseUrl ?? ANTHROPIC_DEFAULT_BASE_URL, `${keyName}.baseUrl`)).replace(/\/v1$/, "")
        const hosted = hostOf(apiUrl) === "api.anthropic.com"
        const apiKey = p.apiKey ?? (hosted ? env.ANTHROPIC_API_KEY : undefined)
        if (hosted && !apiKey) {
          return yield* invalid(
            `${keyName}: api.anthropic.com needs a key: set ${keyName}.apiKey or ANTHROPIC_API_KEY`,
            `${keyName}.apiKey`
          )
        }
        // Loaded on first use: the package (and its tokenizer) costs start time and memory nobody else needs.
        const { AnthropicClient, AnthropicLanguageModel } = yield* Effect.promise(() => import("@effect/ai-anthropic"))
        const client = yield* AnthropicClient.make({ apiUrl, ...(apiKey ? { apiKey: Redacted.make(apiKey) } : {}) }).pipe(
          Effect.scoped,
          Effect.provideService(HttpClient.HttpClient, http)
        )
        return yield* AnthropicLanguageModel.make({ model }).pipe(Effect.provideService(AnthropicClient.AnthropicClient, client))
      })

    const resolve = (ref?: string): Effect.Effect<ResolvedModel, GatewayError> =>
      Effect.gen(function* () {
        const cfg = yield* config.current.pipe(
          Effect.mapError((e) => GatewayError.unavailable(`the configuration cannot be read (${e.path}): ${e.message}`))
        )
        const configured = cfg.agents?.defaults?.model?.primary
        const value = ref ?? configured ?? DEFAULT_MODEL_REF
        const where = ref !== undefined ? `model "${value}"` : `agents.defaults.model.primary "${value}"`
        const slash = value.indexOf("/")
        if (slash <= 0 || slash === value.length - 1) {
          return yield* invalid(
            `${where}: expected "<provider>/<model>", e.g. "${DEFAULT_MODEL_REF}" or "ollama/llama3.2"`,
            "agents.defaults.model.primary"
          )
        }
        const provider = value.slice(0, slash)
        const model = value.slice(slash + 1)
        const base = { ref: value, provider, model }

        if (provider === OFFLINE_PROVIDER) {
          const { makeOfflineModel } = yield* Effect.promise(offlineModule)
          return { ...base, api: "offline", languageModel: yield* makeOfflineModel(model) } satisfies ResolvedModel
        }

        const providers = cfg.models?.providers ?? {}
        const p = providers[provider]
        if (p === undefined) {
          const known = Object.keys(providers)
          return yield* invalid(
            `${where}: no provider "${provider}" in models.providers ` +
              `(${known.length > 0 ? `configured: ${known.join(", ")}; ` : ""}built in: ${OFFLINE_PROVIDER})`,
            `models.providers.${provider}`
          )
        }
        if (p.models && p.models.length > 0 && !p.models.includes(model)) {
          return yield* invalid(
            `${where}: model "${model}" is not in models.providers.${provider}.models (${p.models.join(", ")})`,
            `models.providers.${provider}.models`
          )
        }
        const languageModel: LanguageModel.Service =
          p.api === "anthropic-messages" ? yield* anthropic(provider, model, p) : yield* openAiCompatible(provider, model, p)
        return { ...base, api: p.api, languageModel } satisfies ResolvedModel
      })

    return {
      resolve: (ref?: string) => Effect.withSpan(resolve(ref), "Models.resolve", { attributes: { ref: (ref ?? "default").slice(0, 120) } })
    }
  })

/** Models from the config; needs an `HttpClient` (e.g. `NodeHttpClient.layer` from @effect/platform-node). */
export const makeModelsLive = (env: Env = process.env): Layer.Layer<Models, never, ConfigStore | HttpClient.HttpClient> =>
  Layer.effect(Models, makeModels(env))

export const ModelsLive: Layer.Layer<Models, never, ConfigStore | HttpClient.HttpClient> = makeModelsLive()

/** Every ref resolves to this one model: for tests of the runner with a scripted LanguageModel. */
export const ModelsFixed = (languageModel: LanguageModel.Service, ref = "test/fixed"): Layer.Layer<Models> =>
  Layer.succeed(Models, {
    resolve: (r) => {
      const [provider, ...model] = Str.split(r ?? ref, "/")
      return Effect.succeed({ ref: r ?? ref, provider, model: model.join("/"), api: "openai-completions", languageModel })
    }
  })
