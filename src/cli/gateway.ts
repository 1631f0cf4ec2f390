/**
 * `clawgate gateway ...`, `health`, `status`, `tunnel` and `security audit`: the commands that run
 * or question a Gateway.
 */
import { Args, Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import { Effect, Either, Layer, LogLevel, Option } from "effect"
import { BindMode } from "../config/schema.js"
import { ConfigStore } from "../services/Config.js"
import { ExitCode, UsageError } from "../programs/errors.js"
import { secretFlag } from "../programs/secretFlags.js"
import { call, health, status } from "../programs/probe.js"
import { gatewayServiceStatus, renderServiceLines } from "../programs/service.js"
import { agent, renderAgentReply } from "../programs/agent.js"
import { renderAudit, renderGatewayStatus, renderHealth, renderStatus, renderValue } from "../programs/render.js"
import { json, clientOptions, configLayer, stderrLogs, clientLayer, output, parseParams, withClient } from "./shared.js"
import { serviceLayers } from "./service.js"

// ---------------------------------------------------------------------------
// Commands

export const healthCommand = (name: string) =>
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

export const statusCommand = Command.make(
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

export const gatewayStatusCommand = Command.make("status", clientOptions, (opts) =>
  withClient(
    opts,
    ["status"],
    Effect.tap(gatewayServiceStatus, (r) => Effect.sync(() => void (r.reachable ? undefined : (process.exitCode = 3)))).pipe(
      Effect.provide(serviceLayers)
    ),
    (r) => [renderGatewayStatus(r), ...renderServiceLines(r.service, r.lock)].join("\n")
  )
).pipe(
  Command.withDescription(
    "Probe the Gateway: reachable or not, its version, bind and connections; its service and the state dir's lock holder"
  )
)

export const callCommand = Command.make(
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
      // Bad JSON is refused before any target is resolved or tunnel opened.
      const parsed = yield* Effect.either(parseParams(opts.params))
      if (Either.isLeft(parsed)) return yield* output(Effect.fail(parsed.left), opts.json, () => "")
      const params = parsed.right
      const timeoutMs = Option.getOrUndefined(opts.timeout)
      yield* withClient(opts, [opts.method], call(opts.method, { params, expectFinal: opts.expectFinal, timeoutMs }), (v) => renderValue(v))
    })
).pipe(Command.withDescription("Call any Gateway method and print its payload"))

export const runCommand = Command.make(
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
    verbose: Options.boolean("verbose").pipe(Options.withDescription("Debug logging (whatever logging.level says)"))
  },
  (opts) =>
    Effect.gen(function* () {
      // One Gateway per state dir: the lock is taken before the Gateway's code is even loaded.
      const { StateLockFromConfig } = yield* Effect.promise(() => import("../layers/ops/StateLockFile.js"))
      const program = Effect.gen(function* () {
        const { claimProfilePort } = yield* Effect.promise(() => import("../layers/ops/ProfilePorts.js"))
        yield* claimProfilePort(yield* ConfigStore, Option.getOrUndefined(opts.port))
        const { GatewayWithServer } = yield* Effect.promise(() => import("../layers/Gateway.js"))
        const { gatewayRun } = yield* Effect.promise(() => import("../programs/gatewayRun.js"))
        const token = yield* secretFlag("token", opts.token, opts.tokenFile, true)
        const password = yield* secretFlag("password", opts.password, opts.passwordFile, true)
        const layer = GatewayWithServer({
          flags: { port: Option.getOrUndefined(opts.port), bind: Option.getOrUndefined(opts.bind), token, password },
          // Without --verbose, logging.level (info by default) decides.
          ...(opts.verbose ? { logLevel: LogLevel.Debug } : {})
        })
        return yield* gatewayRun.pipe(Effect.provide(layer))
      })
      yield* output(program.pipe(Effect.provide(StateLockFromConfig()), Effect.provide(configLayer)), false, () => "")
    })
).pipe(Command.withDescription("Run the Gateway in the foreground (Ctrl-C stops it gracefully)"))

export const tlsCommand = Command.make("tls").pipe(
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
          const { loadTls, colonHex } = yield* Effect.promise(() => import("../layers/TlsIdentity.js"))
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

export const tunnelCommand = Command.make(
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
        const { SshTunnelSystem } = yield* Effect.promise(() => import("../layers/SshTunnelSystem.js"))
        const { TunnelRegistryFile } = yield* Effect.promise(() => import("../layers/TunnelRegistry.js"))
        const { runTunnel } = yield* Effect.promise(() => import("../programs/tunnel.js"))
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

export const securityCommand = Command.make("security").pipe(
  Command.withDescription("Check how exposed this Gateway is"),
  Command.withSubcommands([
    Command.make("audit", clientOptions, (opts) =>
      output(
        Effect.gen(function* () {
          const { liveFacts, securityAudit } = yield* Effect.promise(() => import("../programs/audit.js"))
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

export const agentCommand = Command.make(
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
