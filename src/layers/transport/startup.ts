/**
 * Start-up policy: what the Gateway refuses to start with, decided before
 * anything listens (a non-loopback bind without a credential, password mode
 * without a password, Tailscale Serve or Funnel on a non-loopback bind,
 * Funnel without a password), and what it does once the port is its own (a
 * first loopback start generates and stores a token; Tailscale Serve or
 * Funnel is pointed at the port, and reset at exit with resetOnExit).
 */
import { randomBytes } from "node:crypto"
import { Effect, type Scope } from "effect"
import { planBind, resolvePort, SettingError, type BindPlan } from "../../config/bind.js"
import type { BindMode, ClawgateConfig, ConfigIssue } from "../../config/schema.js"
import { DEFAULT_TICK_INTERVAL_MS } from "../../protocol/frames.js"
import type { AuthService, ResolvedServerAuth } from "../../services/Auth.js"
import type { ConfigService } from "../../services/Config.js"
import { GatewayStartError, type GatewayRunOptions } from "../../services/GatewayServer.js"
import type { TailscaleService } from "../../services/Tailscale.js"
import { resolveLimits } from "./budgets.js"

const startError = (e: { readonly message: string }) => new GatewayStartError({ message: e.message })

export const hostForUrl = (host: string) => (host.includes(":") ? `[${host}]` : host)

/**
 * What start-up refuses once the config validates and the bind is planned, each at the setting to fix
 * (`config.validate` and `config.set` report the same, so no one saves a config the Gateway will not start
 * with): a non-loopback bind without a credential, password mode without a password, Tailscale Serve or
 * Funnel on a non-loopback bind, Funnel without password auth. The first is the start error.
 */
export const startRefusals = (input: {
  readonly cfg: ClawgateConfig
  readonly bindMode: BindMode
  /** The bind came from --bind, not the config. */
  readonly bindFlag: boolean
  readonly plan: BindPlan
  readonly auth: ResolvedServerAuth
}): Array<ConfigIssue> => {
  const { cfg, bindMode, plan, auth: resolvedAuth } = input
  const refusals: Array<ConfigIssue> = []
  const hasCredential =
    (resolvedAuth.mode === "token" && resolvedAuth.token !== undefined) ||
    (resolvedAuth.mode === "password" && resolvedAuth.password !== undefined)
  if (!plan.loopbackOnly && !hasCredential) {
    refusals.push({
      path: "gateway.bind",
      message:
        `refusing to bind ${plan.hosts.join(", ")} (gateway.bind "${bindMode}") without authentication: ` +
        `set gateway.auth.token (or gateway.auth.password with gateway.auth.mode "password"), ` +
        `CLAWGATE_GATEWAY_TOKEN, or pass --token-file; or keep the default loopback bind`
    })
  }
  if (resolvedAuth.mode === "password" && resolvedAuth.password === undefined) {
    refusals.push({
      path: "gateway.auth.password",
      message:
        'gateway.auth.mode is "password" but no password is set: set gateway.auth.password or CLAWGATE_GATEWAY_PASSWORD, or pass --password-file'
    })
  }
  // Tailscale Serve and Funnel proxy to the loopback port; Funnel is public, so it needs a password.
  const tailscaleMode = cfg.gateway?.tailscale?.mode ?? "off"
  if (tailscaleMode !== "off" && !plan.loopbackOnly) {
    refusals.push({
      path: "gateway.tailscale.mode",
      message:
        `gateway.tailscale.mode "${tailscaleMode}" needs a loopback bind, but ${input.bindFlag ? "--bind" : "gateway.bind"} is "${bindMode}" ` +
        `(${plan.hosts.join(", ")}): set gateway.bind to "loopback" and let Tailscale be the way in, or set gateway.tailscale.mode "off"`
    })
  }
  if (tailscaleMode === "funnel" && resolvedAuth.mode !== "password") {
    refusals.push({
      path: "gateway.auth.mode",
      message:
        `gateway.tailscale.mode "funnel" puts the Gateway on the public internet and needs password auth, but gateway.auth.mode is "${resolvedAuth.mode}": ` +
        `set gateway.auth.mode "password" and gateway.auth.password (or CLAWGATE_GATEWAY_PASSWORD), or use gateway.tailscale.mode "serve"`
    })
  }
  return refusals
}

/** Everything the server is started with, or the reason it does not start. */
export const planStart = (flags: GatewayRunOptions, config: ConfigService, auth: AuthService) =>
  Effect.gen(function* () {
    const cfg = yield* config.current.pipe(Effect.mapError(startError))
    const settle = <A>(f: () => A) =>
      Effect.try({
        try: f,
        catch: (e) => new GatewayStartError({ message: e instanceof SettingError ? e.message : String(e) })
      })
    const portChoice = yield* settle(() => resolvePort(flags.port, config.env, cfg))
    const bindMode: BindMode = flags.bind ?? cfg.gateway?.bind ?? "loopback"
    const plan = yield* settle(() => planBind(bindMode, cfg))
    const tls = cfg.gateway?.tls?.enabled
      ? yield* Effect.tryPromise({
          try: () => import("../TlsIdentity.js").then((m) => m.loadTls(cfg, config.paths.stateDir)),
          catch: (e) => new GatewayStartError({ message: `TLS: ${(e as Error).message}` })
        })
      : undefined
    const limits = resolveLimits(cfg)
    const tickIntervalMs = cfg.gateway?.tickIntervalMs ?? DEFAULT_TICK_INTERVAL_MS

    // Credentials: a non-loopback bind must have one; a first loopback start gets a generated token (generateToken).
    const resolvedAuth = yield* auth.resolved.pipe(Effect.mapError(startError))
    const [refusal] = startRefusals({ cfg, bindMode, bindFlag: flags.bind !== undefined, plan, auth: resolvedAuth })
    if (refusal !== undefined) return yield* new GatewayStartError({ message: refusal.message })
    const tailscaleMode = cfg.gateway?.tailscale?.mode ?? "off"
    if (tailscaleMode === "funnel" && cfg.gateway?.auth?.allowTailscale === true) {
      yield* Effect.logWarning(
        'gateway.auth.allowTailscale does not apply with gateway.tailscale.mode "funnel": every client needs the password'
      )
    }
    return { cfg, portChoice, bindMode, plan, tls, limits, tickIntervalMs, resolvedAuth, tailscaleMode }
  })

/**
 * A token mode without a token gets one, stored in the config. Called only once the port is ours, so a failed
 * start leaves no token nobody saw; returns the token (shown once, by the caller) and the credentials now in force.
 */
export const generateToken = (resolvedAuth: ResolvedServerAuth, config: ConfigService, auth: AuthService) =>
  Effect.gen(function* () {
    if (resolvedAuth.mode !== "token" || resolvedAuth.token !== undefined) return { generatedToken: undefined, resolvedAuth }
    const token = randomBytes(32).toString("base64url")
    yield* config
      .update((raw) => {
        const gw = (raw.gateway ?? {}) as Record<string, unknown>
        const a = (gw.auth ?? {}) as Record<string, unknown>
        return { ...raw, gateway: { ...gw, auth: { ...a, mode: "token", token } } }
      })
      .pipe(Effect.mapError((e) => new GatewayStartError({ message: `cannot store the generated gateway token: ${e.message}` })))
    return { generatedToken: token as string | undefined, resolvedAuth: yield* auth.resolved.pipe(Effect.mapError(startError)) }
  })

/**
 * Tailscale Serve/Funnel to the loopback port, once it is ours. Taken down first at shutdown (finalizers run
 * last-in first-out) when resetOnExit, so no request is routed to a closing port.
 */
export const serveTailscale = (
  tailscale: TailscaleService,
  options: { readonly mode: "serve" | "funnel"; readonly target: string; readonly resetOnExit: boolean }
): Effect.Effect<void, GatewayStartError, Scope.Scope> =>
  Effect.gen(function* () {
    const { mode, target, resetOnExit } = options
    const funnel = mode === "funnel"
    yield* Effect.acquireRelease(
      tailscale
        .serve({ funnel, target })
        .pipe(Effect.mapError((e) => new GatewayStartError({ message: `gateway.tailscale.mode "${mode}": ${e.message}` }))),
      () =>
        resetOnExit
          ? tailscale.reset({ funnel }).pipe(
              Effect.zipRight(Effect.logInfo(`tailscale ${mode} reset (gateway.tailscale.resetOnExit)`)),
              Effect.catchAll((e) => Effect.logWarning(`tailscale ${mode} reset failed: ${e.message}`))
            )
          : Effect.void
    )
    yield* Effect.logInfo(
      `tailscale ${mode}: ${funnel ? "public internet" : "tailnet"} HTTPS → ${target}${resetOnExit ? " (reset on exit)" : ""}`
    )
  })
