/**
 * `clawgate channels`, `gateway send` and `clawgate config`, and the `gateway` group itself.
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { configGet, configPath, configSet, configUnset } from "../programs/config.js"
import { renderValue } from "../programs/render.js"
import { channelsStatus, gatewaySend, renderChannels, renderSend } from "../programs/channels.js"
import { json, clientOptions, configLayer, output, withClient } from "./shared.js"
import { healthCommand, gatewayStatusCommand, callCommand, runCommand, tlsCommand, agentCommand } from "./gateway.js"
import { installCommand, restartCommand, startCommand, stopCommand, uninstallCommand } from "./service.js"

// ---------------------------------------------------------------------------
// Channels

export const sendCommand = Command.make(
  "send",
  {
    to: Options.text("to").pipe(Options.withDescription("Recipient on the channel: a Telegram chat id")),
    message: Options.text("message").pipe(
      Options.withAlias("m"),
      Options.withDescription("The text to send (split to the channel's size limit)")
    ),
    channel: Options.text("channel").pipe(
      Options.withDescription("Channel to send through, e.g. telegram (default: the only one configured)"),
      Options.optional
    ),
    idempotencyKey: Options.text("idempotency-key").pipe(
      Options.withDescription("Retries with the same key send once (default: a new key)"),
      Options.optional
    ),
    ...clientOptions
  },
  (opts) =>
    withClient(
      opts,
      ["send"],
      gatewaySend({
        to: opts.to,
        message: opts.message,
        channel: Option.getOrUndefined(opts.channel),
        idempotencyKey: Option.getOrUndefined(opts.idempotencyKey)
      }),
      renderSend
    )
).pipe(Command.withDescription("Send a message through a channel (Telegram) from the Gateway's bot"))

export const channelsCommand = Command.make("channels").pipe(
  Command.withDescription("The Gateway's messaging channels"),
  Command.withSubcommands([
    Command.make("status", clientOptions, (opts) => withClient(opts, ["channels.status"], channelsStatus, renderChannels)).pipe(
      Command.withDescription("Each channel's state, mode, bot account, last activity and last error")
    )
  ])
)

export const gatewayCommand = Command.make("gateway").pipe(
  Command.withDescription("Run or query a Gateway"),
  Command.withSubcommands([
    runCommand,
    gatewayStatusCommand,
    healthCommand("health"),
    callCommand,
    agentCommand,
    sendCommand,
    tlsCommand,
    installCommand,
    uninstallCommand,
    startCommand,
    stopCommand,
    restartCommand
  ])
)

export const configCommand = Command.make("config").pipe(
  Command.withDescription("Read and edit the config file"),
  Command.withSubcommands([
    Command.make(
      "get",
      {
        key: Args.text({ name: "key" }).pipe(Args.withDescription("Dotted key, e.g. gateway.port"), Args.optional),
        showSecrets: Options.boolean("show-secrets").pipe(Options.withDescription("Print secrets instead of redacting them")),
        json
      },
      (opts) =>
        output(
          configGet(Option.getOrUndefined(opts.key), opts.showSecrets).pipe(
            Effect.tap((r) => Effect.sync(() => void (r.set ? undefined : (process.exitCode = 1)))),
            Effect.provide(configLayer)
          ),
          opts.json,
          (r) => (r.set ? renderValue(r.value) : `${r.key} is not set`)
        )
    ).pipe(Command.withDescription("Print the config, or one key (secrets redacted)")),
    Command.make("set", { pairs: Args.text({ name: "key value" }).pipe(Args.repeated), json }, (opts) =>
      output(configSet(opts.pairs).pipe(Effect.provide(configLayer)), opts.json, (r) => `updated ${r.path}: ${r.set.join(", ")}`)
    ).pipe(Command.withDescription("Set one or more keys: config set KEY VALUE [KEY VALUE ...]")),
    Command.make("unset", { keys: Args.text({ name: "key" }).pipe(Args.repeated), json }, (opts) =>
      output(configUnset(opts.keys).pipe(Effect.provide(configLayer)), opts.json, (r) =>
        [r.unset.length ? `removed from ${r.path}: ${r.unset.join(", ")}` : "", r.notSet.length ? `not set: ${r.notSet.join(", ")}` : ""]
          .filter(Boolean)
          .join("\n")
      )
    ).pipe(Command.withDescription("Remove one or more keys")),
    Command.make("path", { json }, (opts) => output(configPath.pipe(Effect.provide(configLayer)), opts.json, (r) => r.path)).pipe(
      Command.withDescription("Print the config file's path")
    )
  ])
)
