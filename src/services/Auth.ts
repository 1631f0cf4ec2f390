/**
 * Auth: decides whether a `connect` may proceed on the shared credential
 * (token or password). Credentials are read from the config on every
 * connection, so a rotated token applies without a restart. Failed attempts
 * are limited per client address.
 */
import { Context, type Effect, Redacted } from "effect"
import type { ConnectAuth } from "../protocol/frames.js"
import type { GatewayError } from "../protocol/errors.js"
import type { ClawgateConfig } from "../config/schema.js"
import type { TailscaleClaim } from "../config/clientAddress.js"
import type { ConfigEnv } from "./Config.js"
import { firstSet } from "../config/sources.js"

/** The shared-credential modes a Gateway can be configured with. */
export type AuthMode = "token" | "password" | "none"

/** How a connection was admitted: the shared credential, or a verified Tailscale identity. */
export type AuthMethod = AuthMode | "tailscale"

export interface AuthAttempt {
  readonly auth: ConnectAuth | undefined
  /** The client's address as the Gateway sees it. */
  readonly clientIp: string
  /** The client's address is a loopback one. */
  readonly isLoopback: boolean
  /**
   * The request carried forwarding headers (from a trusted proxy, or ignored
   * from an untrusted one). A forwarded request is never exempt from the
   * failure limit, whatever address the headers named.
   */
  readonly forwarded: boolean
  /** The upgrade request carried an `Origin` header (a browser). */
  readonly hasOrigin: boolean
  /**
   * What a WebSocket upgrade said about a Tailscale identity (see
   * `tailscaleClaim`). Never set for HTTP requests: they do not accept it.
   */
  readonly tailscale?: TailscaleClaim | undefined
}

export interface AuthGrant {
  readonly method: AuthMethod
  /** With method "tailscale": the Tailscale login that `tailscale whois` confirmed. */
  readonly user?: string | undefined
  /** With method "token" or "password": the SHA-256 of the secret that matched, so a session can be ended when it changes. */
  readonly credentialHash?: string | undefined
}

/** What the Gateway requires, resolved from flags, env and config. */
export interface ResolvedServerAuth {
  readonly mode: AuthMode
  /** The secret in force: Redacted, so no log line or error can show it; `Redacted.value` where it is compared. */
  readonly token?: Redacted.Redacted<string> | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  /** Where each credential came from, to name it in messages. */
  readonly tokenSource?: string | undefined
  readonly passwordSource?: string | undefined
  /**
   * `gateway.auth.allowTailscale`, in force: never with Funnel, whose public
   * requests carry no identity (as on OpenClaw).
   */
  readonly allowTailscale: boolean
}

export interface AuthOverrides {
  readonly token?: string | undefined
  readonly password?: string | undefined
}

export interface AuthService {
  readonly authenticate: (attempt: AuthAttempt) => Effect.Effect<AuthGrant, GatewayError>
  /**
   * Runs another credential check (a device token, a dashboard code) under
   * the same failure limit: refused at once while the address is locked out,
   * and a failure with `details.code` AUTH_DEVICE_TOKEN_MISMATCH or
   * AUTH_BOOTSTRAP_TOKEN_INVALID counts like a wrong shared token.
   */
  readonly limited: <A>(attempt: AuthAttempt, check: Effect.Effect<A, GatewayError>) => Effect.Effect<A, GatewayError>
  /** The credentials in force right now. */
  readonly resolved: Effect.Effect<ResolvedServerAuth, GatewayError>
}

export class Auth extends Context.Tag("clawgate/Auth")<Auth, AuthService>() {}

/**
 * Server-side credential resolution: flag > env > `gateway.auth.*`.
 * `gateway.remote.*` is a client setting and never configures the server.
 */
export const resolveServerAuth = (config: ClawgateConfig, env: ConfigEnv, overrides: AuthOverrides): ResolvedServerAuth => {
  const auth = config.gateway?.auth
  const token = firstSet([overrides.token, "--token"], [env.token?.value, env.token?.name ?? ""], [auth?.token, "gateway.auth.token"])
  const password = firstSet(
    [overrides.password, "--password"],
    [env.password?.value, env.password?.name ?? ""],
    [auth?.password, "gateway.auth.password"]
  )
  const mode: AuthMode = auth?.mode ?? (password && !token ? "password" : "token")
  return {
    mode,
    token: mode === "token" && token ? Redacted.make(token.value) : undefined,
    password: mode === "password" && password ? Redacted.make(password.value) : undefined,
    tokenSource: mode === "token" ? token?.source : undefined,
    passwordSource: mode === "password" ? password?.source : undefined,
    allowTailscale: auth?.allowTailscale === true && config.gateway?.tailscale?.mode !== "funnel"
  }
}
