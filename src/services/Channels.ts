/**
 * Channels: where messages come from and replies go. A port with one adapter
 * per channel (Telegram through grammy; the web chat is the Gateway's own
 * `chat.*` methods and needs no adapter). An adapter receives inbound
 * messages itself and hands them to the AgentRunner; the Channels service
 * delivers outbound text and reports each channel's state.
 */
import { Context, Data, type Effect, type Scope } from "effect"

export interface ChannelStatus {
  readonly id: string
  readonly label: string
  readonly configured: boolean
  readonly enabled: boolean
  /** "stopped" | "starting" | "running" | "error" */
  readonly state: string
  /** polling | webhook (Telegram). */
  readonly mode?: string | undefined
  /** The bot's own account (Telegram: @username) once known. */
  readonly account?: string | undefined
  readonly lastInboundAt?: number | undefined
  readonly lastOutboundAt?: number | undefined
  readonly lastError?: { readonly message: string; readonly at: number } | undefined
  /** Set by a live probe (`health {probe: true}`): whether the channel's service answered just now. */
  readonly probe?: { readonly ok: boolean; readonly ms: number; readonly error?: string | undefined; readonly at: number } | undefined
}

export class ChannelError extends Data.TaggedError("ChannelError")<{
  readonly channel: string
  readonly reason: "UnknownChannel" | "NotConfigured" | "Refused" | "Transport"
  readonly message: string
  readonly cause?: unknown
}> {}

export interface Delivery {
  readonly channel: string
  readonly to: string
  /** The channel's ids of the messages sent (a long text is split into several). */
  readonly messageIds: ReadonlyArray<string>
}

/** One channel's adapter. */
export interface ChannelAdapter {
  readonly id: string
  readonly status: Effect.Effect<ChannelStatus>
  /** Runs `notify` whenever its status may have changed, until the scope ends. */
  readonly watch?: ((notify: Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>) | undefined
  /** Asks the channel's service now (Telegram: getMe) and says how that went; bounded by `timeoutMs`. */
  readonly probe?: ((timeoutMs: number) => Effect.Effect<ChannelStatus>) | undefined
  /** Sends `text` to `to` (a chat id), split to the channel's size limit. */
  readonly send: (to: string, text: string) => Effect.Effect<Delivery, ChannelError>
}

export interface ChannelsService {
  readonly status: Effect.Effect<ReadonlyArray<ChannelStatus>>
  /** Every channel's live state: each one that can be asked is asked now, all at once, within `timeoutMs`. */
  readonly probe: (timeoutMs: number) => Effect.Effect<ReadonlyArray<ChannelStatus>>
  /** Runs `notify` whenever a channel's status may have changed, until the scope ends. */
  readonly watch: (notify: Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>
  readonly send: (options: {
    readonly channel: string
    readonly to: string
    readonly message: string
  }) => Effect.Effect<Delivery, ChannelError>
}

export class Channels extends Context.Tag("clawgate/Channels")<Channels, ChannelsService>() {}

/** The registered adapters, for the Channels service to route through. Adapter layers add to it. */
export class ChannelAdapters extends Context.Tag("clawgate/ChannelAdapters")<
  ChannelAdapters,
  { readonly adapters: ReadonlyArray<ChannelAdapter> }
>() {}
