/**
 * The composed configurations. `GatewayLive` is everything `clawgate gateway
 * run` needs; `GatewayCore` is the same minus the transport, for embedding a
 * Gateway in-process (with `GatewayClientLocal`) and for tests.
 */
import { Effect, Layer, LogLevel } from "effect"
import type { LogLevelName } from "../config/schema.js"
import { EventBusLive } from "./state/EventBusLive.js"
import { HttpRoutesLive } from "./state/HttpRoutesLive.js"
import { ConnectionHubLive } from "./state/ConnectionHubLive.js"
import { GatewayStateLive } from "./state/GatewayStateLive.js"
import { PresenceLive } from "./state/PresenceLive.js"
import { VitalsLive } from "./state/VitalsLive.js"
import { NodeRegistryLive } from "./nodes/NodeRegistryLive.js"
import { ConfigStore } from "../services/Config.js"
import type { Served } from "../services/Dispatcher.js"
import { GatewayRunFlags, type GatewayRunOptions } from "../services/GatewayServer.js"
import { HealthLive } from "./HealthLive.js"
import { AuthLive } from "./AuthLive.js"
import { ConfigFileLive, type Env } from "./ConfigFile.js"
import { MEMORY_STATE_DIR } from "./ConfigMemory.js"
import { DispatcherWith } from "./DispatcherLive.js"
import { DatabaseLive } from "./Database.js"
import { DevicesSqlLive } from "./store/DevicesSql.js"
import { BootstrapCodesMemory } from "./admission/BootstrapCodesMemory.js"
import { GatewayLogFile } from "./GatewayLogFile.js"
import { StatePermissions } from "./StatePermissions.js"
import { GatewayServerLive } from "./GatewayServerLive.js"
import { SessionsSql } from "./SessionsSql.js"
import { AgentRunnerLive } from "./AgentRunnerLive.js"
import { ModelsOnDemand } from "./ModelsOnDemand.js"
import type { Models } from "../services/Models.js"
import { ChannelsLive } from "./ChannelsLive.js"
import { TelegramAdapters, TelegramBotFromConfig } from "./TelegramBot.js"
import { TelegramPoller } from "./TelegramPoller.js"
import type { Tailscale } from "../services/Tailscale.js"
import { TailscaleCli } from "./TailscaleCli.js"
import { ControlUiAnnounce, ControlUiLive } from "./ui/ControlUiLive.js"
import { ChannelsReadiness, ReadinessLive, type ReadinessOptions } from "./ops/ReadinessLive.js"

export interface GatewayLayerOptions {
  readonly flags?: GatewayRunOptions
  /** Log to the console as well as the file (default true). */
  readonly console?: boolean
  readonly logLevel?: LogLevel.LogLevel
  /**
   * Extra methods served beside the core ones: each declared with `method(...)` (protocol/method.ts: its
   * name, requirement, params and result schemas) and served with `serve(...)`.
   */
  readonly methods?: ReadonlyArray<Served>
  /** Keep the database in memory instead of `<stateDir>/clawgate.sqlite` (tests, embedding). */
  readonly database?: "file" | "memory"
  /** The language models (default: from the config, `agents.defaults.model.primary`). Tests script one. */
  readonly models?: Layer.Layer<Models>
  /** How the Gateway reaches Tailscale (default: the `tailscale` executable on PATH). */
  readonly tailscale?: Layer.Layer<Tailscale>
  /** The Control UI's built files (default: this package's dist/ui). */
  readonly controlUiDir?: string
  /** What the probes wait for: start-up stages an embedding application adds and marks itself. */
  readonly readiness?: ReadinessOptions
}

/** The SQLite database in the state dir named by Config (or in memory), opened once the state dir is tightened. */
export const DatabaseFromConfig = (options: GatewayLayerOptions) =>
  Layer.unwrapEffect(
    Effect.map(Effect.zipRight(StatePermissions, ConfigStore), (config) =>
      // A config held in memory without a state dir gets a database in memory too, not a "(memory)" folder in the cwd.
      DatabaseLive(options.database === "memory" || config.paths.stateDir === MEMORY_STATE_DIR ? undefined : config.paths.stateDir)
    )
  )

const LEVELS: Record<LogLevelName, LogLevel.LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error
}

/**
 * The log file lives in the state dir named by Config, opened once the state dir is tightened; `logging.*`
 * sets its level and rotation (a level given by the caller, `--verbose`, wins).
 */
export const GatewayLogFromConfig = (options: GatewayLayerOptions) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const config = yield* Effect.zipRight(StatePermissions, ConfigStore)
      const logging = (yield* Effect.orElseSucceed(config.current, () => undefined))?.logging
      const level = options.logLevel ?? (logging?.level ? LEVELS[logging.level] : undefined)
      return GatewayLogFile({
        stateDir: config.paths.stateDir,
        ...(options.console !== undefined ? { console: options.console } : {}),
        ...(level ? { level } : {}),
        ...(logging?.maxFileBytes !== undefined ? { maxFileBytes: logging.maxFileBytes } : {}),
        ...(logging?.maxFiles !== undefined ? { maxFiles: logging.maxFiles } : {})
      })
    })
  )

/** Every Gateway service but the transport; needs Config. */
export const GatewayCore = (options: GatewayLayerOptions = {}) => {
  const permissions = StatePermissions.Default
  // What /startupz and /readyz answer: marked by the store, the channels below and the transport once it listens.
  const readiness = ReadinessLive(options.readiness)
  const logged = GatewayLogFromConfig(options).pipe(Layer.provide(permissions))
  // Channels: the Telegram adapter (channels.telegram, read at start; no adapter when unset) and the web chat.
  // Its inbound worker (`telegramInbound` below) needs the AgentRunner, which delivers replies through `channels`.
  const telegram = TelegramBotFromConfig().pipe(Layer.provide(logged))
  const channels = ChannelsLive.pipe(Layer.provideMerge(TelegramAdapters), Layer.provideMerge(telegram))
  // One database for every store (a layer is built once per reference).
  const database = DatabaseFromConfig(options).pipe(Layer.provide(permissions), Layer.provide(readiness))
  const sessions = SessionsSql.pipe(Layer.provide(database))
  const base = Layer.mergeAll(
    EventBusLive,
    GatewayStateLive,
    PresenceLive,
    // Health summarises the sessions store and the channels, and is taken again when they change.
    HealthLive.pipe(Layer.provide(Layer.mergeAll(channels, sessions, logged))),
    ConnectionHubLive,
    VitalsLive
  )
  const tailscale = options.tailscale ?? TailscaleCli()
  const auth = AuthLive(options.flags ?? {}).pipe(Layer.provide(logged), Layer.provideMerge(tailscale))
  const nodes = NodeRegistryLive.pipe(Layer.provideMerge(DevicesSqlLive), Layer.provide(database), Layer.provide(logged))
  // The agent: models from the config (loaded by the first run), node commands as tools, replies through channels.
  const models = options.models ?? ModelsOnDemand
  const runner = AgentRunnerLive.pipe(Layer.provide(Layer.mergeAll(base, logged, nodes, sessions, channels, models)))
  // Telegram inbound: long polling, or the webhook on this port (HttpRoutes, read by the server); a no-op unless
  // channels.telegram is enabled. It shares `telegram` with the adapter, so channels.status shows both halves.
  const routes = HttpRoutesLive
  const telegramInbound = TelegramPoller().pipe(Layer.provide(Layer.mergeAll(telegram, runner, sessions, routes, logged)))
  // Each enabled channel's check, from its state; built on the inbound worker, so the workers are launched first.
  const channelsReady = ChannelsReadiness.pipe(Layer.provide(Layer.mergeAll(channels, telegramInbound, readiness)))
  // The one-time dashboard codes: issued by a method, consumed by the transport's Admission (one store for both).
  const codes = BootstrapCodesMemory()
  return DispatcherWith(options.methods).pipe(
    Layer.provideMerge(
      Layer.mergeAll(base, auth, logged, nodes, sessions, channels, runner, routes, telegramInbound, permissions, readiness, channelsReady)
    ),
    Layer.provideMerge(codes),
    Layer.provideMerge(Layer.succeed(GatewayRunFlags, options.flags ?? {}))
  )
}

/** The whole Gateway with its WebSocket server and the Control UI on the same port; needs Config. */
export const GatewayWithServer = (options: GatewayLayerOptions = {}) => {
  // The UI's files are read and its route added before the server listens; the URL is logged after.
  const ui = ControlUiLive({ root: options.controlUiDir }).pipe(Layer.provideMerge(GatewayCore(options)))
  return ControlUiAnnounce.pipe(Layer.provideMerge(GatewayServerLive), Layer.provideMerge(ui))
}

/** The whole Gateway configured from the config file and the process environment. */
export const GatewayLive = (options: GatewayLayerOptions = {}, env: Env = process.env) =>
  GatewayWithServer(options).pipe(Layer.provideMerge(ConfigFileLive(env)))
