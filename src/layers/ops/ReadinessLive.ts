/**
 * Readiness in memory, and the layer that keeps the channels' checks in step
 * with their states. The probes (transport/upgrade.ts) read the snapshot on
 * every request, so it is plain data behind a synchronous read; the checks
 * are marked by the store (Database.ts), the transport once it listens
 * (GatewayServerLive.ts) and the channels (below).
 *
 * A check's error can quote a remote server (Telegram's description of a
 * refusal): it is stored bounded, with control characters escaped and
 * anything shaped like a bot token, or a Bot API URL's token segment, masked.
 */
import { Clock, Effect, Layer } from "effect"
import { printable } from "../../protocol/codec.js"
import { Channels, type ChannelStatus } from "../../services/Channels.js"
import { CheckStatus, Readiness, type ReadinessCheck, type ReadinessSnapshot, STARTUP_STAGES } from "../../services/Readiness.js"
import { WEBCHAT_CHANNEL } from "../ChannelsLive.js"

/** A check's error is cut to this many characters. */
export const MAX_CHECK_ERROR_CHARS = 200
/** Checks beyond this many are not kept (names come from code, so this is a guard, not a limit anyone meets). */
const MAX_CHECKS = 64
const MAX_NAME_CHARS = 64

/** Telegram bot tokens (`<bot id>:<secret>`) and the token segment of Bot API URLs (`/bot<token>/`). */
const TOKEN_SHAPES = [/\/bot[^/\s?#]+/gi, /\b\d{5,}:[A-Za-z0-9_-]{20,}/g]

/** An error as the probes may show it: secrets masked, control characters escaped, bounded. */
export const probeError = (text: string): string => {
  let masked = text.slice(0, MAX_CHECK_ERROR_CHARS * 4)
  for (const shape of TOKEN_SHAPES) masked = masked.replace(shape, (m) => (m.startsWith("/") ? "/bot***" : "***"))
  // Escaped first, then cut: the bound holds for what is shown.
  const escaped = printable(masked, masked.length)
  return escaped.length > MAX_CHECK_ERROR_CHARS ? `${escaped.slice(0, MAX_CHECK_ERROR_CHARS)}…` : escaped
}

export interface ReadinessOptions {
  /**
   * Start-up stages beyond the Gateway's own (store, listeners, channels): an embedding application that
   * has its own part to bring up names it here and marks it up (`Readiness.mark(name, CheckStatus.up)`).
   */
  readonly startup?: ReadonlyArray<string>
}

export const makeReadiness = (options: ReadinessOptions = {}) =>
  Effect.gen(function* () {
    const createdAt = yield* Clock.currentTimeMillis
    const stages = [...new Set([...STARTUP_STAGES, ...(options.startup ?? [])])]
    const checks = new Map<string, CheckStatus>()
    for (const stage of stages) checks.set(stage, CheckStatus.starting)
    const everUp = new Set<string>()
    let startedAt: number | undefined

    const mark = (name: string, status: CheckStatus) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          const key = name.slice(0, MAX_NAME_CHARS)
          if (!checks.has(key) && checks.size >= MAX_CHECKS) return
          checks.set(key, status._tag === "Down" ? CheckStatus.down(probeError(status.error)) : status)
          if (status._tag === "Up") everUp.add(key)
          if (startedAt === undefined && stages.every((s) => everUp.has(s))) startedAt = now
        })
      )

    const snapshot = Effect.sync((): ReadinessSnapshot => {
      const list: Array<ReadinessCheck> = [...checks].map(([name, status]) =>
        status._tag === "Up" ? { name, ok: true } : { name, ok: false, error: status._tag === "Down" ? status.error : "starting" }
      )
      const started = startedAt !== undefined
      return {
        started,
        startedAt,
        startupMs: startedAt !== undefined ? startedAt - createdAt : undefined,
        pending: stages.filter((s) => !everUp.has(s)),
        checks: list,
        ready: started && list.every((c) => c.ok)
      }
    })

    return Readiness.of({ mark, snapshot })
  })

/** Readiness kept in memory. */
export const ReadinessLive = (options: ReadinessOptions = {}) => Layer.effect(Readiness, makeReadiness(options))

/** What a channel's state says about the Gateway's readiness; undefined for a channel that is not switched on. */
export const channelCheck = (status: ChannelStatus): CheckStatus | undefined => {
  if (!status.configured || !status.enabled) return undefined
  switch (status.state) {
    case "running":
      return CheckStatus.up
    case "starting":
      return CheckStatus.starting
    case "error":
      return CheckStatus.down(status.lastError?.message ?? "error")
    default:
      return CheckStatus.down(status.state)
  }
}

/**
 * A `channel:<id>` check for every configured and enabled channel (the web chat is the Gateway itself), kept
 * in step through `Channels.watch`; the "channels" start-up stage is up once this is built, which is after the
 * channels' inbound workers were launched (Gateway.ts builds it on them). A channel that cannot reach its
 * service does not hold start-up: it makes the Gateway not ready until it does.
 */
export const ChannelsReadiness = Layer.scopedDiscard(
  Effect.gen(function* () {
    const readiness = yield* Readiness
    const channels = yield* Channels
    const sync = Effect.flatMap(channels.status, (list) =>
      Effect.forEach(
        list,
        (status) => {
          const check = status.id === WEBCHAT_CHANNEL ? undefined : channelCheck(status)
          return check ? readiness.mark(`channel:${status.id}`, check) : Effect.void
        },
        { discard: true }
      )
    )
    yield* channels.watch(sync)
    yield* sync
    yield* readiness.mark("channels", CheckStatus.up)
  })
)
