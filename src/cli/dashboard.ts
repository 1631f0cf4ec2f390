/**
 * `clawgate dashboard`: prints (and with --open opens) a one-time link to the
 * Control UI. It reaches the Gateway as every client command does (locally,
 * with --url/--token, in remote mode, through a running `clawgate tunnel`),
 * or with --ssh through a tunnel of its own that it keeps up until Ctrl-C;
 * remote mode over ssh without a running tunnel does the same with
 * gateway.remote.sshTarget, since a link through a tunnel that closed with
 * the command would lead nowhere.
 */
import * as os from "node:os"
import { Command, Options } from "@effect/cli"
import { Console, Effect, Layer, Option } from "effect"
import { isLoopbackAddress } from "../config/bind.js"
import type { ClawgateConfig } from "../config/schema.js"
import type { Target } from "../config/target.js"
import { GatewayClientRemote } from "../layers/GatewayClientRemote.js"
import { ALL_SCOPES } from "../protocol/frames.js"
import { dashboard, dashboardOverSsh, issueLink } from "../programs/dashboard.js"
import { describeFailure, UsageError } from "../programs/errors.js"
import { ConfigStore } from "../services/Config.js"
import { TunnelRegistry } from "../services/TunnelRegistry.js"
import { CommandExecutorLive } from "../util/childProcess.js"
import { clientFlags, clientOptions, configLayer, type ClientOpts, localTls, stderrLogs, targetOf } from "./shared.js"

const dashboardOptions = {
  ...clientOptions,
  open: Options.boolean("open").pipe(
    Options.withDescription("Also open the link in the default browser (xdg-open, open or start); without one, the link is printed")
  ),
  scopes: Options.text("scopes").pipe(
    Options.withDescription(
      `What the browser may do, comma-separated (${ALL_SCOPES.join(", ")}); default operator.admin, at most what this CLI holds`
    ),
    Options.optional
  ),
  ssh: Options.text("ssh").pipe(
    Options.withDescription("Reach a remote Gateway through an SSH tunnel to its loopback port (user@host[:port]); stays up until Ctrl-C"),
    Options.optional
  ),
  identity: Options.text("identity").pipe(Options.withDescription("With --ssh: ssh private key (ssh -i)"), Options.optional),
  localPort: Options.integer("local-port").pipe(
    Options.withDescription("With --ssh: preferred local port of the tunnel (a free one is used if taken)"),
    Options.optional
  ),
  remotePort: Options.integer("remote-port").pipe(
    Options.withDescription("With --ssh: the Gateway's port on that host (default gateway.remote.remotePort, 18789)"),
    Options.optional
  ),
  sshConfig: Options.text("ssh-config").pipe(Options.withDescription("With --ssh: ssh config file to use (ssh -F)"), Options.optional)
}

type DashboardOpts = ClientOpts & {
  readonly open: boolean
  readonly scopes: Option.Option<string>
  readonly ssh: Option.Option<string>
  readonly identity: Option.Option<string>
  readonly localPort: Option.Option<number>
  readonly remotePort: Option.Option<number>
  readonly sshConfig: Option.Option<string>
}

/** `--scopes a,b`: known scopes only, or a usage error naming the unknown one. */
const parseScopes = (text: Option.Option<string>) =>
  Effect.gen(function* () {
    if (Option.isNone(text)) return undefined
    const list = [
      ...new Set(
        text.value
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s !== "")
      )
    ]
    const unknown = list.find((s) => !(ALL_SCOPES as ReadonlyArray<string>).includes(s))
    if (unknown !== undefined || list.length === 0) {
      return yield* new UsageError({
        message: `--scopes takes a comma-separated list of ${ALL_SCOPES.join(", ")} (got ${JSON.stringify(unknown ?? text.value)})`
      })
    }
    return list
  })

/** The config with --ssh in it, as remote mode over ssh has it: the target's credential precedence applies. */
const withSsh = (cfg: ClawgateConfig, opts: DashboardOpts, sshTarget: string): ClawgateConfig => ({
  ...cfg,
  gateway: {
    ...cfg.gateway,
    mode: "remote",
    remote: {
      ...cfg.gateway?.remote,
      transport: "ssh",
      sshTarget,
      ...(Option.isSome(opts.remotePort) ? { remotePort: opts.remotePort.value } : {}),
      ...(Option.isSome(opts.identity) ? { sshIdentity: opts.identity.value } : {}),
      ...(Option.isSome(opts.sshConfig) ? { sshConfig: opts.sshConfig.value } : {})
    }
  }
})

/** Failures as every client command reports them (a message, `--json` an object, the exit code); success prints itself. */
const reported = <A, E, R>(effect: Effect.Effect<A, E, R>, asJson: boolean) =>
  effect.pipe(
    Effect.asVoid,
    Effect.catchAll((e) =>
      Effect.gen(function* () {
        const failure = describeFailure(e)
        if (asJson) yield* Console.log(JSON.stringify(failure.json, null, 2))
        yield* Console.error(`error: ${failure.message}`)
        process.exitCode = failure.exitCode
      })
    )
  )

const run = (opts: DashboardOpts) =>
  Effect.gen(function* () {
    const config = yield* ConfigStore
    const cfg = yield* config.current
    const stateDir = config.paths.stateDir
    const scopes = yield* parseScopes(opts.scopes)
    const timeout = Option.getOrUndefined(opts.timeout)
    if (timeout !== undefined && timeout <= 0) {
      return yield* new UsageError({ message: `--timeout must be a positive number of milliseconds (got ${timeout})` })
    }
    if (Option.isSome(opts.ssh) && Option.isSome(opts.url)) {
      return yield* new UsageError({ message: "--ssh and --url are two ways to reach the Gateway: pass one of them" })
    }
    const flags = yield* clientFlags(opts)
    const resolved = yield* targetOf(flags, Option.isSome(opts.ssh) ? withSsh(cfg, opts, opts.ssh.value) : cfg, config.env)
    const target = yield* localTls(resolved, cfg, stateDir)
    // The browser's powers come from this connection's: it asks for them (and operator.pairing, to mint the code).
    const asks =
      scopes === undefined || scopes.includes("operator.admin") ? ["operator.admin"] : [...new Set([...scopes, "operator.pairing"])]
    const options = { scopes, label: `clawgate dashboard on ${os.hostname()}`, open: opts.open, json: opts.json }

    const clientFor = (t: Target) =>
      Layer.unwrapEffect(
        Effect.gen(function* () {
          // Beyond loopback the Gateway gives scopes only to a paired device: the CLI signs with its own there.
          const host = new URL(t.url).hostname.replace(/^\[|\]$/g, "")
          const device = isLoopbackAddress(host)
            ? undefined
            : yield* Effect.flatMap(
                Effect.promise(() => import("../layers/DeviceIdentityFile.js")),
                (m) => m.makeDeviceIdentity(stateDir)
              ).pipe(Effect.mapError((e) => new UsageError({ message: e.message })))
          return GatewayClientRemote({
            target: t,
            scopes: asks,
            device,
            ...(timeout !== undefined ? { connectTimeoutMs: timeout, defaultRequestTimeoutMs: timeout } : {})
          })
        })
      )

    const ssh = target.ssh
    const { TunnelRegistryFile } = yield* Effect.promise(() => import("../layers/TunnelRegistry.js"))
    if (ssh !== undefined && Option.isNone(opts.ssh)) {
      // Remote mode over ssh: a running `clawgate tunnel` outlives this command, so the link can use it.
      const running = yield* Effect.flatMap(TunnelRegistry, (r) => r.find(ssh.target, ssh.remotePort)).pipe(
        Effect.provide(TunnelRegistryFile(stateDir))
      )
      if (running) {
        const through = {
          ...target,
          ssh: undefined,
          url: `ws://127.0.0.1:${running.localPort}`,
          urlSource: `${target.urlSource}, through the tunnel of clawgate tunnel pid ${running.pid}`
        }
        return yield* dashboard(options).pipe(Effect.provide(clientFor(through)))
      }
    }
    if (ssh === undefined) return yield* dashboard(options).pipe(Effect.provide(clientFor(target)))

    const { SshTunnelSystem } = yield* Effect.promise(() => import("../layers/SshTunnelSystem.js"))
    // A Gateway with TLS is reached over wss:// through the tunnel too, pinned.
    const pin = flags.tlsFingerprint ?? cfg.gateway?.remote?.tlsFingerprint
    const spec = {
      target: ssh.target,
      identity: ssh.identity,
      sshConfig: ssh.config,
      remotePort: ssh.remotePort,
      localPort: Option.getOrUndefined(opts.localPort)
    }
    return yield* dashboardOverSsh(spec, options, (tunnel) =>
      issueLink(options).pipe(
        Effect.provide(
          clientFor({
            ...target,
            ssh: undefined,
            url: pin ? `wss://127.0.0.1:${tunnel.localPort}` : tunnel.url,
            urlSource: `ssh tunnel to ${ssh.target}, local port ${tunnel.localPort}`,
            tlsFingerprint: pin,
            tlsFingerprintSource: pin ? (flags.tlsFingerprint ? "--tls-fingerprint" : "gateway.remote.tlsFingerprint") : undefined
          })
        ),
        // The CLI's own connection is closed once the code is minted; the tunnel stays.
        Effect.scoped
      )
    ).pipe(Effect.provide(Layer.merge(SshTunnelSystem, TunnelRegistryFile(stateDir))))
  })

export const dashboardCommand = Command.make("dashboard", dashboardOptions, (opts) =>
  reported(
    run(opts).pipe(Effect.scoped, Effect.provide(CommandExecutorLive), Effect.provide(configLayer), Effect.provide(stderrLogs)),
    opts.json
  )
).pipe(
  Command.withDescription(
    "Print a one-time link that pairs a browser with the Control UI (--open: open it; --ssh: through a tunnel kept up until Ctrl-C)"
  )
)
