/**
 * `clawgate logs [--follow] [--limit N] [--level L] [--json]`: the Gateway's log, over `logs.tail` (local or
 * remote like every client command), or this host's log file when the local Gateway is not running.
 */
import { Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { ConfigStore } from "../services/Config.js"
import { describeFailure } from "../programs/errors.js"
import { DEFAULT_LIMIT, LOG_LEVELS, MAX_LIMIT, followLogs, showLogs } from "../programs/logs.js"
import { clientLayer, clientOptions, configLayer, stderrLogs } from "./shared.js"

const METHODS = ["logs.tail"]

export const logsCommand = Command.make(
  "logs",
  {
    ...clientOptions,
    follow: Options.boolean("follow").pipe(
      Options.withAlias("f"),
      Options.withDescription("Keep printing new lines as the Gateway writes them (Ctrl-C to stop)")
    ),
    limit: Options.integer("limit").pipe(
      Options.withDescription(`How many of the last lines to print first (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})`),
      Options.mapEffect((n) =>
        n >= 1 && n <= MAX_LIMIT
          ? Effect.succeed(n)
          : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--limit must be a whole number from 1 to ${MAX_LIMIT} (got ${n})`)))
      ),
      Options.withDefault(DEFAULT_LIMIT)
    ),
    level: Options.choice("level", LOG_LEVELS).pipe(
      Options.withDescription("Only lines at this level and above (debug, info, warn, error)"),
      Options.optional
    )
  },
  (opts) => {
    const options = { limit: opts.limit, level: Option.getOrUndefined(opts.level), json: opts.json }
    return Effect.gen(function* () {
      const config = yield* ConfigStore
      const session = clientLayer(opts, METHODS)
      if (opts.follow) return yield* followLogs(session, options)
      const { GatewayLogReader } = yield* Effect.promise(() => import("../layers/GatewayLogFile.js"))
      return yield* showLogs(options).pipe(Effect.provide(session), Effect.provide(GatewayLogReader(config.paths.stateDir)), Effect.scoped)
    }).pipe(
      Effect.provide(configLayer),
      Effect.provide(stderrLogs),
      // Lines went to stdout as they came; a failure is one message (one JSON line with --json) and an exit code.
      Effect.catchAll((e) =>
        Effect.gen(function* () {
          const failure = describeFailure(e)
          if (opts.json) yield* Console.log(JSON.stringify(failure.json))
          yield* Console.error(`error: ${failure.message}`)
          process.exitCode = failure.exitCode
        })
      )
    )
  }
).pipe(Command.withDescription("Print the Gateway's log (--follow: and new lines as they come)"))
