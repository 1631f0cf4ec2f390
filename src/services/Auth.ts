/**
 * Auth: decides whether a `connect` may proceed on the shared credential
 * (token or password). Credentials are read from the config on every
 * connection, so a rotated token applies without a restart. Failed attempts
 * are limited per client address.
 */
import { Context, type Effect } from "effect"
import type { ConnectAuth } from "../protocol/frames.js"
import type { GatewayError } from "../protocol/errors.js"
import type { ClawgateConfig } from "../config/schema.js"
import type { ConfigEnv } from "./Config.js"
import { firstSet } from "../config/sources.js"

export type AuthMethod = "token" | "password" | "none"

export interface AuthAttempt {
  readonly auth: ConnectAuth | undefined
  /** The client's address as the Gateway sees it. */
  readonly clientIp: string
  /** The connection arrived directly on a loopback address. */
  readonly isLoopback: boolean
  /** The upgrade request carried an `Origin` header (a browser). */
  readonly hasOrigin: boolean
}

export interface AuthGrant {
  readonly method: AuthMethod
}

/** What the Gateway requires, resolved from flags, env and config. */
export interface ResolvedServerAuth {
  readonly mode: AuthMethod
  readonly token?: string | undefined
  readonly password?: string | undefined
  /** Where each credential came from, to name it in messages. */
  readonly tokenSource?: string | undefined
  readonly passwordSource?: string | undefined
}

export interface AuthOverrides {
  readonly token?: string | undefined
  readonly password?: string | undefined
}

export interface AuthService {
  readonly authenticate: (attempt: AuthAttempt) => Effect.Effect<AuthGrant, GatewayError>
  /** The credentials in force right now. */
  readonly resolved: Effect.Effect<ResolvedServerAuth, GatewayError>
}

export class Auth extends Context.Tag("clawgate/Auth")<Auth, AuthService>() {}

/**
 * Server-side credential resolution: flag > env > `gateway.auth.*`.
 * `gateway.remote.*` is a client setting and never configures the server.
 */
export const resolveServerAuth = (
  config: ClawgateConfig,
  env: ConfigEnv,
  overrides: AuthOverrides
): ResolvedServerAuth => {
  const auth = config.gateway?.auth
  const token = firstSet([overrides.token, "--token"], [env.token?.value, env.token?.name ?? ""], [auth?.token, "gateway.auth.token"])
  const password = firstSet(
    [overrides.password, "--password"],
    [env.password?.value, env.password?.name ?? ""],
    [auth?.password, "gateway.auth.password"]
  )
  const mode: AuthMethod = auth?.mode ?? (password && !token ? "password" : "token")
  return {
    mode,
    token: mode === "token" ? token?.value : undefined,
    password: mode === "password" ? password?.value : undefined,
    tokenSource: mode === "token" ? token?.source : undefined,
    passwordSource: mode === "password" ? password?.source : undefined
  }
}
