/**
 * The Gateway methods of the Channels service: `channels.status` (read) and
 * `send` (write). `send` is idempotent by its key: a repeated key is answered
 * with the first delivery (or waits for it), never sent again, for as long as
 * the key is remembered (the last SEND_DEDUPE_MAX keys, SEND_DEDUPE_TTL_MS).
 */
import { Deferred, Effect, Exit } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { ChannelMethods } from "../../protocol/methods.js"
import { Channels, type ChannelError, type ChannelStatus } from "../../services/Channels.js"
import { serve } from "../../services/Dispatcher.js"
import { WEBCHAT_CHANNEL } from "../ChannelsLive.js"

export const SEND_DEDUPE_MAX = 1000
export const SEND_DEDUPE_TTL_MS = 10 * 60_000

type SendResult = ChannelMethods.SendResult

/** A ChannelError as the wire error: a caller mistake is INVALID_REQUEST, a channel that cannot deliver now is UNAVAILABLE. */
export const channelErrorToGateway = (e: ChannelError): GatewayError => {
  const details = { code: `CHANNEL_${e.reason.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()}`, channel: e.channel }
  return e.reason === "Transport" ? GatewayError.unavailable(e.message, details) : GatewayError.invalidRequest(e.message, details)
}

/** One line per channel, as OpenClaw's `status` reports them in `channelSummary`: "Telegram: running (@bot)". */
export const channelSummary = (list: ReadonlyArray<ChannelStatus>): Array<string> =>
  list.map((c) => {
    const state = !c.configured ? "not configured" : !c.enabled ? "disabled" : c.state
    const error = c.state === "error" && c.lastError ? ` (last error: ${c.lastError.message})` : ""
    return `${c.label}: ${state}${c.account ? ` ${c.account}` : ""}${error}`
  })

export const channelMethods = Effect.gen(function* () {
  const channels = yield* Channels
  const sent = new Map<string, { readonly at: number; readonly result: Deferred.Deferred<SendResult, GatewayError> }>()

  const remember = (key: string, result: Deferred.Deferred<SendResult, GatewayError>) => {
    const now = Date.now()
    for (const [k, v] of sent) {
      if (sent.size < SEND_DEDUPE_MAX && now - v.at < SEND_DEDUPE_TTL_MS) break
      sent.delete(k) // oldest first (a Map keeps insertion order)
    }
    sent.set(key, { at: now, result })
  }

  /** The channel to use when the caller names none: the only one configured, else an error naming the choices. */
  const defaultChannel = Effect.gen(function* () {
    const list = (yield* channels.status).filter((c) => c.id !== WEBCHAT_CHANNEL && c.enabled)
    const [only] = list
    if (only !== undefined && list.length === 1) return only.id
    return yield* GatewayError.invalidRequest(
      list.length === 0
        ? "no messaging channel is configured to send through (set channels.telegram.botToken and channels.telegram.allowFrom)"
        : `several channels are configured: name one with channel (${list.map((c) => c.id).join(", ")})`,
      { code: "CHANNEL_REQUIRED", channels: list.map((c) => c.id) }
    )
  })

  return [
    serve(ChannelMethods.ChannelsStatus, () =>
      Effect.map(channels.status, (list) => ({
        ts: Date.now(),
        channels: list,
        channelOrder: list.map((c) => c.id),
        channelLabels: Object.fromEntries(list.map((c) => [c.id, c.label]))
      }))
    ),

    serve(ChannelMethods.Send, (p) =>
      Effect.gen(function* () {
        const known = sent.get(p.idempotencyKey)
        if (known) return yield* Deferred.await(known.result)
        const result = yield* Deferred.make<SendResult, GatewayError>()
        remember(p.idempotencyKey, result)
        const exit = yield* Effect.exit(
          Effect.gen(function* () {
            const channel = p.channel ?? (yield* defaultChannel)
            const delivery = yield* channels.send({ channel, to: p.to, message: p.message }).pipe(Effect.mapError(channelErrorToGateway))
            yield* Effect.logInfo(`send: ${delivery.messageIds.length} message(s) to ${channel}:${p.to} (key ${p.idempotencyKey})`)
            return {
              runId: p.idempotencyKey,
              messageId: delivery.messageIds[0] ?? "",
              messageIds: delivery.messageIds,
              channel,
              to: p.to
            } satisfies SendResult
          })
        ).pipe(
          // The caller went away (or the Gateway is stopping): whoever waits on the key is told, and the key is free again.
          Effect.onInterrupt(() => Effect.sync(() => sent.delete(p.idempotencyKey)).pipe(Effect.zipRight(Deferred.interrupt(result))))
        )
        // A failure is forgotten, so the caller may retry with the same key; a success is remembered.
        if (Exit.isFailure(exit)) sent.delete(p.idempotencyKey)
        yield* Deferred.done(result, exit)
        return yield* exit
      })
    )
  ]
})
