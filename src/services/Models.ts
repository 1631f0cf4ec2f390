/**
 * Models: turns the configured model reference (`agents.defaults.model.primary`,
 * `<provider>/<model>`) into an `@effect/ai` LanguageModel. Providers are
 * `models.providers.<name>` (an OpenAI-compatible endpoint or Anthropic's API)
 * and the built-in `offline` one, which needs no network: it is the default, so
 * a new Gateway's first `clawgate gateway agent --message hi` answers.
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import { Context, type Effect } from "effect"
import type { GatewayError } from "../protocol/errors.js"

export const DEFAULT_MODEL_REF = "offline/clawgate-offline"

export interface ResolvedModel {
  /** `<provider>/<model>` as configured. */
  readonly ref: string
  readonly provider: string
  readonly model: string
  readonly api: "offline" | "openai-completions" | "anthropic-messages"
  readonly languageModel: LanguageModel.Service
}

export interface ModelsService {
  /** The model for `ref` (default: the configured primary model), as the config says now. */
  readonly resolve: (ref?: string) => Effect.Effect<ResolvedModel, GatewayError>
}

export class Models extends Context.Tag("clawgate/Models")<Models, ModelsService>() {}
