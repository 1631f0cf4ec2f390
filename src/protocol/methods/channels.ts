/** The messaging channels: `channels.status` (operator.read) and `send` (operator.write, idempotent by its key). */
import { Schema } from "effect"
import { method, requiresScope } from "../method.js"
import { Name, NonEmpty, opt, Strings } from "./common.js"
import { ChannelState } from "./core.js"

export const ChannelsStatus = method("channels.status", {
  requires: requiresScope("operator.read"),
  params: Schema.Struct({ probe: opt(Schema.Boolean), timeoutMs: opt(Schema.Number) }),
  result: Schema.Struct({
    ts: Schema.Number,
    channels: Schema.Array(ChannelState),
    channelOrder: Strings,
    channelLabels: opt(Schema.Record({ key: Schema.String, value: Schema.String }))
  })
})

export const SendResult = Schema.Struct({
  runId: Schema.String,
  messageId: Schema.String,
  messageIds: opt(Strings),
  channel: Schema.String,
  to: Schema.String
})
export type SendResult = typeof SendResult.Type

export const Send = method("send", {
  requires: requiresScope("operator.write"),
  // Recipients, channels and keys are kept (the dedupe cache) and logged: bounded. The message is split to the channel's size.
  params: Schema.Struct({ to: Name, message: NonEmpty, channel: opt(Name), accountId: opt(Name), idempotencyKey: Name }),
  result: SendResult
})
