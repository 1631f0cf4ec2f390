/** `clawgate sessions` and `clawgate node run` (the node host). */
import * as os from "node:os"
import * as path from "node:path"
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { resolveTarget, TargetError } from "../config/target.js"
import { GatewayConnectorRemote } from "../layers/GatewayClientRemote.js"
import { ConfigStore } from "../services/Config.js"
import { GatewayClientError } from "../services/GatewayClient.js"
import { UsageError } from "../programs/errors.js"
import { secretFlag } from "../programs/secretFlags.js"
import { renderHistory, renderReset, renderSessions, sessionsList, sessionsReset, sessionsShow } from "../programs/sessions.js"
import { clientOptions, configLayer, localTls, output, withClient } from "./shared.js"

export const sessionRef = Args.text({ name: "key" }).pipe(
  Args.withDescription("Session key (agent:main:main), main, or the unique end of a key (telegram:42)")
)
export const limit = (what: string) => Options.integer("limit").pipe(Options.withDescription(what), Options.optional)

export const sessionsCommand = Command.make("sessions").pipe(
  Command.withDescription("List, show and reset the Gateway's sessions"),
  Command.withSubcommands([
    Command.make(
      "list",
      {
        search: Options.text("search").pipe(
          Options.withDescription("Only sessions whose key, label, channel or peer contains this"),
          Options.optional
        ),
        limit: limit("At most this many sessions (most recently updated first)"),
        ...clientOptions
      },
      (opts) =>
        withClient(
          opts,
          ["sessions.list"],
          sessionsList({ search: Option.getOrUndefined(opts.search), limit: Option.getOrUndefined(opts.limit) }),
          renderSessions
        )
    ).pipe(Command.withDescription("Sessions, most recently updated first, with their message count and last message")),
    Command.make("show", { key: sessionRef, limit: limit("Only the newest N entries (default 200)"), ...clientOptions }, (opts) =>
      withClient(opts, ["sessions.list", "chat.history"], sessionsShow(opts.key, Option.getOrUndefined(opts.limit)), renderHistory)
    ).pipe(Command.withDescription("A session's transcript: time, role and text; tool calls with their name and params")),
    Command.make("reset", { key: sessionRef, ...clientOptions }, (opts) =>
      withClient(opts, ["sessions.list", "sessions.reset"], sessionsReset(opts.key), renderReset)
    ).pipe(Command.withDescription("Start the session over with an empty transcript (the old one is kept in the store)"))
  ])
)

export const nodeRunCommand = Command.make(
  "run",
  {
    name: Options.text("name").pipe(Options.withDescription("How this node is shown (default: host name)"), Options.optional),
    allowlist: Options.text("allowlist").pipe(
      Options.withDescription("system.run allowlist file (default <state dir>/node/exec-allowlist.json)"),
      Options.optional
    ),
    ...clientOptions
  },
  (opts) =>
    output(
      Effect.gen(function* () {
        const config = yield* ConfigStore
        const cfg = yield* config.current
        const { DeviceIdentityFile, makeDeviceIdentity } = yield* Effect.promise(() => import("../layers/DeviceIdentityFile.js"))
        const url = Option.getOrUndefined(opts.url)
        // A node host runs for days: a secret in its command line sits in the process list as long.
        const token = yield* secretFlag("token", opts.token, opts.tokenFile, true)
        const password = yield* secretFlag("password", opts.password, opts.passwordFile, true)
        // After pairing, a node may connect with its device token alone: --url without --token.
        const stored =
          url !== undefined && token === undefined && password === undefined
            ? yield* Effect.flatMap(makeDeviceIdentity(config.paths.stateDir), (id) => id.tokenFor(url, "node")).pipe(
                Effect.orElseSucceed(() => undefined)
              )
            : undefined
        const target = yield* Effect.try({
          try: () =>
            stored && url
              ? {
                  ...resolveTarget(
                    {
                      url,
                      token: "(device token)",
                      tlsFingerprint: Option.getOrUndefined(opts.tlsFingerprint),
                      allowInsecure: opts.allowInsecure
                    },
                    cfg,
                    config.env
                  ),
                  token: undefined,
                  authSource: "the stored device token"
                }
              : resolveTarget(
                  { url, token, password, tlsFingerprint: Option.getOrUndefined(opts.tlsFingerprint), allowInsecure: opts.allowInsecure },
                  cfg,
                  config.env
                ),
          catch: (e) => new GatewayClientError({ reason: "Target", message: e instanceof TargetError ? e.message : String(e) })
        })
        const { runNodeHost } = yield* Effect.promise(() => import("../programs/nodeHost.js"))
        const { defaultAllowlistPath, NodeCommandsLocal } = yield* Effect.promise(() => import("../layers/nodes/NodeCommandsLocal.js"))
        const timeout = Option.getOrUndefined(opts.timeout)
        return yield* runNodeHost({
          target: yield* localTls(target, cfg, config.paths.stateDir),
          ...(Option.isSome(opts.name) ? { name: opts.name.value } : { name: os.hostname() }),
          ...(timeout !== undefined ? { connectTimeoutMs: timeout } : {})
        }).pipe(
          Effect.provide(DeviceIdentityFile(config.paths.stateDir)),
          Effect.provide(
            NodeCommandsLocal({
              allowlistPath: Option.isSome(opts.allowlist)
                ? path.resolve(opts.allowlist.value)
                : defaultAllowlistPath(config.paths.stateDir)
            })
          ),
          Effect.provide(GatewayConnectorRemote),
          Effect.mapError((e) => (e instanceof Error && e.name === "DeviceIdentityError" ? new UsageError({ message: e.message }) : e))
        )
      }).pipe(Effect.provide(configLayer)),
      opts.json,
      () => ""
    )
).pipe(
  Command.withDescription(
    "Run this machine as a node: serve system.info, system.notify, system.which, system.run.prepare and allowlisted system.run"
  )
)

export const nodeCommand = Command.make("node").pipe(
  Command.withDescription("Run a node host on this machine"),
  Command.withSubcommands([nodeRunCommand])
)
