/**
 * How this Gateway can be reached and with what credential, worked out once
 * from the config and what the running Gateway says: the view the audit's
 * rules for exposure, credentials and live traffic all read. When the running
 * Gateway is this host's, it is the truth about how it runs (flags may
 * override the config).
 */
import { isLoopbackAddress, isTailnetIPv4 } from "../../config/bind.js"
import type { ClawgateConfig } from "../../config/schema.js"
import { resolveServerAuth, type ResolvedServerAuth } from "../../services/Auth.js"
import type { AuditFacts, LiveGateway } from "./types.js"

/** How far the Gateway can be reached from. */
export type Exposure = "loopback" | "tailnet" | "network" | "public"

export interface Surface {
  readonly gw: NonNullable<ClawgateConfig["gateway"]>
  /** What the reachable Gateway said, local or not. */
  readonly live: ({ readonly reachable: true } & LiveGateway) | undefined
  /** The same, only when it is this host's Gateway. */
  readonly localLive: ({ readonly reachable: true } & LiveGateway) | undefined
  readonly tailscaleMode: string
  readonly allowTailscale: boolean
  readonly bind: string
  readonly beyondLoopback: boolean
  readonly tailnetOnly: boolean
  readonly exposure: Exposure
  readonly exposed: boolean
  /** Where it listens, for a finding's detail. */
  readonly whereText: string
  readonly auth: ResolvedServerAuth
  readonly hasCredential: boolean
  readonly authMode: string
}

/** The fix that gives the Gateway a long generated token. */
export const setToken = 'clawgate config set gateway.auth.token "$(openssl rand -base64 32)"'

export const surfaceOf = (config: ClawgateConfig, facts: AuditFacts): Surface => {
  const gw = config.gateway ?? {}
  const live = facts.live.reachable ? facts.live : undefined
  // The running Gateway of this host is the truth about how it runs (flags may override the config).
  const localLive = live?.local ? live : undefined
  const tailscaleMode = localLive?.tailscale ?? gw.tailscale?.mode ?? "off"
  const allowTailscale = gw.auth?.allowTailscale === true

  // --- Where it listens -------------------------------------------------------------------------
  const configBind = gw.bind ?? "loopback"
  const bind = localLive?.bind ?? configBind
  const liveHosts = localLive?.listeners?.map((l) => l.host)
  const configHosts =
    configBind === "lan"
      ? ["0.0.0.0"]
      : configBind === "custom"
        ? [gw.customBindHost ?? "(gateway.customBindHost not set)"]
        : configBind === "tailnet"
          ? ["this host's Tailscale address"]
          : ["127.0.0.1", "::1"]
  const hosts = liveHosts && liveHosts.length > 0 ? liveHosts : configHosts
  const beyondLoopback =
    liveHosts && liveHosts.length > 0
      ? liveHosts.some((h) => !isLoopbackAddress(h))
      : configBind === "lan" || configBind === "tailnet" || (configBind === "custom" && !isLoopbackAddress(gw.customBindHost))
  const tailnetOnly =
    bind === "tailnet" ||
    (liveHosts !== undefined && liveHosts.length > 0 && liveHosts.every((h) => isLoopbackAddress(h) || isTailnetIPv4(h)))
  const exposure: Exposure =
    tailscaleMode === "funnel"
      ? "public"
      : beyondLoopback
        ? tailnetOnly
          ? "tailnet"
          : "network"
        : tailscaleMode === "serve"
          ? "tailnet"
          : "loopback"
  const exposed = exposure !== "loopback"
  const whereText = `${hosts.join(", ")} (gateway.bind "${bind}"${localLive?.bind !== undefined ? ", as the running Gateway reports" : ""})`

  // --- Credentials ------------------------------------------------------------------------------
  const auth = resolveServerAuth(config, facts.env, {})
  const configuredCredential =
    (auth.mode === "token" && auth.token !== undefined) || (auth.mode === "password" && auth.password !== undefined)
  // A running Gateway beyond loopback has a credential (it refuses to start without one), even if
  // it came from its own environment or --token rather than this config.
  const liveMode = localLive?.authMode
  const hasCredential = liveMode !== undefined ? liveMode === "token" || liveMode === "password" : configuredCredential
  const authMode = liveMode ?? auth.mode

  return {
    gw,
    live,
    localLive,
    tailscaleMode,
    allowTailscale,
    bind,
    beyondLoopback,
    tailnetOnly,
    exposure,
    exposed,
    whereText,
    auth,
    hasCredential,
    authMode
  }
}
