/**
 * Config: where the configuration file and the state directory are, and the
 * validated configuration itself. Reads are cheap (re-parsed only when the
 * file changed), so a credential edited in the file applies to the next
 * connection without a restart; writes are validated first and atomic.
 */
import { Context, Data, type Effect } from "effect"
import type { ClawgateConfig, ConfigIssue } from "../config/schema.js"

export interface ConfigPaths {
  readonly configPath: string
  readonly stateDir: string
  /** Which setting chose the config path, for error messages. */
  readonly configPathSource: "CLAWGATE_CONFIG_PATH" | "CLAWGATE_STATE_DIR" | "CLAWGATE_PROFILE" | "default"
  /** The profile (`--profile NAME`, `CLAWGATE_PROFILE`) whose state dir this is; none for the default one. */
  readonly profile?: string | undefined
}

/** The environment variables the Gateway and CLI read, already resolved. */
export interface ConfigEnv {
  readonly port?: { readonly value: string; readonly name: string } | undefined
  readonly token?: { readonly value: string; readonly name: string } | undefined
  readonly password?: { readonly value: string; readonly name: string } | undefined
  /** `TELEGRAM_BOT_TOKEN`: used when `channels.telegram.botToken` is unset (the config wins). */
  readonly telegramBotToken?: { readonly value: string; readonly name: string } | undefined
  /** The profile and its default port (used when no flag, variable or `gateway.port` gives one). */
  readonly profile?: { readonly name: string; readonly defaultPort: number } | undefined
}

export interface ConfigFileState {
  readonly exists: boolean
  /** The file as parsed, before validation (what `set` edits). */
  readonly raw: Record<string, unknown>
  readonly config: ClawgateConfig
}

export class ConfigError extends Data.TaggedError("ConfigError")<{
  /** `Changed`: `update`'s `baseHash` is not the file's hash any more (someone else wrote it). */
  readonly reason: "Parse" | "Invalid" | "Io" | "Key" | "Changed"
  readonly path: string
  readonly message: string
  readonly issues?: ReadonlyArray<ConfigIssue>
  /** With `Changed`: the hash of the file as it is now. */
  readonly hash?: string
}> {}

export interface ConfigService {
  readonly paths: ConfigPaths
  readonly env: ConfigEnv
  /** Reads and validates the file now. A missing file is an empty config. */
  readonly load: Effect.Effect<ConfigFileState, ConfigError>
  /** The validated config, re-read only when the file changed since the last read. */
  readonly current: Effect.Effect<ClawgateConfig, ConfigError>
  /**
   * The last config that validated, without touching the disk: for hot paths
   * (a node command's policy on every invoke). It follows the file within about
   * a second; use `current` where a change must apply at once (credentials).
   */
  readonly snapshot: Effect.Effect<ClawgateConfig>
  /**
   * Applies `edit` to the raw file, validates the result and writes it
   * atomically (0600, write then rename). Nothing is written when the result is
   * invalid or the current file cannot be parsed. With `baseHash`, nothing is
   * written unless the file's hash (src/config/hash.ts, as `config.get` gives
   * it) is still that, checked under the same lock as the write (`Changed`).
   */
  readonly update: (
    edit: (raw: Record<string, unknown>) => Record<string, unknown>,
    options?: { readonly baseHash?: string | undefined }
  ) => Effect.Effect<ClawgateConfig, ConfigError>
}

/** The config store (the file, or memory in tests). Not Effect's own `Config` module, which reads the environment. */
export class ConfigStore extends Context.Tag("clawgate/ConfigStore")<ConfigStore, ConfigService>() {}
