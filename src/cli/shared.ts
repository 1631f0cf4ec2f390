/**
 * Shared options and how a client command runs: the target from flags and config, the TLS pin of a
 * local Gateway, an SSH tunnel when the config says so, and one printed result or failure.
 */
import { Options } from "@effect/cli"
import { Console, Effect, Layer, Logger, Option, type Scope } from "effect"
import { isLoopbackAddress } from "../config/bind.js"
import { resolveTarget, TargetError, type ClientFlags, type Target } from "../config/target.js"
import type { ClawgateConfig } from "../config/schema.js"
import { ConfigFileLive } from "../layers/ConfigFile.js"
import type { Scope as ScopeName } from "../protocol/frames.js"
import { scopesFor } from "../protocol/methods.js"
import { GatewayClientRemote } from "../layers/GatewayClientRemote.js"
import { ConfigStore } from "../services/Config.js"
import { type GatewayClient, GatewayClientError } from "../services/GatewayClient.js"
import { SshTunnel } from "../services/SshTunnel.js"
import { TunnelRegistry } from "../services/TunnelRegistry.js"
import { describeFailure, UsageError } from "../programs/errors.js"
import { secretFlag } from "../programs/secretFlags.js"

// ---------------------------------------------------------------------------
// Shared options

export const json = Options.boolean("json").pipe(Options.withDescription("Print the result as JSON (for scripts)"))

export const clientOptions = {
  url: Options.text("url").pipe(
    Options.withDescription(
      "Gateway WebSocket URL (ws:// or wss://). Needs --token or --password: config credentials are not used with --url"
    ),
    Options.optional
  ),
  token: Options.text("token").pipe(
    Options.withDescription("Gateway token (visible to other local users in ps: prefer --token-file)"),
    Options.optional
  ),
  tokenFile: Options.text("token-file").pipe(
    Options.withDescription("Read the Gateway token from this file (its first line)"),
    Options.optional
  ),
  password: Options.text("password").pipe(
    Options.withDescription("Gateway password (visible to other local users in ps: prefer --password-file)"),
    Options.optional
  ),
  passwordFile: Options.text("password-file").pipe(
    Options.withDescription("Read the Gateway password from this file (its first line)"),
    Options.optional
  ),
  tlsFingerprint: Options.text("tls-fingerprint").pipe(
    Options.withDescription("Pin the Gateway's TLS certificate (SHA-256, as printed by `clawgate gateway tls fingerprint`)"),
    Options.optional
  ),
  allowInsecure: Options.boolean("allow-insecure").pipe(
    Options.withDescription("Allow plain ws:// to a host that is not loopback (the credential crosses the network unencrypted)")
  ),
  timeout: Options.integer("timeout").pipe(
    Options.withDescription("Request timeout in milliseconds (default 10000; 30000 with --expect-final)"),
    Options.optional
  ),
  json
}

export type ClientOpts = {
  readonly url: Option.Option<string>
  readonly token: Option.Option<string>
  readonly tokenFile: Option.Option<string>
  readonly password: Option.Option<string>
  readonly passwordFile: Option.Option<string>
  readonly tlsFingerprint: Option.Option<string>
  readonly allowInsecure: boolean
  readonly timeout: Option.Option<number>
  readonly json: boolean
}

export const configLayer = ConfigFileLive(process.env)

/**
 * A local Gateway with TLS is reached over wss://, pinned to the certificate
 * in this host's state dir: no flag needed.
 */
export const localTls = (target: Target, cfg: ClawgateConfig, stateDir: string) =>
  target.mode !== "local" || !cfg.gateway?.tls?.enabled
    ? Effect.succeed(target)
    : Effect.tryPromise({
        try: async () => {
          const { loadTls } = await import("../layers/TlsIdentity.js")
          const tls = await loadTls(cfg, stateDir)
          return {
            ...target,
            url: target.url.replace(/^ws:/, "wss:"),
            tlsFingerprint: target.tlsFingerprint ?? tls.fingerprint,
            tlsFingerprintSource: target.tlsFingerprintSource ?? `the local certificate ${tls.certPath}`
          }
        },
        catch: (e) => new GatewayClientError({ reason: "Target", message: `TLS: ${(e as Error).message}` })
      })

/** Log lines of client commands go to stderr, so stdout stays the command's output (and valid JSON). */
export const stderrLogs = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ logLevel, message }) => {
    const text = (Array.isArray(message) ? message : [message]).map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ")
    process.stderr.write(`[${logLevel.label.toLowerCase()}] ${text}\n`)
  })
)

/**
 * With `gateway.remote.transport: "ssh"`, reuse the forward of a running
 * `clawgate tunnel` to the same host, or open one for this command (closed
 * with it). Either way the Gateway is reached on a loopback port.
 */
export const viaSsh = (target: Target, stateDir: string) =>
  Effect.gen(function* () {
    const ssh = target.ssh
    if (!ssh) return target
    const { TunnelRegistryFile } = yield* Effect.promise(() => import("../layers/TunnelRegistry.js"))
    const { SshTunnelSystem } = yield* Effect.promise(() => import("../layers/SshTunnelSystem.js"))
    const layers = Layer.merge(SshTunnelSystem, TunnelRegistryFile(stateDir))
    const running = yield* Effect.flatMap(TunnelRegistry, (r) => r.find(ssh.target, ssh.remotePort)).pipe(Effect.provide(layers))
    if (running) {
      return {
        ...target,
        url: `ws://127.0.0.1:${running.localPort}`,
        urlSource: `${target.urlSource}, reusing the tunnel of clawgate tunnel pid ${running.pid} on port ${running.localPort}`
      }
    }
    const tunnel = yield* Effect.flatMap(SshTunnel, (t) =>
      t.open({ target: ssh.target, identity: ssh.identity, sshConfig: ssh.config, remotePort: ssh.remotePort, localPort: 0 })
    ).pipe(
      Effect.provide(layers),
      Effect.mapError(
        (e) =>
          new GatewayClientError({
            reason: e.reason === "Target" ? "Target" : "Connect",
            message: `ssh tunnel to ${ssh.target}: ${e.message}`
          })
      )
    )
    return {
      ...target,
      url: tunnel.url,
      urlSource: `${target.urlSource}, opened for this command on port ${tunnel.localPort}`
    }
  }).pipe(Effect.provide(stderrLogs))

/**
 * The WebSocket client for the target the flags and config point at; fails before any socket on a bad target.
 * `approver`: the command approves, rotates or removes devices, which the Gateway allows only within the
 * scopes the caller holds itself; without a device (on the Gateway host) the CLI is the owner and asks for
 * `operator.admin`, with one it asks for what the methods need and the Gateway says what is missing.
 */
/** The client flags a command was given (secrets read from their files). */
export const clientFlags = (opts: ClientOpts) =>
  Effect.gen(function* () {
    const flags: ClientFlags = {
      url: Option.getOrUndefined(opts.url),
      token: yield* secretFlag("token", opts.token, opts.tokenFile),
      password: yield* secretFlag("password", opts.password, opts.passwordFile),
      tlsFingerprint: Option.getOrUndefined(opts.tlsFingerprint),
      allowInsecure: opts.allowInsecure
    }
    return flags
  })

/** Which Gateway, with what credential; a TargetError as the CLI reports it. */
export const targetOf = (flags: ClientFlags, cfg: ClawgateConfig, env: Parameters<typeof resolveTarget>[2]) =>
  Effect.try({
    try: () => resolveTarget(flags, cfg, env),
    catch: (e) => new GatewayClientError({ reason: "Target", message: e instanceof TargetError ? e.message : String(e) })
  })

/** `scopes`: ask for exactly these (a command that learns what it needs from the Gateway first, as `nodes approve`). */
export const clientLayer = (opts: ClientOpts, methods: ReadonlyArray<string>, approver = false, scopes?: ReadonlyArray<ScopeName>) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const config = yield* ConfigStore
      const cfg = yield* config.current
      const resolved = yield* targetOf(yield* clientFlags(opts), cfg, config.env)
      const target = yield* viaSsh(yield* localTls(resolved, cfg, config.paths.stateDir), config.paths.stateDir)
      const timeout = Option.getOrUndefined(opts.timeout)
      if (timeout !== undefined && timeout <= 0) {
        return yield* new UsageError({ message: `--timeout must be a positive number of milliseconds (got ${timeout})` })
      }
      // Beyond loopback the Gateway gives scopes only to a paired device, so
      // the CLI signs with its own identity there (as OpenClaw's CLI does).
      const host = new URL(target.url).hostname.replace(/^\[|\]$/g, "")
      const device = isLoopbackAddress(host)
        ? undefined
        : yield* Effect.flatMap(
            Effect.promise(() => import("../layers/DeviceIdentityFile.js")),
            (m) => m.makeDeviceIdentity(config.paths.stateDir)
          ).pipe(Effect.mapError((e) => new UsageError({ message: e.message })))
      return GatewayClientRemote({
        target,
        // Least privilege: ask only for the scopes the command's methods need.
        scopes: scopes !== undefined ? [...scopes] : approver && device === undefined ? ["operator.admin"] : scopesFor(methods),
        device,
        ...(timeout !== undefined ? { connectTimeoutMs: timeout, defaultRequestTimeoutMs: timeout } : {})
      })
    })
  )

/** Runs a program, prints its result (human or JSON) or its failure, and sets the exit code. */
export const output = <A, E, R>(effect: Effect.Effect<A, E, R>, asJson: boolean, render: (a: A) => string) =>
  effect.pipe(
    Effect.flatMap((a) => Console.log(asJson ? JSON.stringify(a, null, 2) : render(a))),
    Effect.catchAll((e) =>
      Effect.gen(function* () {
        const failure = describeFailure(e)
        if (asJson) yield* Console.log(JSON.stringify(failure.json, null, 2))
        yield* Console.error(`error: ${failure.message}`)
        process.exitCode = failure.exitCode
      })
    )
  )

/** What a client command's program may need: the client, the config, and a scope for what it opens. */
export type ClientProgram<A, E> = Effect.Effect<A, E, GatewayClient | ConfigStore | Scope.Scope>

export const withClient = <A, E>(
  opts: ClientOpts,
  methods: ReadonlyArray<string>,
  program: ClientProgram<A, E>,
  render: (a: A) => string,
  approver = false
) =>
  output(program.pipe(Effect.provide(clientLayer(opts, methods, approver)), Effect.scoped, Effect.provide(configLayer)), opts.json, render)

/** `--params`: a JSON value, or a usage error that says what is wrong with it. */
export const parseParams = (text: Option.Option<string>) =>
  Option.isNone(text)
    ? Effect.succeed(undefined)
    : Effect.try({
        try: () => JSON.parse(text.value) as unknown,
        catch: (e) => new UsageError({ message: `--params is not valid JSON: ${(e as Error).message}` })
      })
