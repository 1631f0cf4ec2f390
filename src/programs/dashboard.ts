/**
 * `clawgate dashboard`: a one-time link to the Control UI. The CLI connects
 * as an operator, asks the Gateway for a one-time code
 * (`device.bootstrap.issue`) and prints
 * `http(s)://<where it reached the Gateway>/<basePath>#bootstrapToken=<code>`:
 * the code travels in the fragment, which a browser never sends to a server,
 * and pairs the first browser that connects with it. `--open` hands the link
 * to the system's opener; `--ssh` opens a supervised tunnel first, prints the
 * link on the tunnel's local port and keeps the tunnel up until Ctrl-C.
 *
 * Written against tags: GatewayClient, SshTunnel, TunnelRegistry, and
 * @effect/platform's CommandExecutor for the opener.
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import { Console, Effect, type Scope, Stream } from "effect"
import { Pairing } from "../protocol/methods.js"
import { GatewayClient } from "../services/GatewayClient.js"
import type { OpenTunnel, SshTunnel, TunnelSpec } from "../services/SshTunnel.js"
import type { TunnelRegistry } from "../services/TunnelRegistry.js"
import type { UsageError } from "./errors.js"
import { openAnnouncedTunnel } from "./tunnel.js"

export interface DashboardLink {
  readonly url: string
  readonly expiresAtMs: number
  /** What the browser will be granted (at most what this CLI's connection holds). */
  readonly scopes: ReadonlyArray<string>
  /** Where the CLI reached the Gateway, and so where the link points: the target's URL and its source. */
  readonly reachedAt: string
}

export interface DashboardOptions {
  /** The scopes the link grants; default: everything this CLI's connection holds. */
  readonly scopes?: ReadonlyArray<string> | undefined
  /** Who asked, for the Gateway's log. */
  readonly label?: string | undefined
  readonly open: boolean
  readonly json: boolean
  readonly platform?: NodeJS.Platform | undefined
}

/**
 * The link for a Gateway reached at `gatewayUrl`: the same host and port over
 * http (https for wss://), the Control UI's base path, the code in the fragment.
 */
export const linkFor = (gatewayUrl: string, basePath: string, code: string): string => {
  const url = new URL(gatewayUrl)
  const scheme = url.protocol === "wss:" ? "https:" : "http:"
  const path = basePath.startsWith("/") ? basePath : `/${basePath}`
  return `${scheme}//${url.host}${path}#${new URLSearchParams({ bootstrapToken: code }).toString()}`
}

/** Asks the Gateway for a one-time code and makes the link, pointing where the client reached it. */
export const issueLink = (options: Pick<DashboardOptions, "scopes" | "label">) =>
  Effect.gen(function* () {
    const client = yield* GatewayClient
    const issued = yield* client.call(Pairing.DeviceBootstrapIssue, {
      ...(options.scopes ? { scopes: options.scopes } : {}),
      ...(options.label ? { label: options.label } : {})
    })
    return {
      url: linkFor(client.target.url, issued.basePath ?? "/", issued.token),
      expiresAtMs: issued.expiresAtMs,
      scopes: issued.scopes ?? options.scopes ?? [],
      reachedAt: `${client.target.url} (${client.target.urlSource})`
    } satisfies DashboardLink
  })

/** The system's opener: `open` on macOS, `start` (through cmd) on Windows, `xdg-open` elsewhere. */
export const openerFor = (platform: NodeJS.Platform): readonly [string, ...Array<string>] =>
  platform === "darwin" ? ["open"] : platform === "win32" ? ["cmd", "/c", "start", ""] : ["xdg-open"]

export type Opened = { readonly opened: true; readonly with: string } | { readonly opened: false; readonly why: string }

/**
 * Hands `url` to the system's opener and waits for it to exit (they return
 * once the browser has it). A missing opener or a failed one is said, not
 * failed: the link is printed already.
 */
export const openLink = (
  url: string,
  platform: NodeJS.Platform = process.platform
): Effect.Effect<Opened, never, CommandExecutor.CommandExecutor> => {
  const [command, ...args] = openerFor(platform)
  return Command.make(command, ...args, url).pipe(
    Command.stdin(Stream.empty),
    // What the opener (or a browser it starts) says goes to the terminal, as from a shell.
    Command.stdout("inherit"),
    Command.stderr("inherit"),
    Command.exitCode,
    Effect.map((code): Opened => (code === 0 ? { opened: true, with: command } : { opened: false, why: `${command} exited with ${code}` })),
    Effect.catchAll((e) =>
      Effect.succeed<Opened>({
        opened: false,
        why:
          e._tag === "SystemError" && e.reason === "NotFound"
            ? `${command} was not found (install xdg-utils, or open the link yourself)`
            : `${command} failed: ${e.message}`
      })
    )
  )
}

const clock = (ms: number) => new Date(ms).toTimeString().slice(0, 8)

export const renderLink = (link: DashboardLink, now: number, tunnel?: { readonly spec: TunnelSpec; readonly localPort: number }): string =>
  [
    `Open this link in a browser on this machine: it pairs that browser with the Gateway as a device, once.`,
    "",
    `    ${link.url}`,
    "",
    `It works once, until ${clock(link.expiresAtMs)} (${Math.max(0, Math.round((link.expiresAtMs - now) / 60_000))} minutes), and grants ${link.scopes.join(", ") || "no scopes"}.`,
    tunnel
      ? `It points at the SSH tunnel's local end (127.0.0.1:${tunnel.localPort} → ${tunnel.spec.target}, Gateway port ${tunnel.spec.remotePort}): keep this running while you use it; Ctrl-C closes the tunnel.`
      : `It points where this CLI reached the Gateway: ${link.reachedAt}.`
  ].join("\n")

const say = (link: DashboardLink, options: DashboardOptions, tunnel?: { readonly spec: TunnelSpec; readonly localPort: number }) =>
  Effect.gen(function* () {
    const now = Date.now()
    yield* Console.log(
      options.json ? JSON.stringify({ url: link.url, expiresAtMs: link.expiresAtMs }, null, 2) : renderLink(link, now, tunnel)
    )
    if (!options.open) return
    const opened = yield* openLink(link.url, options.platform)
    // On stderr, so that --json stays one JSON document.
    yield* Console.error(
      opened.opened ? `opened the link with ${opened.with}` : `did not open a browser: ${opened.why}; the link above works as well`
    )
  })

/** Prints a one-time link (and opens it with `open`), then returns it: the command exits after. */
export const dashboard = (options: DashboardOptions) => Effect.tap(issueLink(options), (link) => say(link, options))

/**
 * `dashboard --ssh`: a supervised tunnel to the remote Gateway's port (announced, so other commands reuse
 * it), the code minted through it by `mint` (the CLI gives it a client for the tunnel's URL), the link on
 * the tunnel's local port; then in the foreground, the tunnel kept up (restarted when ssh dies) until the
 * fiber is interrupted (Ctrl-C), which closes it.
 */
export const dashboardOverSsh = <E, R>(
  spec: TunnelSpec,
  options: DashboardOptions,
  mint: (tunnel: OpenTunnel) => Effect.Effect<DashboardLink, E, R>
): Effect.Effect<never, E | UsageError, R | SshTunnel | TunnelRegistry | CommandExecutor.CommandExecutor | Scope.Scope> =>
  Effect.gen(function* () {
    const tunnel = yield* openAnnouncedTunnel(spec)
    const link = yield* mint(tunnel)
    yield* say(link, options, { spec, localPort: tunnel.localPort })
    return yield* Effect.never
  })
