/**
 * The configuration file's schema. `gateway.*` keys mirror OpenClaw's. Only
 * keys that this Gateway acts on are accepted: a key that would be silently
 * ignored (say `gateway.tls.enabled` before TLS exists) is an error, so no one
 * believes they turned on a protection that is not there.
 */
import { Either, ParseResult, Predicate, Schema } from "effect"
import { addressEntryProblem } from "./addressList.js"
import { basePathProblem } from "./basePath.js"

const Port = Schema.Number.pipe(
  Schema.int({ message: () => "must be a whole number" }),
  Schema.between(1, 65535, { message: () => "must be a port number from 1 to 65535" })
)
const PositiveInt = Schema.Number.pipe(
  Schema.int({ message: () => "must be a whole number" }),
  Schema.positive({ message: () => "must be greater than 0" })
)
const NonEmpty = Schema.String.pipe(Schema.minLength(1, { message: () => "must not be empty" }))
/** An address or a CIDR, IPv4 or IPv6: refused when the config is read, not ignored when a peer connects. */
const AddressEntry = Schema.String.pipe(
  Schema.filter((entry) => addressEntryProblem(entry) ?? true, { identifier: "AddressOrCidr", description: "an IP address or CIDR" })
)

export const BindMode = Schema.Literal("loopback", "lan", "tailnet", "custom", "auto")
export type BindMode = typeof BindMode.Type

export const AuthMode = Schema.Literal("token", "password", "none")
export type AuthMode = typeof AuthMode.Type

export const RateLimitConfig = Schema.Struct({
  maxAttempts: Schema.optional(PositiveInt),
  windowMs: Schema.optional(PositiveInt),
  lockoutMs: Schema.optional(PositiveInt),
  exemptLoopback: Schema.optional(Schema.Boolean)
})

export const AuthConfig = Schema.Struct({
  mode: Schema.optional(AuthMode),
  token: Schema.optional(NonEmpty),
  password: Schema.optional(NonEmpty),
  rateLimit: Schema.optional(RateLimitConfig),
  /** Accept a verified Tailscale Serve identity on the WebSocket in place of the shared credential. */
  allowTailscale: Schema.optional(Schema.Boolean)
})

export const RemoteConfig = Schema.Struct({
  url: Schema.optional(NonEmpty),
  token: Schema.optional(NonEmpty),
  password: Schema.optional(NonEmpty),
  tlsFingerprint: Schema.optional(NonEmpty),
  /** "ssh": reach the remote Gateway's loopback port through an SSH tunnel. */
  transport: Schema.optional(Schema.Literal("direct", "ssh")),
  sshTarget: Schema.optional(NonEmpty),
  sshIdentity: Schema.optional(NonEmpty),
  sshConfig: Schema.optional(NonEmpty),
  remotePort: Schema.optional(Port)
})

export const NodesConfig = Schema.Struct({
  pairing: Schema.optional(
    Schema.Struct({
      autoApproveLocal: Schema.optional(Schema.Boolean),
      /**
       * "auto" (the default): a paired node's declared commands are invokable at once. "approve": commands a node
       * declares beyond what was approved before wait in a `node.pair.*` request (`clawgate nodes approve`).
       */
      commandApproval: Schema.optional(Schema.Literal("auto", "approve"))
    })
  ),
  commands: Schema.optional(
    Schema.Struct({
      allow: Schema.optional(Schema.Array(NonEmpty)),
      deny: Schema.optional(Schema.Array(NonEmpty))
    })
  )
})

export const TlsConfig = Schema.Struct({
  enabled: Schema.optional(Schema.Boolean),
  autoGenerate: Schema.optional(Schema.Boolean),
  certPath: Schema.optional(NonEmpty),
  keyPath: Schema.optional(NonEmpty)
})

export const TailscaleMode = Schema.Literal("off", "serve", "funnel")
export type TailscaleMode = typeof TailscaleMode.Type

export const TailscaleConfig = Schema.Struct({
  mode: Schema.optional(TailscaleMode),
  resetOnExit: Schema.optional(Schema.Boolean)
})

/** The budgets every peer is held to (docs/security.md, "Limits and budgets"). */
export const LimitsConfig = Schema.Struct({
  /** How deep objects and arrays may nest in one frame. */
  maxFrameDepth: Schema.optional(PositiveInt.pipe(Schema.lessThanOrEqualTo(1_000, { message: () => "must be at most 1000" }))),
  /** Connections from one client address that have not finished connect yet. */
  unauthenticatedPerAddress: Schema.optional(PositiveInt),
  /** Connections, from all addresses together, that have not finished connect yet. */
  unauthenticatedTotal: Schema.optional(PositiveInt),
  /** Requests one connection may have waiting for an answer. */
  maxInflightPerConnection: Schema.optional(PositiveInt),
  /** Calls refused for a missing scope or role per connection and minute before it is throttled (closed at twice this). */
  deniedCallsPerMinute: Schema.optional(PositiveInt),
  /** How often the Gateway pings every connection. */
  pingIntervalMs: Schema.optional(PositiveInt),
  /** Unanswered pings after which a connection is dropped. */
  maxMissedPongs: Schema.optional(PositiveInt)
})

/** The browser UI on the Gateway's own port (docs/control-ui.md, "Serving and CSP"). */
export const ControlUiConfig = Schema.Struct({
  /** false: nothing is served over HTTP but the probes (and routes such as Telegram's webhook). */
  enabled: Schema.optional(Schema.Boolean),
  /** The path the UI is served under: "/" (the default) or a prefix such as "/ui". */
  basePath: Schema.optional(
    Schema.String.pipe(Schema.filter((path) => basePathProblem(path) ?? true, { identifier: "BasePath", description: "a URL path" }))
  ),
  /** Browser origins allowed to open the WebSocket besides the Gateway's own. */
  allowedOrigins: Schema.optional(Schema.Array(NonEmpty)),
  /**
   * A directory of static files served instead of clawgate's own dist/ui (OpenClaw's dist/control-ui,
   * say): absolute, or relative to the config file's directory.
   */
  root: Schema.optional(NonEmpty.pipe(Schema.maxLength(4096)))
})

export const GatewayConfigSection = Schema.Struct({
  mode: Schema.optional(Schema.Literal("local", "remote")),
  port: Schema.optional(Port),
  bind: Schema.optional(BindMode),
  customBindHost: Schema.optional(NonEmpty),
  auth: Schema.optional(AuthConfig),
  remote: Schema.optional(RemoteConfig),
  trustedProxies: Schema.optional(Schema.Array(AddressEntry)),
  allowRealIpFallback: Schema.optional(Schema.Boolean),
  controlUi: Schema.optional(ControlUiConfig),
  nodes: Schema.optional(NodesConfig),
  tls: Schema.optional(TlsConfig),
  tailscale: Schema.optional(TailscaleConfig),
  handshakeTimeoutMs: Schema.optional(PositiveInt),
  tickIntervalMs: Schema.optional(PositiveInt),
  limits: Schema.optional(LimitsConfig)
})

/** A model provider: an OpenAI-compatible endpoint (llama.cpp, Ollama, vLLM, hosted) or Anthropic's API. */
export const ModelProviderConfig = Schema.Struct({
  api: Schema.Literal("openai-completions", "anthropic-messages"),
  baseUrl: Schema.optional(NonEmpty),
  apiKey: Schema.optional(NonEmpty),
  models: Schema.optional(Schema.Array(NonEmpty))
})

export const AgentsConfig = Schema.Struct({
  defaults: Schema.optional(
    Schema.Struct({
      /** `<provider>/<model>`: a key of `models.providers`, or `offline` (built in, no network). */
      model: Schema.optional(Schema.Struct({ primary: Schema.optional(NonEmpty) })),
      systemPrompt: Schema.optional(Schema.String),
      timeoutSeconds: Schema.optional(PositiveInt),
      /** Model turns (each may call tools) before a run stops. */
      maxTurns: Schema.optional(PositiveInt)
    })
  )
})

export const TelegramConfig = Schema.Struct({
  enabled: Schema.optional(Schema.Boolean),
  botToken: Schema.optional(NonEmpty),
  /** Telegram user ids, chat ids, or @usernames allowed to talk to the agent; nobody else is answered. */
  allowFrom: Schema.optional(Schema.Array(Schema.Union(NonEmpty, Schema.Number))),
  webhookUrl: Schema.optional(NonEmpty),
  webhookSecret: Schema.optional(NonEmpty),
  /** The Bot API server (default https://api.telegram.org): a self-hosted one, or a test double. */
  apiRoot: Schema.optional(NonEmpty)
})

/** The Gateway's log file, `<stateDir>/logs/gateway.log` (docs/operations.md, "Logs"); read at start. */
export const LogLevelName = Schema.Literal("debug", "info", "warn", "error")
export type LogLevelName = typeof LogLevelName.Type
export const LoggingConfig = Schema.Struct({
  /** The lowest level written (file and console); `gateway run --verbose` forces "debug". */
  level: Schema.optional(LogLevelName),
  /** The size at which gateway.log is rotated to gateway.log.1. */
  maxFileBytes: Schema.optional(
    PositiveInt.pipe(
      Schema.between(64 * 1024, 1024 * 1024 * 1024, { message: () => "must be from 65536 (64 KiB) to 1073741824 (1 GiB) bytes" })
    )
  ),
  /** How many rotated files (gateway.log.1 … .N) are kept; the oldest is deleted. 0: none kept. */
  maxFiles: Schema.optional(
    Schema.Number.pipe(
      Schema.int({ message: () => "must be a whole number" }),
      Schema.between(0, 50, { message: () => "must be from 0 to 50" })
    )
  )
})

export const ClawgateConfig = Schema.Struct({
  $schema: Schema.optional(Schema.String),
  gateway: Schema.optional(GatewayConfigSection),
  agents: Schema.optional(AgentsConfig),
  models: Schema.optional(Schema.Struct({ providers: Schema.optional(Schema.Record({ key: NonEmpty, value: ModelProviderConfig })) })),
  channels: Schema.optional(Schema.Struct({ telegram: Schema.optional(TelegramConfig) })),
  logging: Schema.optional(LoggingConfig)
})
export type ClawgateConfig = typeof ClawgateConfig.Type

/** Keys whose values are secrets: redacted by `config get` and `config.get`. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(["token", "password", "botToken", "apiKey", "secret", "webhookSecret"])
export const REDACTED = "__CLAWGATE_REDACTED__"

export interface ConfigIssue {
  readonly path: string
  readonly message: string
}

const decode = Schema.decodeUnknownEither(ClawgateConfig, { errors: "all", onExcessProperty: "error" })

/** `gateway.trustedProxies[2]`: keys joined with dots, array positions in brackets. */
const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((out, key) => (typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`), "")

const describeIssue = (issue: ParseResult.ArrayFormatterIssue): ConfigIssue => {
  const path = formatPath(issue.path) || "(root)"
  let message = issue.message
  if (issue._tag === "Unexpected") message = "is not a known setting"
  else if (issue._tag === "Missing") message = "is required"
  // Schema says `Expected "a", actual "c"`; say it the way a person would.
  message = message.replace(/^Expected (.*), actual (.*)$/s, "must be $1 (got $2)")
  return { path, message }
}

/**
 * One line per key: the members of a union (`"loopback" | "lan" | ...`)
 * come back from Schema as one issue each, plus an "undefined" one for
 * optional keys and one for every enclosing object; fold them together.
 */
const describeIssues = (issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>): Array<ConfigIssue> => {
  const described = issues.map(describeIssue).filter((i) => !/^must be undefined \(got/.test(i.message))
  const byPath = new Map<string, Array<string>>()
  for (const i of described) byPath.set(i.path, [...(byPath.get(i.path) ?? []), i.message])
  const out: Array<ConfigIssue> = []
  for (const [path, messages] of byPath) {
    // An enclosing object is reported because a key inside it failed: the key's line says it.
    if ([...byPath.keys()].some((other) => other !== path && (other.startsWith(path + ".") || other.startsWith(path + "[")))) continue
    const alternatives = messages.map((m) => /^must be (.*) \(got (.*)\)$/s.exec(m)).filter((m) => m !== null)
    const [first] = alternatives
    if (first !== undefined && alternatives.length > 1 && alternatives.length === messages.length) {
      out.push({ path, message: `must be one of ${alternatives.map((m) => m[1]).join(", ")} (got ${first[2]})` })
    } else for (const message of new Set(messages)) out.push({ path, message })
  }
  return out
}

/** Validates a parsed config file. Returns every problem, each with its dotted path. */
export const validateConfig = (raw: unknown): Either.Either<ClawgateConfig, ReadonlyArray<ConfigIssue>> =>
  Either.mapLeft(decode(raw), (error) => describeIssues(ParseResult.ArrayFormatter.formatErrorSync(error)))

export const formatIssues = (issues: ReadonlyArray<ConfigIssue>): string => issues.map((i) => `  - ${i.path}: ${i.message}`).join("\n")

/** A deep copy of the config with every secret value replaced by REDACTED. */
export const redact = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(redact)
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEYS.has(k) && typeof v === "string" ? REDACTED : redact(v)
    }
    return out
  }
  return value
}

export const getPath = (value: unknown, path: ReadonlyArray<string>): unknown => {
  let cur: unknown = value
  for (const key of path) {
    if (!Predicate.isRecord(cur)) return undefined
    cur = cur[key]
  }
  return cur
}

/** Returns a copy of `root` with `path` set to `value` (or removed when `value` is undefined). */
export const setPath = (root: unknown, path: ReadonlyArray<string>, value: unknown): Record<string, unknown> => {
  const base: Record<string, unknown> = Predicate.isRecord(root) ? { ...root } : {}
  const [head, ...rest] = path
  if (head === undefined) return base
  if (rest.length === 0) {
    if (value === undefined) delete base[head]
    else base[head] = value
    return base
  }
  const child = setPath(base[head], rest, value)
  if (value === undefined && Object.keys(child).length === 0) delete base[head]
  else base[head] = child
  return base
}

export const isSecretPath = (path: ReadonlyArray<string>): boolean => {
  const last = path[path.length - 1]
  return last !== undefined && SECRET_KEYS.has(last)
}
