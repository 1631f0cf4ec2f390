/**
 * The command tree. Each command parses its flags, picks the layers (the
 * config file, a WebSocket client for the resolved target, or the whole
 * Gateway) and runs a program from src/programs. Failures become one clear
 * message and an exit code (see programs/errors.ts).
 */
import * as os from "node:os"
import * as v8 from "node:v8"
import * as path from "node:path"
import { Args, Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import { Console, Effect, Layer, Logger, LogLevel, Option, type Scope } from "effect"
import { BindMode } from "./config/schema.js"
import { isLoopbackAddress } from "./config/bind.js"
import { resolveTarget, TargetError, type ClientFlags, type Target } from "./config/target.js"
import type { ClawgateConfig } from "./config/schema.js"
import { ConfigFileLive } from "./layers/ConfigFile.js"
import { scopesFor } from "./protocol/methods.js"
import { GatewayClientRemote, GatewayConnectorRemote } from "./layers/GatewayClientRemote.js"
import { ConfigStore } from "./services/Config.js"
import { type GatewayClient, GatewayClientError } from "./services/GatewayClient.js"
import { SshTunnel } from "./services/SshTunnel.js"
import { TunnelRegistry } from "./services/TunnelRegistry.js"
import { configGet, configPath, configSet, configUnset } from "./programs/config.js"
import { describeFailure, ExitCode, UsageError } from "./programs/errors.js"
import { secretFlag } from "./programs/secretFlags.js"
import { call, gatewayStatus, health, status } from "./programs/probe.js"
import { agent, renderAgentReply } from "./programs/agent.js"
import {
  devicesApprove,
  devicesList,
  devicesReject,
  devicesRemove,
  devicesRevoke,
  devicesRotate,
  nodesDescribe,
  nodesInvoke,
  nodesList,
  renderDevices,
  renderNodes
} from "./programs/nodes.js"
import { renderHistory, renderReset, renderSessions, sessionsList, sessionsReset, sessionsShow } from "./programs/sessions.js"
import { renderAudit, renderGatewayStatus, renderHealth, renderStatus, renderValue } from "./programs/render.js"
import { channelsStatus, gatewaySend, renderChannels, renderSend } from "./programs/channels.js"
import { VERSION } from "./version.js"

// ---------------------------------------------------------------------------
// Shared options

const json = Options.boolean("json").pipe(Options.withDescription("Print the result as JSON (for scripts)"))

const clientOptions = {
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

type ClientOpts = {
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

const configLayer = ConfigFileLive(process.env)

/**
 * A local Gateway with TLS is reached over wss://, pinned to the certificate
 * in this host's state dir: no flag needed.
 */
const localTls = (target: Target, cfg: ClawgateConfig, stateDir: string) =>
  target.mode !== "local" || !cfg.gateway?.tls?.enabled
    ? Effect.succeed(target)
    : Effect.tryPromise({
        try: async () => {
          const { loadTls } = await import("./layers/TlsIdentity.js")
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
const stderrLogs = Logger.replace(
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
const viaSsh = (target: Target, stateDir: string) =>
  Effect.gen(function* () {
    const ssh = target.ssh
    if (!ssh) return target
    const { TunnelRegistryFile } = yield* Effect.promise(() => import("./layers/TunnelRegistry.js"))
    const { SshTunnelSystem } = yield* Effect.promise(() => import("./layers/SshTunnelSystem.js"))
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
const clientLayer = (opts: ClientOpts, methods: ReadonlyArray<string>, approver = false) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const config = yield* ConfigStore
      const cfg = yield* config.current
      const flags: ClientFlags = {
        url: Option.getOrUndefined(opts.url),
        token: yield* secretFlag("token", opts.token, opts.tokenFile),
        password: yield* secretFlag("password", opts.password, opts.passwordFile),
        tlsFingerprint: Option.getOrUndefined(opts.tlsFingerprint),
        allowInsecure: opts.allowInsecure
      }
      const resolved = yield* Effect.try({
        try: () => resolveTarget(flags, cfg, config.env),
        catch: (e) => new GatewayClientError({ reason: "Target", message: e instanceof TargetError ? e.message : String(e) })
      })
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
            Effect.promise(() => import("./layers/DeviceIdentityFile.js")),
            (m) => m.makeDeviceIdentity(config.paths.stateDir)
          ).pipe(Effect.mapError((e) => new UsageError({ message: e.message })))
      return GatewayClientRemote({
        target,
        // Least privilege: ask only for the scopes the command's methods need.
        scopes: approver && device === undefined ? ["operator.admin"] : scopesFor(methods),
        device,
        ...(timeout !== undefined ? { connectTimeoutMs: timeout, defaultRequestTimeoutMs: timeout } : {})
      })
    })
  )

/** Runs a program, prints its result (human or JSON) or its failure, and sets the exit code. */
const output = <A, E, R>(effect: Effect.Effect<A, E, R>, asJson: boolean, render: (a: A) => string) =>
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
type ClientProgram<A, E> = Effect.Effect<A, E, GatewayClient | ConfigStore | Scope.Scope>

const withClient = <A, E>(
  opts: ClientOpts,
  methods: ReadonlyArray<string>,
  program: ClientProgram<A, E>,
  render: (a: A) => string,
  approver = false
) =>
  output(program.pipe(Effect.provide(clientLayer(opts, methods, approver)), Effect.scoped, Effect.provide(configLayer)), opts.json, render)

// ---------------------------------------------------------------------------
// Commands

const healthCommand = (name: string) =>
  Command.make(
    name,
    {
      ...clientOptions,
      verbose: Options.boolean("verbose").pipe(
        Options.withDescription("Take a fresh snapshot (the sessions store and every channel asked now) and show it in full")
      )
    },
    (opts) => withClient(opts, ["health"], health(opts.verbose), renderHealth)
  ).pipe(Command.withDescription("Ask the Gateway for its health snapshot (--verbose: a fresh one, in full)"))

const statusCommand = Command.make(
  "status",
  { ...clientOptions, deep: Options.boolean("deep").pipe(Options.withDescription("Also fetch health and presence")) },
  (opts) =>
    output(
      status(opts.deep).pipe(
        Effect.tap((r) => Effect.sync(() => void (r.reachable ? undefined : (process.exitCode = 3)))),
        Effect.provide(clientLayer(opts, opts.deep ? ["status", "health", "system-presence"] : ["status"])),
        Effect.provide(configLayer),
        Effect.scoped
      ),
      opts.json,
      renderStatus
    )
).pipe(Command.withDescription("Show the configuration and the Gateway's status (--deep: health and presence too)"))

const gatewayStatusCommand = Command.make("status", clientOptions, (opts) =>
  withClient(
    opts,
    ["status"],
    Effect.tap(gatewayStatus, (r) => Effect.sync(() => void (r.reachable ? undefined : (process.exitCode = 3)))),
    renderGatewayStatus
  )
).pipe(Command.withDescription("Probe the Gateway: reachable or not, its version, bind and connections"))

const callCommand = Command.make(
  "call",
  {
    method: Args.text({ name: "method" }).pipe(Args.withDescription("The method, e.g. health, status, logs.tail")),
    params: Options.text("params").pipe(Options.withDescription("Params as a JSON object"), Options.optional),
    expectFinal: Options.boolean("expect-final").pipe(
      Options.withDescription('Wait past an interim {status:"accepted"} reply for the final one')
    ),
    ...clientOptions
  },
  (opts) =>
    Effect.gen(function* () {
      let params: unknown
      if (Option.isSome(opts.params)) {
        try {
          params = JSON.parse(opts.params.value)
        } catch (e) {
          return yield* output(
            Effect.fail(new UsageError({ message: `--params is not valid JSON: ${(e as Error).message}` })),
            opts.json,
            () => ""
          )
        }
      }
      const timeoutMs = Option.getOrUndefined(opts.timeout)
      yield* withClient(opts, [opts.method], call(opts.method, { params, expectFinal: opts.expectFinal, timeoutMs }), (v) => renderValue(v))
    })
).pipe(Command.withDescription("Call any Gateway method and print its payload"))

const runCommand = Command.make(
  "run",
  {
    port: Options.text("port").pipe(
      Options.withDescription("Port, 0 for any free one (default: CLAWGATE_GATEWAY_PORT, gateway.port, 18789)"),
      Options.mapEffect((text) =>
        /^\d+$/.test(text) && Number(text) <= 65535
          ? Effect.succeed(Number(text))
          : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--port must be a port number from 0 to 65535 (got "${text}")`)))
      ),
      Options.optional
    ),
    bind: Options.text("bind").pipe(
      Options.withDescription(`Bind mode: ${BindMode.literals.join(", ")} (default gateway.bind, loopback)`),
      Options.mapEffect((text) =>
        (BindMode.literals as ReadonlyArray<string>).includes(text)
          ? Effect.succeed(text as BindMode)
          : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--bind must be one of ${BindMode.literals.join(", ")} (got "${text}")`)))
      ),
      Options.optional
    ),
    token: Options.text("token").pipe(
      Options.withDescription("Shared token for this run, not saved (visible to other local users in ps: prefer --token-file)"),
      Options.optional
    ),
    tokenFile: Options.text("token-file").pipe(
      Options.withDescription("Read this run's shared token from a file (its first line)"),
      Options.optional
    ),
    password: Options.text("password").pipe(
      Options.withDescription("Shared password for this run, not saved (visible to other local users in ps: prefer --password-file)"),
      Options.optional
    ),
    passwordFile: Options.text("password-file").pipe(
      Options.withDescription("Read this run's shared password from a file (its first line)"),
      Options.optional
    ),
    verbose: Options.boolean("verbose").pipe(Options.withDescription("Debug logging"))
  },
  (opts) =>
    Effect.gen(function* () {
      // A long-running daemon whose requests allocate little: keep V8's young generation at its
      // initial size instead of letting start-up growth stay committed (about 8 MB of idle RSS).
      v8.setFlagsFromString("--semi-space-growth-factor=1")
      const { GatewayWithServer } = yield* Effect.promise(() => import("./layers/Gateway.js"))
      const { gatewayRun } = yield* Effect.promise(() => import("./programs/gatewayRun.js"))
      const program = Effect.gen(function* () {
        const token = yield* secretFlag("token", opts.token, opts.tokenFile, true)
        const password = yield* secretFlag("password", opts.password, opts.passwordFile, true)
        const layer = GatewayWithServer({
          flags: { port: Option.getOrUndefined(opts.port), bind: Option.getOrUndefined(opts.bind), token, password },
          logLevel: opts.verbose ? LogLevel.Debug : LogLevel.Info
        })
        return yield* gatewayRun.pipe(Effect.provide(layer))
      })
      yield* output(program.pipe(Effect.provide(configLayer)), false, () => "")
    })
).pipe(Command.withDescription("Run the Gateway in the foreground (Ctrl-C stops it gracefully)"))

const tlsCommand = Command.make("tls").pipe(
  Command.withDescription("The Gateway's TLS certificate"),
  Command.withSubcommands([
    Command.make("fingerprint", { json }, (opts) =>
      output(
        Effect.gen(function* () {
          const config = yield* ConfigStore
          const cfg = yield* config.current
          if (!cfg.gateway?.tls?.enabled) {
            return yield* new UsageError({
              message: "TLS is not enabled: run `clawgate config set gateway.tls.enabled true`, then start the Gateway (or run this again)"
            })
          }
          const { loadTls, colonHex } = yield* Effect.promise(() => import("./layers/TlsIdentity.js"))
          const tls = yield* Effect.tryPromise({
            try: () => loadTls(cfg, config.paths.stateDir),
            catch: (e) => new UsageError({ message: `TLS: ${(e as Error).message}` })
          })
          return {
            fingerprint: `sha256:${tls.fingerprint}`,
            colonHex: colonHex(tls.fingerprint),
            certPath: tls.certPath,
            generated: tls.generated
          }
        }).pipe(Effect.provide(configLayer)),
        opts.json,
        (r) =>
          `${r.fingerprint}\n(${r.colonHex})\ncertificate: ${r.certPath}${r.generated ? " (generated now)" : ""}\npin it on clients: --tls-fingerprint ${r.fingerprint}`
      )
    ).pipe(Command.withDescription("Print the SHA-256 fingerprint clients pin (generates the certificate if needed)"))
  ])
)

const tunnelCommand = Command.make(
  "tunnel",
  {
    target: Args.text({ name: "user@host[:port]" }).pipe(Args.withDescription("Where the Gateway runs (ssh destination)")),
    identity: Options.text("identity").pipe(Options.withDescription("ssh private key (ssh -i)"), Options.optional),
    localPort: Options.integer("local-port").pipe(
      Options.withDescription("Preferred local port (a free one is used if taken)"),
      Options.optional
    ),
    remotePort: Options.integer("remote-port").pipe(
      Options.withDescription("The Gateway's port on that host (default 18789)"),
      Options.withDefault(18789)
    ),
    sshConfig: Options.text("ssh-config").pipe(Options.withDescription("ssh config file to use (ssh -F)"), Options.optional)
  },
  (opts) =>
    output(
      Effect.gen(function* () {
        const config = yield* ConfigStore
        const { SshTunnelSystem } = yield* Effect.promise(() => import("./layers/SshTunnelSystem.js"))
        const { TunnelRegistryFile } = yield* Effect.promise(() => import("./layers/TunnelRegistry.js"))
        const { runTunnel } = yield* Effect.promise(() => import("./programs/tunnel.js"))
        return yield* runTunnel({
          target: opts.target,
          identity: Option.getOrUndefined(opts.identity),
          localPort: Option.getOrUndefined(opts.localPort),
          remotePort: opts.remotePort,
          sshConfig: Option.getOrUndefined(opts.sshConfig)
        }).pipe(Effect.provide(Layer.merge(SshTunnelSystem, TunnelRegistryFile(config.paths.stateDir))))
      }).pipe(Effect.scoped, Effect.provide(configLayer), Effect.provide(stderrLogs)),
      false,
      () => ""
    )
).pipe(Command.withDescription("Open and supervise an SSH tunnel to a Gateway's loopback port"))

const securityCommand = Command.make("security").pipe(
  Command.withDescription("Check how exposed this Gateway is"),
  Command.withSubcommands([
    Command.make("audit", clientOptions, (opts) =>
      output(
        Effect.gen(function* () {
          const { liveFacts, securityAudit } = yield* Effect.promise(() => import("./programs/audit.js"))
          // The live probe is best effort: without a Gateway the audit runs on the config and files.
          const report = yield* securityAudit(liveFacts.pipe(Effect.provide(clientLayer(opts, ["status"])), Effect.scoped))
          if (report.summary.critical > 0) process.exitCode = ExitCode.securityCritical
          return report
        }).pipe(Effect.provide(configLayer)),
        opts.json,
        renderAudit
      )
    ).pipe(
      Command.withDescription(
        "Report exposure findings (bind, auth, tokens, TLS, Tailscale, origins, proxies, file modes) with their fixes; exit 5 on a critical one"
      )
    )
  ])
)

const agentCommand = Command.make(
  "agent",
  {
    message: Options.text("message").pipe(Options.withAlias("m"), Options.withDescription("The message for the agent")),
    session: Options.text("session").pipe(
      Options.withDescription("Session key (default agent:main:main, the operator's own chat)"),
      Options.optional
    ),
    deliver: Options.boolean("deliver").pipe(
      Options.withDescription("Also deliver the reply through a channel (--channel/--to, or the session's own channel)")
    ),
    channel: Options.text("channel").pipe(Options.withDescription("Channel to deliver through, e.g. telegram"), Options.optional),
    to: Options.text("to").pipe(Options.withDescription("Recipient on that channel, e.g. a Telegram chat id"), Options.optional),
    noWait: Options.boolean("no-wait").pipe(Options.withDescription("Return once the Gateway has stored the message (prints the runId)")),
    expectFinal: Options.boolean("expect-final").pipe(
      Options.withDescription("Wait for the final reply (the default; kept for scripts written for `gateway call`)")
    ),
    ...clientOptions
  },
  (opts) =>
    Effect.gen(function* () {
      if (opts.message.trim() === "") {
        return yield* output(Effect.fail(new UsageError({ message: "--message must not be empty" })), opts.json, () => "")
      }
      const wait = opts.expectFinal || !opts.noWait
      // On a terminal the reply is printed as it streams; the final render adds only what is missing.
      const streaming = wait && !opts.json && process.stdout.isTTY
      let shown = 0
      yield* withClient(
        // A run may take minutes: the request timeout is the run's, not the 10 s default.
        opts,
        ["agent"],
        agent({
          message: opts.message,
          sessionKey: Option.getOrUndefined(opts.session),
          deliver: opts.deliver,
          channel: Option.getOrUndefined(opts.channel),
          to: Option.getOrUndefined(opts.to),
          wait,
          timeoutMs: Option.getOrUndefined(opts.timeout),
          onDelta: streaming
            ? (text) => {
                process.stdout.write(text.slice(shown))
                shown = text.length
              }
            : undefined
        }),
        (reply) => (shown > 0 ? renderAgentReply(reply, shown) : renderAgentReply(reply))
      )
    })
).pipe(Command.withDescription("Send a message to the agent and print its reply (local or remote Gateway)"))

// ---------------------------------------------------------------------------
// Channels

const sendCommand = Command.make(
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

const channelsCommand = Command.make("channels").pipe(
  Command.withDescription("The Gateway's messaging channels"),
  Command.withSubcommands([
    Command.make("status", clientOptions, (opts) => withClient(opts, ["channels.status"], channelsStatus, renderChannels)).pipe(
      Command.withDescription("Each channel's state, mode, bot account, last activity and last error")
    )
  ])
)

const gatewayCommand = Command.make("gateway").pipe(
  Command.withDescription("Run or query a Gateway"),
  Command.withSubcommands([runCommand, gatewayStatusCommand, healthCommand("health"), callCommand, agentCommand, sendCommand, tlsCommand])
)

const configCommand = Command.make("config").pipe(
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

// ---------------------------------------------------------------------------
// Nodes and devices

const parseParams = (text: Option.Option<string>) =>
  Option.isNone(text)
    ? Effect.succeed(undefined)
    : Effect.try({
        try: () => JSON.parse(text.value) as unknown,
        catch: (e) => new UsageError({ message: `--params is not valid JSON: ${(e as Error).message}` })
      })

const nodeRef = Args.text({ name: "node" }).pipe(Args.withDescription("Node id, id prefix (6+ characters) or display name"))

const nodesCommand = Command.make("nodes").pipe(
  Command.withDescription("List, describe and invoke the Gateway's nodes"),
  Command.withSubcommands([
    Command.make("list", clientOptions, (opts) => withClient(opts, ["node.list"], nodesList, renderNodes)).pipe(
      Command.withDescription("Paired and connected nodes")
    ),
    Command.make("describe", { node: nodeRef, ...clientOptions }, (opts) =>
      withClient(opts, ["node.list", "node.describe"], nodesDescribe(opts.node), renderValue)
    ).pipe(Command.withDescription("One node: platform, commands, connection")),
    Command.make(
      "invoke",
      {
        node: nodeRef,
        command: Args.text({ name: "command" }).pipe(Args.withDescription("e.g. system.info, system.run")),
        params: Options.text("params").pipe(Options.withDescription("Params as a JSON object"), Options.optional),
        invokeTimeout: Options.integer("invoke-timeout").pipe(
          Options.withDescription("How long the node may take, in ms (default 30000)"),
          Options.optional
        ),
        idempotencyKey: Options.text("idempotency-key").pipe(
          Options.withDescription("Retries with the same key run once (default: a new key)"),
          Options.optional
        ),
        ...clientOptions
      },
      (opts) =>
        withClient(
          opts,
          ["node.list", "node.invoke"],
          Effect.flatMap(parseParams(opts.params), (params) =>
            nodesInvoke(opts.node, opts.command, {
              params,
              timeoutMs: Option.getOrUndefined(opts.invokeTimeout),
              idempotencyKey: Option.getOrUndefined(opts.idempotencyKey)
            })
          ),
          (r) => renderValue(r.payload ?? r)
        )
    ).pipe(Command.withDescription("Run a command on a node and print its result"))
  ])
)

const role = Options.choice("role", ["operator", "node"]).pipe(
  Options.withDescription("Which role's token (default node)"),
  Options.withDefault("node" as const)
)
const deviceRef = Args.text({ name: "deviceId" }).pipe(Args.withDescription("Device id or unique prefix (6+ characters)"))
const requestRef = Args.text({ name: "requestId" }).pipe(Args.withDescription("The pairing request id (see devices list)"))
const pairingMethods = ["device.pair.list", "device.pair.approve"]

const devicesCommand = Command.make("devices").pipe(
  Command.withDescription("Approve, reject and manage paired devices (nodes, apps, remote CLIs)"),
  Command.withSubcommands([
    Command.make("list", clientOptions, (opts) => withClient(opts, pairingMethods, devicesList, renderDevices)).pipe(
      Command.withDescription("Pending pairing requests and paired devices")
    ),
    Command.make("approve", { requestId: requestRef, ...clientOptions }, (opts) =>
      withClient(
        opts,
        pairingMethods,
        devicesApprove(opts.requestId),
        (r) => `approved ${opts.requestId}: ${JSON.stringify(r.device.deviceId)}`,
        true
      )
    ).pipe(Command.withDescription("Approve a pending pairing request")),
    Command.make("reject", { requestId: requestRef, ...clientOptions }, (opts) =>
      withClient(opts, pairingMethods, devicesReject(opts.requestId), () => `rejected ${opts.requestId}`)
    ).pipe(Command.withDescription("Reject a pending pairing request")),
    Command.make("remove", { device: deviceRef, ...clientOptions }, (opts) =>
      withClient(opts, pairingMethods, devicesRemove(opts.device), (r) => `removed ${r.deviceId} (disconnected if it was online)`, true)
    ).pipe(Command.withDescription("Unpair a device and disconnect it")),
    Command.make("rotate", { device: deviceRef, role, ...clientOptions }, (opts) =>
      withClient(
        opts,
        pairingMethods,
        devicesRotate(opts.device, opts.role),
        (r) => `rotated the ${opts.role} token of ${r.deviceId}; its sessions were closed`,
        true
      )
    ).pipe(Command.withDescription("Issue a new device token (the old one stops working)")),
    Command.make("revoke", { device: deviceRef, role, ...clientOptions }, (opts) =>
      withClient(
        opts,
        pairingMethods,
        devicesRevoke(opts.device, opts.role),
        (r) => `revoked the ${opts.role} token of ${r.deviceId}; it was disconnected`,
        true
      )
    ).pipe(Command.withDescription("Revoke a device's token and role; it must be approved again"))
  ])
)

const sessionRef = Args.text({ name: "key" }).pipe(
  Args.withDescription("Session key (agent:main:main), main, or the unique end of a key (telegram:42)")
)
const limit = (what: string) => Options.integer("limit").pipe(Options.withDescription(what), Options.optional)

const sessionsCommand = Command.make("sessions").pipe(
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

const nodeRunCommand = Command.make(
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
        const { DeviceIdentityFile, makeDeviceIdentity } = yield* Effect.promise(() => import("./layers/DeviceIdentityFile.js"))
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
        const { runNodeHost } = yield* Effect.promise(() => import("./programs/nodeHost.js"))
        const { defaultAllowlistPath, NodeCommandsLocal } = yield* Effect.promise(() => import("./layers/nodes/NodeCommandsLocal.js"))
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
).pipe(Command.withDescription("Run this machine as a node: serve system.info, system.notify and allowlisted system.run"))

const nodeCommand = Command.make("node").pipe(
  Command.withDescription("Run a node host on this machine"),
  Command.withSubcommands([nodeRunCommand])
)

export const rootCommand = Command.make("clawgate").pipe(
  Command.withDescription("clawgate: a self-hosted AI-agent Gateway, wire-compatible with OpenClaw"),
  Command.withSubcommands([
    gatewayCommand,
    healthCommand("health"),
    statusCommand,
    configCommand,
    nodesCommand,
    devicesCommand,
    sessionsCommand,
    channelsCommand,
    nodeCommand,
    tunnelCommand,
    securityCommand
  ])
)

export const cli = Command.run(rootCommand, { name: "clawgate", version: VERSION })
