/**
 * Config from a JSON5 file on disk: `$CLAWGATE_CONFIG_PATH`, else
 * `$CLAWGATE_STATE_DIR/clawgate.json`, else `~/.clawgate/clawgate.json`.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import JSON5 from "json5"
import { Effect, Either, Layer, Ref } from "effect"
import { configHash } from "../config/hash.js"
import { profileDefaultPort, profileFromEnv, profileStateDir } from "../config/profile.js"
import { formatIssues, validateConfig, type ClawgateConfig } from "../config/schema.js"
import { ConfigStore, ConfigError, type ConfigEnv, type ConfigFileState, type ConfigPaths, type ConfigService } from "../services/Config.js"
import { atomicWriteFile } from "../util/atomicWrite.js"

export type Env = Readonly<Record<string, string | undefined>>

/** `snapshot` looks at the file again, in the background, once it is older than this. */
const SNAPSHOT_MAX_AGE_MS = 1_000

export const resolvePaths = (env: Env, home = os.homedir()): ConfigPaths => {
  // A profile is a whole state dir of its own: it wins over CLAWGATE_STATE_DIR and CLAWGATE_CONFIG_PATH,
  // so a Gateway started with --profile can never share another's store.
  const profile = profileFromEnv(env)
  if (profile !== undefined) {
    const dir = profileStateDir(profile, home)
    return { configPath: path.join(dir, "clawgate.json"), stateDir: dir, configPathSource: "CLAWGATE_PROFILE", profile }
  }
  const stateDir = env.CLAWGATE_STATE_DIR ? path.resolve(env.CLAWGATE_STATE_DIR) : path.join(home, ".clawgate")
  if (env.CLAWGATE_CONFIG_PATH) {
    return { configPath: path.resolve(env.CLAWGATE_CONFIG_PATH), stateDir, configPathSource: "CLAWGATE_CONFIG_PATH" }
  }
  return {
    configPath: path.join(stateDir, "clawgate.json"),
    stateDir,
    configPathSource: env.CLAWGATE_STATE_DIR ? "CLAWGATE_STATE_DIR" : "default"
  }
}

const pick = (env: Env, name: string) => {
  for (const n of [`CLAWGATE_${name}`, `OPENCLAW_${name}`]) {
    const value = env[n]
    if (value !== undefined && value !== "") return { value, name: n }
  }
  return undefined
}

/** `CLAWGATE_GATEWAY_*`, with `OPENCLAW_GATEWAY_*` of the same name as a fallback. */
export const resolveEnv = (env: Env): ConfigEnv => ({
  port: pick(env, "GATEWAY_PORT"),
  token: pick(env, "GATEWAY_TOKEN"),
  password: pick(env, "GATEWAY_PASSWORD"),
  telegramBotToken: env.TELEGRAM_BOT_TOKEN ? { value: env.TELEGRAM_BOT_TOKEN, name: "TELEGRAM_BOT_TOKEN" } : undefined,
  profile: profileEnv(env)
})

const profileEnv = (env: Env): ConfigEnv["profile"] => {
  const name = profileFromEnv(env)
  return name === undefined ? undefined : { name, defaultPort: profileDefaultPort(name) }
}

const parseFile = (file: string, text: string): Either.Either<ConfigFileState, ConfigError> => {
  let raw: unknown
  try {
    raw = text.trim() === "" ? {} : JSON5.parse(text)
  } catch (e) {
    const err = e as { message?: string }
    return Either.left(
      new ConfigError({
        reason: "Parse",
        path: file,
        message: `${file} is not valid JSON5: ${err.message ?? String(e)}. Fix the file (nothing was changed).`
      })
    )
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return Either.left(new ConfigError({ reason: "Invalid", path: file, message: `${file} must hold a JSON object at the top level` }))
  }
  return Either.match(validateConfig(raw), {
    onLeft: (issues) =>
      Either.left(
        new ConfigError({
          reason: "Invalid",
          path: file,
          issues,
          message: `invalid config in ${file}:\n${formatIssues(issues)}`
        })
      ),
    onRight: (config) => Either.right({ exists: true, raw: raw as Record<string, unknown>, config })
  })
}

const ioError = (file: string, what: string) => (e: unknown) =>
  new ConfigError({ reason: "Io", path: file, message: `cannot ${what} ${file}: ${(e as Error).message ?? String(e)}` })

export const makeConfigFile = (env: Env): Effect.Effect<ConfigService> =>
  Effect.gen(function* () {
    const paths = resolvePaths(env)
    const file = paths.configPath
    // The last good read, keyed by the file's mtime and size.
    const cache = yield* Ref.make<{ key: string; config: ClawgateConfig } | undefined>(undefined)
    // One writer at a time inside this process; the rename makes each write atomic.
    const writeLock = yield* Effect.makeSemaphore(1)

    const statKey = Effect.tryPromise({
      try: () => fs.stat(file).then((s) => `${s.mtimeMs}:${s.size}:${s.ino}`),
      catch: (e) => e as NodeJS.ErrnoException
    }).pipe(
      Effect.catchIf(
        (e) => e.code === "ENOENT",
        () => Effect.succeed("missing")
      ),
      Effect.mapError(ioError(file, "read"))
    )

    const load: Effect.Effect<ConfigFileState, ConfigError> = Effect.tryPromise({
      try: () => fs.readFile(file, "utf8"),
      catch: (e) => e as NodeJS.ErrnoException
    }).pipe(
      Effect.map((text) => parseFile(file, text)),
      Effect.catchIf(
        (e): e is NodeJS.ErrnoException => (e as NodeJS.ErrnoException).code === "ENOENT",
        () => Effect.succeed(Either.right<ConfigFileState>({ exists: false, raw: {}, config: {} }))
      ),
      Effect.mapError(ioError(file, "read")),
      Effect.flatten
    )

    // The last config that validated, and when the file was last looked at.
    let lastGood: ClawgateConfig = {}
    let lastCheckedAt = 0
    const current = Effect.gen(function* () {
      lastCheckedAt = Date.now()
      const key = yield* statKey
      const cached = yield* Ref.get(cache)
      if (cached && cached.key === key) return cached.config
      const state = yield* load
      yield* Ref.set(cache, { key, config: state.config })
      lastGood = state.config
      return state.config
    })

    const snapshot = Effect.suspend(() => {
      if (Date.now() - lastCheckedAt < SNAPSHOT_MAX_AGE_MS) return Effect.succeed(lastGood)
      lastCheckedAt = Date.now()
      return Effect.as(Effect.forkDaemon(Effect.ignore(current)), lastGood)
    })

    const update: ConfigService["update"] = (edit, options = {}) =>
      Effect.gen(function* () {
        const state = yield* load.pipe(
          // An invalid (but parseable) file may still be repaired by this edit.
          Effect.catchIf(
            (e) => e.reason === "Invalid" && e.issues !== undefined,
            () =>
              Effect.tryPromise({
                try: () => fs.readFile(file, "utf8").then((t) => JSON5.parse(t) as Record<string, unknown>),
                catch: ioError(file, "read")
              }).pipe(Effect.map((raw): ConfigFileState => ({ exists: true, raw, config: {} })))
          )
        )
        if (options.baseHash !== undefined && configHash(state.raw) !== options.baseHash) {
          return yield* new ConfigError({
            reason: "Changed",
            path: file,
            hash: configHash(state.raw),
            message: `refused: ${file} changed since it was read (nothing was written); read it again and retry`
          })
        }
        const next = edit(state.raw)
        const validated = validateConfig(next)
        if (Either.isLeft(validated)) {
          return yield* new ConfigError({
            reason: "Invalid",
            path: file,
            issues: validated.left,
            message: `refused: the change would make ${file} invalid (nothing was written):\n${formatIssues(validated.left)}`
          })
        }
        yield* Effect.tryPromise({
          try: () => atomicWriteFile(file, JSON.stringify(next, null, 2) + "\n"),
          catch: ioError(file, "write")
        })
        yield* Ref.set(cache, undefined)
        // Hot paths (`snapshot`) see what was written at once, not a second later.
        lastGood = validated.right
        return validated.right
      }).pipe(writeLock.withPermits(1))

    yield* Effect.ignore(current)
    return { paths, env: resolveEnv(env), load, current, snapshot, update } satisfies ConfigService
  })

export const ConfigFileLive = (env: Env = process.env): Layer.Layer<ConfigStore> => Layer.effect(ConfigStore, makeConfigFile(env))
