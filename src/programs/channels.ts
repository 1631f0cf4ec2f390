/**
 * `clawgate channels status` and `clawgate gateway send`: written against
 * GatewayClient, so they work against a local or a remote Gateway alike.
 */
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { ChannelMethods, type ResultOf } from "../protocol/methods.js"
import { GatewayClient } from "../services/GatewayClient.js"
import { UsageError } from "./errors.js"
import { formatDuration } from "./render.js"

export type ChannelsStatusResult = ResultOf<typeof ChannelMethods.ChannelsStatus>

export const channelsStatus = Effect.flatMap(GatewayClient, (c) => c.call(ChannelMethods.ChannelsStatus, {}))

export interface SendOptions {
  readonly to: string
  readonly message: string
  readonly channel?: string | undefined
  readonly idempotencyKey?: string | undefined
}

export type SendResult = ChannelMethods.SendResult

export const gatewaySend = (options: SendOptions) =>
  Effect.gen(function* () {
    if (options.to.trim() === "") return yield* new UsageError({ message: "--to must name a recipient (a Telegram chat id)" })
    if (options.message.trim() === "") return yield* new UsageError({ message: "--message must not be empty" })
    const client = yield* GatewayClient
    return yield* client.call(ChannelMethods.Send, {
      to: options.to,
      message: options.message,
      ...(options.channel !== undefined ? { channel: options.channel } : {}),
      idempotencyKey: options.idempotencyKey ?? randomUUID()
    })
  })

const ago = (ts: number | undefined, now: number) => (ts === undefined ? "never" : `${formatDuration(now - ts)} ago`)

export const renderChannels = (r: ChannelsStatusResult): string => {
  const now = r.ts
  const lines: Array<string> = []
  for (const c of r.channels) {
    const state = !c.configured ? "not configured" : !c.enabled ? "disabled" : c.state
    const facts = [c.mode, c.account].filter((f): f is string => typeof f === "string" && f !== "")
    lines.push(`${c.label} (${c.id}): ${state}${facts.length ? ` · ${facts.join(" · ")}` : ""}`)
    if (c.id !== "webchat" && c.configured) {
      lines.push(`  last inbound ${ago(c.lastInboundAt, now)} · last outbound ${ago(c.lastOutboundAt, now)}`)
    }
    if (c.lastError) lines.push(`  last error (${ago(c.lastError.at, now)}): ${c.lastError.message}`)
  }
  if (!r.channels.some((c) => c.id !== "webchat" && c.configured)) {
    lines.push("No messaging channel is configured: see docs/channels.md (channels.telegram.botToken, channels.telegram.allowFrom).")
  }
  return lines.join("\n")
}

export const renderSend = (r: SendResult): string => {
  const count = r.messageIds?.length ?? 1
  return `sent to ${r.channel}:${r.to}${count > 1 ? ` in ${count} messages` : ""} (message id ${r.messageId})`
}
