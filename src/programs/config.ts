/**
 * `clawgate config get|set|unset|path`: edits the config file through the
 * Config service, which validates every change before it writes anything.
 */
import JSON5 from "json5"
import { Array as Arr, Effect, Either } from "effect"
import { getPath, isSecretPath, redact, REDACTED, setPath, validateConfig } from "../config/schema.js"
import { ConfigStore } from "../services/Config.js"
import { UsageError } from "./errors.js"

const keyPath = (key: string): Effect.Effect<Array<string>, UsageError> => {
  const parts = key.split(".")
  return key.trim() === "" || parts.some((p) => p === "")
    ? Effect.fail(new UsageError({ message: `"${key}" is not a config key: use a dotted path such as gateway.port` }))
    : Effect.succeed(parts)
}

/**
 * A value typed on the command line: JSON5 when it parses (numbers, booleans,
 * arrays, objects), else the text itself. If the parsed form does not fit the
 * schema but the text does (a numeric token, say), the text wins.
 */
export const coerceValue = (raw: Record<string, unknown>, path: ReadonlyArray<string>, text: string): unknown => {
  let parsed: unknown = text
  try {
    parsed = JSON5.parse(text)
  } catch {
    return text
  }
  if (parsed === text) return text
  const fits = (value: unknown) => Either.isRight(validateConfig(setPath(raw, path, value)))
  if (!fits(parsed) && fits(text)) return text
  return parsed
}

export const configPath = Effect.map(ConfigStore, (c) => ({
  path: c.paths.configPath,
  stateDir: c.paths.stateDir,
  source: c.paths.configPathSource
}))

export const configGet = (key: string | undefined, showSecrets: boolean) =>
  Effect.gen(function* () {
    const config = yield* ConfigStore
    const file = yield* config.load
    if (key === undefined) return { key: null, set: true, value: showSecrets ? file.raw : redact(file.raw) }
    const path = yield* keyPath(key)
    const value = getPath(file.raw, path)
    if (value === undefined) return { key, set: false, value: null }
    const shown = showSecrets ? value : isSecretPath(path) && typeof value === "string" ? REDACTED : redact(value)
    return { key, set: true, value: shown }
  })

export const configSet = (pairs: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    if (pairs.length === 0) {
      return yield* new UsageError({ message: "config set needs at least one key and value, e.g. config set gateway.port 18790" })
    }
    // Every pair is checked before any key is: a dangling key is the first thing reported.
    const given: Array<{ key: string; text: string }> = []
    for (const [key, text] of Arr.chunksOf(pairs, 2)) {
      if (text === undefined) return yield* new UsageError({ message: `config set takes key value pairs: "${key}" has no value` })
      given.push({ key, text })
    }
    const edits = yield* Effect.forEach(given, ({ key, text }) => Effect.map(keyPath(key), (path) => ({ key, path, text })))
    const config = yield* ConfigStore
    yield* config.update((raw) => edits.reduce((acc, e) => setPath(acc, e.path, coerceValue(acc, e.path, e.text)), raw))
    return { path: config.paths.configPath, set: edits.map((e) => e.key) }
  })

export const configUnset = (keys: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    if (keys.length === 0) return yield* new UsageError({ message: "config unset needs at least one key, e.g. config unset gateway.port" })
    const paths = yield* Effect.forEach(keys, keyPath)
    const config = yield* ConfigStore
    const before = (yield* config.load).raw
    const missing = Arr.zip(keys, paths).flatMap(([key, path]) => (getPath(before, path) === undefined ? [key] : []))
    yield* config.update((raw) => paths.reduce((acc, p) => setPath(acc, p, undefined), raw))
    return { path: config.paths.configPath, unset: keys.filter((k) => !missing.includes(k)), notSet: missing }
  })
