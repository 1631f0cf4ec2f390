/**
 * The commands a node host serves (`system.info`, `system.notify`,
 * `system.which`, `system.run.prepare`, `system.run`), with typed params, and
 * the dispatcher the node host calls for each `node.invoke.request`.
 * `system.run` runs a program only when its exact argv is in the node's local
 * allowlist file, read on every call. `system.which` and `system.run.prepare`
 * are OpenClaw's exec preliminaries (an OpenClaw Gateway's exec tool calls
 * prepare before every `system.run` on a node): neither runs anything.
 */
import * as Command from "@effect/platform/Command"
import type { PlatformError } from "@effect/platform/Error"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { NodeCommandError, NodeCommands, type NodeCommandsService } from "../../services/NodeCommands.js"
import { Console, Duration, Effect, Either, Fiber, identity, Layer, Option, ParseResult, Schema } from "effect"
import { VERSION } from "../../version.js"
import { decodeExplained } from "../../protocol/issues.js"
import {
  CommandExecutorLive,
  describeSpawnError,
  drain,
  exitStatus,
  HeadCapture,
  startProcess,
  stopProcess
} from "../../util/childProcess.js"

// ---------------------------------------------------------------------------
// Names, errors, configuration

export const NODE_COMMANDS = ["system.info", "system.notify", "system.which", "system.run.prepare", "system.run"] as const
export type NodeCommandName = (typeof NODE_COMMANDS)[number]

export { NodeCommandError } from "../../services/NodeCommands.js"

export const DEFAULT_RUN_TIMEOUT_MS = 30_000
export const MAX_OUTPUT_BYTES = 1024 * 1024
export const KILL_GRACE_MS = 2_000

/** `<stateDir>/node/exec-allowlist.json`. */
export const defaultAllowlistPath = (stateDir: string): string => path.join(stateDir, "node", "exec-allowlist.json")

export interface NodeCommandsConfig {
  /** The `system.run` allowlist; a missing file allows nothing. */
  readonly allowlistPath: string
  /** Per-stream capture cap for `system.run` (default 1 MiB). */
  readonly maxOutputBytes?: number | undefined
  /** Between SIGTERM and SIGKILL when a run times out (default 2 s). */
  readonly killGraceMs?: number | undefined
}

// ---------------------------------------------------------------------------
// Params

const optionalNullable = <S extends Schema.Schema.Any>(s: S) => Schema.optionalWith(s, { nullable: true })

export const SystemNotifyParams = Schema.Struct({
  title: optionalNullable(Schema.String),
  body: optionalNullable(Schema.String),
  message: optionalNullable(Schema.String)
})
export type SystemNotifyParams = typeof SystemNotifyParams.Type

export const SystemRunParams = Schema.Struct({
  command: Schema.NonEmptyArray(Schema.String),
  cwd: optionalNullable(Schema.String),
  timeoutMs: optionalNullable(Schema.Number.pipe(Schema.int(), Schema.positive())),
  /** What an OpenClaw Gateway sends after `system.run.prepare`: its `argv` must be `command`. */
  systemRunPlan: optionalNullable(Schema.Struct({ argv: optionalNullable(Schema.Array(Schema.String)) }))
})
export type SystemRunParams = typeof SystemRunParams.Type

/** At most this many names per `system.which`, each at most `MAX_BIN_NAME` characters. */
export const MAX_WHICH_BINS = 64
export const MAX_BIN_NAME = 128
/** A program name as `system.which` looks it up: no path separator, not `.` or `..`. */
const BIN_NAME = /^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$/

export const SystemWhichParams = Schema.Struct({
  bins: Schema.Array(Schema.String).pipe(Schema.maxItems(MAX_WHICH_BINS, { message: () => `at most ${MAX_WHICH_BINS} names per call` }))
})
export type SystemWhichParams = typeof SystemWhichParams.Type

const Text = (max: number) => Schema.String.pipe(Schema.maxLength(max))

/** OpenClaw's `system.run.prepare` params; those clawgate has no use for (`env`, `security`, `ask`, ...) are ignored. */
export const SystemRunPrepareParams = Schema.Struct({
  command: Schema.NonEmptyArray(Schema.String),
  rawCommand: optionalNullable(Text(65_536)),
  cwd: optionalNullable(Text(4096)),
  agentId: optionalNullable(Text(200)),
  sessionKey: optionalNullable(Text(512))
})
export type SystemRunPrepareParams = typeof SystemRunPrepareParams.Type

const invalid = (command: string, message: string) =>
  new NodeCommandError({ code: "INVALID_PARAMS", message: `${command}: invalid params: ${message}` })

/** Params from whoever may invoke this node: explained within bounds (see protocol/issues), never printed in full. */
const decodeParams = <A, I>(command: string, schema: Schema.Schema<A, I>, raw: unknown) =>
  Either.match(decodeExplained(schema)(raw), {
    onLeft: (issues) =>
      Effect.fail(
        invalid(command, issues.map((issue) => `${issue.path.length ? issue.path.join(".") : "params"}: ${issue.message}`).join("; "))
      ),
    onRight: (value) => Effect.succeed(value)
  })

// ---------------------------------------------------------------------------
// system.info

export interface SystemInfo {
  readonly host: string
  readonly platform: string
  readonly arch: string
  readonly release: string
  /** The machine's uptime. */
  readonly uptimeSec: number
  readonly node: string
  readonly clawgate: string
  readonly pid: number
}

export const systemInfo: Effect.Effect<SystemInfo> = Effect.sync(() => ({
  host: os.hostname(),
  platform: process.platform,
  arch: process.arch,
  release: os.release(),
  uptimeSec: Math.round(os.uptime()),
  node: process.version,
  clawgate: VERSION,
  pid: process.pid
}))

// ---------------------------------------------------------------------------
// system.notify

const oneLine = (s: string) => s.replace(/\s*[\r\n]+\s*/g, " ").trim()

/** Shows the notification as one line on the node's terminal (stdout). */
export const systemNotify = (params: SystemNotifyParams): Effect.Effect<{ readonly shown: true }, NodeCommandError> =>
  Effect.gen(function* () {
    const text = params.body ?? params.message
    if (text === undefined) return yield* invalid("system.notify", "body: give body or message")
    const title = params.title ? oneLine(params.title) : ""
    yield* Console.log(`[notify] ${title ? `${title}: ` : ""}${oneLine(text)}`)
    return { shown: true } as const
  })

// ---------------------------------------------------------------------------
// The allowlist

export const AllowlistFile = Schema.Struct({
  version: Schema.Literal(1),
  allow: Schema.Array(Schema.NonEmptyArray(Schema.String))
})
export type AllowlistFile = typeof AllowlistFile.Type

const ALLOWLIST_EXAMPLE = '{"version":1,"allow":[["/bin/echo","hello"],["uname","-a"]]}'

/** The allowlist as it is on disk now; `undefined` when the file does not exist. */
export const readAllowlist = (file: string): Effect.Effect<AllowlistFile | undefined, NodeCommandError> =>
  Effect.gen(function* () {
    const bad = (why: string) =>
      new NodeCommandError({
        code: "ALLOWLIST_INVALID",
        message: `the system.run allowlist ${file} is malformed (${why}); expected JSON like ${ALLOWLIST_EXAMPLE}`
      })
    const text = yield* Effect.tryPromise({
      try: () => fs.readFile(file, "utf8"),
      catch: (e) => e as NodeJS.ErrnoException
    }).pipe(
      Effect.map(Option.some),
      Effect.catchAll((e) =>
        e.code === "ENOENT"
          ? Effect.succeed(Option.none<string>())
          : Effect.fail(
              new NodeCommandError({
                code: "ALLOWLIST_INVALID",
                message: `the system.run allowlist ${file} cannot be read: ${e.code ?? e.message}`
              })
            )
      )
    )
    if (Option.isNone(text)) return undefined
    const json = yield* Effect.try({ try: () => JSON.parse(text.value) as unknown, catch: (e) => bad(`not JSON: ${(e as Error).message}`) })
    return yield* Schema.decodeUnknown(AllowlistFile)(json).pipe(
      Effect.mapError((e) =>
        bad(
          ParseResult.ArrayFormatter.formatErrorSync(e)
            .map((i) => `${i.path.length ? i.path.join(".") : "top level"}: ${i.message}`)
            .join("; ")
        )
      )
    )
  })

const sameArgv = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => a.length === b.length && a.every((x, i) => x === b[i])

export const isAllowed = (allowlist: AllowlistFile | undefined, argv: ReadonlyArray<string>): boolean =>
  allowlist?.allow.some((entry) => sameArgv(entry, argv)) ?? false

// ---------------------------------------------------------------------------
// system.run

/** OpenClaw's shape. `exitCode` is absent when the program could not be started. */
export interface SystemRunResult {
  readonly exitCode?: number
  readonly timedOut: boolean
  readonly success: boolean
  readonly stdout: string
  readonly stderr: string
  readonly error: string | null
  /** stdout or stderr went past the cap and was cut. */
  readonly truncated: boolean
}

const signalNumber = (signal: string) => (os.constants.signals as Record<string, number | undefined>)[signal] ?? 0

/** Why a program could not be started, in the words a user fixes it with. */
const startError = (e: PlatformError, cwd: string | undefined): string =>
  // The executor checks the working directory before it spawns.
  e._tag === "SystemError" && e.method === "access" && cwd !== undefined
    ? e.reason === "NotFound"
      ? `cwd ${cwd} does not exist`
      : `cwd ${cwd} cannot be used: ${describeSpawnError(e)}`
    : describeSpawnError(e)

/**
 * Runs `argv` (no shell, stdin at end-of-file, in its own process group) and
 * waits for it and its output, stopping it on timeout: SIGTERM to its group,
 * SIGKILL after the grace period. Interrupted (an invoke cancelled), it is
 * stopped the same way.
 */
export const runProcess = (
  argv: readonly [string, ...Array<string>],
  options: { readonly cwd?: string | undefined; readonly timeoutMs: number; readonly maxOutputBytes: number; readonly killGraceMs: number }
): Effect.Effect<SystemRunResult> =>
  Effect.gen(function* () {
    const stdout = new HeadCapture(options.maxOutputBytes)
    const stderr = new HeadCapture(options.maxOutputBytes)
    const output = () => ({
      stdout: stdout.text(),
      stderr: stderr.text(),
      truncated: stdout.truncated || stderr.truncated
    })
    const command = Command.make(argv[0], ...argv.slice(1)).pipe(
      options.cwd !== undefined ? Command.workingDirectory(options.cwd) : identity
    )
    const started = yield* Effect.either(startProcess(command, { killGraceMs: options.killGraceMs }))
    if (Either.isLeft(started)) {
      return {
        timedOut: false,
        success: false,
        stdout: "",
        stderr: "",
        error: startError(started.left, options.cwd),
        truncated: false
      } satisfies SystemRunResult
    }
    const child = started.right
    const readers = yield* Effect.fork(
      Effect.all([drain(child.stdout, stdout.push), drain(child.stderr, stderr.push)], { concurrency: "unbounded", discard: true })
    )
    // Done when it has exited and closed both pipes.
    const finished = yield* Fiber.join(readers).pipe(
      Effect.zipRight(exitStatus(child)),
      Effect.timeoutOption(Duration.millis(options.timeoutMs))
    )
    if (Option.isNone(finished)) {
      yield* stopProcess(child, options.killGraceMs)
      // A grandchild that left the group may still hold the pipes open: stop reading them.
      yield* Fiber.interrupt(readers)
      return {
        exitCode: 124,
        timedOut: true,
        success: false,
        ...output(),
        error: `timed out after ${options.timeoutMs} ms`
      } satisfies SystemRunResult
    }
    const exit = finished.value
    const exitCode = exit.code ?? (exit.signal ? 128 + signalNumber(exit.signal) : 1)
    return {
      exitCode,
      timedOut: false,
      success: exitCode === 0,
      ...output(),
      error: exit.signal ? `killed by ${exit.signal}` : null
    } satisfies SystemRunResult
  }).pipe(Effect.scoped, Effect.provide(CommandExecutorLive))

export const deniedMessage = (argv: ReadonlyArray<string>, file: string) =>
  `SYSTEM_RUN_DENIED: ${JSON.stringify(argv)} is not in the allowlist ${file}`

/** Runs `params.command` if its exact argv is in the allowlist; the refusal is logged on stderr. */
export const systemRun = (params: SystemRunParams, config: NodeCommandsConfig): Effect.Effect<SystemRunResult, NodeCommandError> =>
  Effect.gen(function* () {
    const file = config.allowlistPath
    const allowlist = yield* readAllowlist(file).pipe(Effect.tapError((e) => Console.error(`[node] system.run refused: ${e.message}`)))
    if (!isAllowed(allowlist, params.command)) {
      const message = deniedMessage(params.command, file)
      yield* Console.error(
        `[node] system.run denied: ${JSON.stringify(params.command)} is not in ${file}` +
          (allowlist === undefined ? " (the file does not exist, so nothing is allowed)" : "")
      )
      return yield* new NodeCommandError({ code: "SYSTEM_RUN_DENIED", message })
    }
    return yield* runProcess(params.command, {
      cwd: params.cwd,
      timeoutMs: params.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS,
      maxOutputBytes: config.maxOutputBytes ?? MAX_OUTPUT_BYTES,
      killGraceMs: config.killGraceMs ?? KILL_GRACE_MS
    })
  })

// ---------------------------------------------------------------------------
// system.which

/** The absolute directories of `PATH`, in order (relative entries are skipped: they depend on a cwd). */
const pathDirs = (pathValue: string | undefined): ReadonlyArray<string> =>
  (pathValue ?? "")
    .split(path.delimiter)
    .filter((dir) => dir !== "" && path.isAbsolute(dir))
    .slice(0, 256)

const isExecutableFile = (file: string) =>
  Effect.promise(() =>
    fs
      .stat(file)
      .then((st) => (st.isFile() ? fs.access(file, fs.constants.X_OK).then(() => true) : false))
      .catch(() => false)
  )

/**
 * OpenClaw's `system.which`: `{bins: {name: path}}` for each name found as an
 * executable file in a directory of this node host's PATH (names not found are
 * left out). Only names are looked up: one with a path separator, `.`/`..`, or
 * other characters is refused, so it cannot probe anything but PATH.
 */
export const systemWhich = (
  params: SystemWhichParams,
  pathValue: string | undefined = process.env.PATH
): Effect.Effect<{ readonly bins: Record<string, string> }, NodeCommandError> =>
  Effect.gen(function* () {
    const names: Array<string> = []
    for (const [i, raw] of params.bins.entries()) {
      const name = raw.trim()
      if (name === "") continue
      if (name.length > MAX_BIN_NAME || !BIN_NAME.test(name))
        return yield* invalid(
          "system.which",
          `bins.${i}: ${JSON.stringify(name.slice(0, 40))} is not a program name (letters, digits and ._+- only, at most ${MAX_BIN_NAME}, no "/")`
        )
      if (!names.includes(name)) names.push(name)
    }
    const dirs = pathDirs(pathValue)
    const bins: Record<string, string> = {}
    for (const name of names) {
      for (const dir of dirs) {
        const candidate = path.join(dir, name)
        if (yield* isExecutableFile(candidate)) {
          bins[name] = candidate
          break
        }
      }
    }
    return { bins }
  })

// ---------------------------------------------------------------------------
// system.run.prepare

/** OpenClaw's rendering of an argv as one line (its `commandText`). */
export const formatExecCommand = (argv: ReadonlyArray<string>): string =>
  argv.map((arg) => (arg.length === 0 ? '""' : /\s|"/.test(arg) ? `"${arg.replace(/"/g, '\\"')}"` : arg)).join(" ")

export interface SystemRunPrepared {
  /** OpenClaw's approval plan: what `system.run` will be asked to run. */
  readonly plan: {
    readonly argv: ReadonlyArray<string>
    readonly cwd: string | null
    readonly commandText: string
    readonly commandPreview: string | null
    readonly agentId: string | null
    readonly sessionKey: string | null
  }
  /** This node's policy for this argv: `full` when the allowlist has it, `deny` when it does not (ask is never on). */
  readonly execPolicy: { readonly security: "full" | "deny"; readonly ask: "off" }
  /** No reusable patterns: the allowlist is exact argv. */
  readonly allowAlwaysCoverage: { readonly complete: false; readonly patterns: ReadonlyArray<never> }
  /** clawgate's: whether `system.run` would run this argv now, and why not. */
  readonly allowed: boolean
  readonly reason?: string
}

/**
 * OpenClaw's `system.run.prepare`: the plan an OpenClaw Gateway approves and
 * then sends back with `system.run`. It runs nothing: it reads the allowlist
 * (the same file, the same exact-argv rule as `system.run`) to say whether
 * the run would be allowed. `system.run` checks again when it comes.
 */
export const systemRunPrepare = (
  params: SystemRunPrepareParams,
  config: NodeCommandsConfig
): Effect.Effect<SystemRunPrepared, NodeCommandError> =>
  Effect.gen(function* () {
    const allowlist = yield* readAllowlist(config.allowlistPath)
    const allowed = isAllowed(allowlist, params.command)
    const commandText = formatExecCommand(params.command)
    const preview = params.rawCommand?.trim()
    return {
      plan: {
        argv: params.command,
        cwd: params.cwd ?? null,
        commandText,
        commandPreview: preview !== undefined && preview !== "" && preview !== commandText ? preview : null,
        agentId: params.agentId ?? null,
        sessionKey: params.sessionKey ?? null
      },
      execPolicy: { security: allowed ? "full" : "deny", ask: "off" },
      allowAlwaysCoverage: { complete: false, patterns: [] },
      allowed,
      ...(allowed ? {} : { reason: deniedMessage(params.command, config.allowlistPath) })
    }
  })

// ---------------------------------------------------------------------------
// The dispatcher

export type NodeDispatcher = NodeCommandsService["invoke"]

const parseParams = (command: string, paramsJSON: string | null | undefined) =>
  Effect.gen(function* () {
    if (paramsJSON === undefined || paramsJSON === null || paramsJSON.trim() === "") return {}
    const value = yield* Effect.try({
      try: () => JSON.parse(paramsJSON) as unknown,
      catch: () => invalid(command, "paramsJSON is not valid JSON")
    })
    if (value === null) return {}
    if (typeof value !== "object" || Array.isArray(value)) return yield* invalid(command, "params must be a JSON object")
    return value as Record<string, unknown>
  })

const notArgv = (command: string) =>
  invalid(command, `command: must be an argv array such as ["uname","-a"], not a string (no shell is used)`)

/** `(command, paramsJSON) => payload`, for the node host to call per invoke. */
export const makeDispatcher =
  (config: NodeCommandsConfig): NodeDispatcher =>
  (command, paramsJSON) =>
    Effect.gen(function* () {
      if (!(NODE_COMMANDS as ReadonlyArray<string>).includes(command)) {
        return yield* new NodeCommandError({
          code: "UNKNOWN_COMMAND",
          message: `this node does not serve ${JSON.stringify(command)}; it serves ${NODE_COMMANDS.join(", ")}`
        })
      }
      const raw = yield* parseParams(command, paramsJSON)
      switch (command as NodeCommandName) {
        case "system.info":
          return yield* systemInfo
        case "system.notify":
          return yield* systemNotify(yield* decodeParams(command, SystemNotifyParams, raw))
        case "system.which":
          return yield* systemWhich(yield* decodeParams(command, SystemWhichParams, raw))
        case "system.run.prepare": {
          if (typeof raw.command === "string") return yield* notArgv(command)
          return yield* systemRunPrepare(yield* decodeParams(command, SystemRunPrepareParams, raw), config)
        }
        case "system.run": {
          if (typeof raw.command === "string") return yield* notArgv(command)
          const params = yield* decodeParams(command, SystemRunParams, raw)
          const planned = params.systemRunPlan?.argv
          if (planned !== undefined && planned !== null && !sameArgv(planned, params.command))
            return yield* invalid(command, "systemRunPlan.argv: differs from command (run what was prepared, or send no plan)")
          return yield* systemRun(params, config)
        }
      }
    })

/** This machine's commands, system.run guarded by the allowlist at `config.allowlistPath`. */
export const NodeCommandsLocal = (config: NodeCommandsConfig) => {
  const invoke = makeDispatcher(config)
  return Layer.succeed(NodeCommands, {
    commands: NODE_COMMANDS,
    describe: `system.run allowlist: ${config.allowlistPath}`,
    invoke: (command, paramsJSON) =>
      Effect.withSpan(invoke(command, paramsJSON), "NodeCommands.invoke", { attributes: { command: command.slice(0, 80) } })
  })
}
