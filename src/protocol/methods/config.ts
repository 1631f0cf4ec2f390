/**
 * Editing the config from a client (the Control UI's Config page, OpenClaw's
 * UI): `config.validate` (operator.read) checks a text with the Gateway's own
 * schema and start-up rules; `config.set` (operator.admin, OpenClaw's name and
 * params) writes it when nothing changed since `config.get`'s `hash`.
 * `config.get` itself is in core.ts.
 */
import { Schema } from "effect"
import { method, requiresScope } from "../method.js"
import { opt, Strings } from "./common.js"

/** A config text is at most this many bytes (UTF-8). */
export const MAX_CONFIG_TEXT_BYTES = 1024 * 1024

/** UTF-8 length of `s` without allocating (lone surrogates count as the 3 bytes of U+FFFD). */
const utf8Length = (s: string): number => {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4
      i++
    } else n += 3
  }
  return n
}

/** The config file's text, JSON5, as an editor holds it. */
export const ConfigText = Schema.String.pipe(
  // A cheap bound first (a UTF-16 unit is at least one byte), then the exact one.
  Schema.maxLength(MAX_CONFIG_TEXT_BYTES, { message: () => `must be at most ${MAX_CONFIG_TEXT_BYTES} bytes` }),
  Schema.filter((s) => utf8Length(s) <= MAX_CONFIG_TEXT_BYTES || `must be at most ${MAX_CONFIG_TEXT_BYTES} bytes (UTF-8)`)
)

/** `config.get`'s `hash`: hex SHA-256. */
export const ConfigHash = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(128, { message: () => "must be at most 128 characters" })
)

/**
 * One problem with a config, at its dotted path (`gateway.auth.token`,
 * `gateway.trustedProxies[2]`; `(root)` for the text as a whole). A text that
 * is not JSON5 has one issue at `(root)` with the `line` and `column` (from 1).
 */
export const ConfigIssue = Schema.Struct({
  path: Schema.String,
  message: Schema.String,
  line: opt(Schema.Number),
  column: opt(Schema.Number)
})
export type ConfigIssue = typeof ConfigIssue.Type

export const ConfigValidate = method("config.validate", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({ raw: ConfigText }),
  result: Schema.Struct({ ok: Schema.Boolean, issues: Schema.Array(ConfigIssue) })
})

/**
 * `config.set {raw, baseHash}`: the whole file replaced by `raw` (JSON5). A
 * secret left as `config.get`'s placeholder keeps the stored value. `baseHash`
 * is required when the file exists (as on OpenClaw). Errors: INVALID_REQUEST
 * with `details {code: "CONFIG_INVALID", issues}`, or `details {code:
 * "CONFIG_CHANGED", hash}` (the hash of the file as it is now).
 */
export const ConfigSet = method("config.set", {
  requires: requiresScope("operator.admin"),
  params: Schema.Struct({ raw: ConfigText, baseHash: opt(ConfigHash) }),
  result: Schema.Struct({
    ok: Schema.Literal(true),
    path: Schema.String,
    /** The new `config.get` hash. */
    hash: Schema.String,
    /** Some change takes effect only when the Gateway starts again (port, bind, TLS, Tailscale, limits, Telegram). */
    restartRequired: Schema.Boolean,
    /** clawgate: which of those settings changed. */
    restartPaths: opt(Strings),
    /** The config as written, secrets redacted (OpenClaw's field). */
    config: opt(Schema.Unknown)
  })
})
