/**
 * Channels over the registered adapters: `send` goes to the adapter of that
 * id, `status` lists every adapter's state plus the web chat, which has no
 * adapter (it is the Gateway's own `chat.*` methods, so it runs whenever the
 * Gateway does).
 */
import { Effect, Layer } from "effect"
import { ChannelAdapters, ChannelError, Channels, type ChannelStatus } from "../services/Channels.js"

export const WEBCHAT_CHANNEL = "webchat"

/** Channels this Gateway has an adapter for, configured or not (for error messages). */
const SUPPORTED = ["telegram"] as const

const webchatStatus: ChannelStatus = {
  id: WEBCHAT_CHANNEL,
  label: "Web chat",
  configured: true,
  enabled: true,
  state: "running",
  mode: "gateway"
}

export const makeChannels = Effect.gen(function* () {
  const { adapters } = yield* ChannelAdapters
  const byId = new Map(adapters.map((a) => [a.id, a]))

  const send = (options: { readonly channel: string; readonly to: string; readonly message: string }) => {
    const adapter = byId.get(options.channel)
    if (adapter) return adapter.send(options.to, options.message)
    const known = [...byId.keys()]
    const knownText = known.length ? known.join(", ") : "none is configured"
    if (options.channel === WEBCHAT_CHANNEL) {
      return Effect.fail(
        new ChannelError({
          channel: WEBCHAT_CHANNEL,
          reason: "Refused",
          message:
            "webchat is not a send target: it is the Gateway's own chat (chat.send, chat.history), whose replies reach " +
            `connected clients as chat events; send through a messaging channel instead (${knownText})`
        })
      )
    }
    if ((SUPPORTED as ReadonlyArray<string>).includes(options.channel)) {
      return Effect.fail(
        new ChannelError({
          channel: options.channel,
          reason: "NotConfigured",
          message: `${options.channel} is not configured: set channels.${options.channel}.botToken (or TELEGRAM_BOT_TOKEN) and channels.${options.channel}.allowFrom, then restart the Gateway`
        })
      )
    }
    return Effect.fail(
      new ChannelError({
        channel: options.channel,
        reason: "UnknownChannel",
        message: `unknown channel "${options.channel}" (configured: ${knownText})`
      })
    )
  }

  const status = Effect.map(
    Effect.forEach(adapters, (a) => a.status),
    (list): ReadonlyArray<ChannelStatus> => [...list, webchatStatus]
  )

  const probe = (timeoutMs: number) =>
    Effect.map(
      Effect.forEach(adapters, (a) => (a.probe ? a.probe(timeoutMs) : a.status), { concurrency: "unbounded" }),
      (list): ReadonlyArray<ChannelStatus> => [...list, webchatStatus]
    )

  const watch = (notify: Effect.Effect<void>) =>
    Effect.forEach(adapters, (a) => (a.watch ? a.watch(notify) : Effect.void), { discard: true })

  return Channels.of({
    status: Effect.withSpan(status, "Channels.status"),
    probe: (timeoutMs) => Effect.withSpan(probe(timeoutMs), "Channels.probe", { attributes: { timeoutMs } }),
    watch,
    send: (options) =>
      Effect.withSpan(send(options), "Channels.send", {
        attributes: { channel: options.channel.slice(0, 40), chars: options.message.length }
      })
  })
})

/** Channels routing through ChannelAdapters. */
export const ChannelsLive = Layer.effect(Channels, makeChannels)
