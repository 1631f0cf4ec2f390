/**
 * `config.validate` (operator.read) and `config.set` (operator.admin): a
 * config text from a client checked as the Gateway checks its file (the
 * schema, then what start-up refuses), and written through the ConfigStore
 * (atomic, 0600, under its lock) only when the file is still the one the
 * client loaded. The running Gateway reads the new file at once (credentials,
 * origins, proxies, node policy, the agent's settings); what it reads only at
 * start is reported as `restartRequired`.
 */
import { Effect, Either, Option } from "effect"
import { planBind } from "../../config/bind.js"
import { configHash } from "../../config/hash.js"
import { getPath, redact, validateConfig, type BindMode, type ClawgateConfig, type ConfigIssue } from "../../config/schema.js"
import { parseConfigText, restoreSecrets, showableIssues, type TextIssue } from "../../config/submitted.js"
import { printable } from "../../protocol/codec.js"
import { GatewayError } from "../../protocol/errors.js"
import { ConfigMethods } from "../../protocol/methods.js"
import { resolveServerAuth } from "../../services/Auth.js"
import { ConfigStore, type ConfigError } from "../../services/Config.js"
import { serve } from "../../services/Dispatcher.js"
import { GatewayRunFlags, type GatewayRunOptions } from "../../services/GatewayServer.js"
import { startRefusals } from "../transport/startup.js"

/** Settings the Gateway reads only when it starts (the listeners, TLS, Tailscale, the budgets, the Telegram bot). */
export const RESTART_PATHS: ReadonlyArray<string> = [
  "gateway.port",
  "gateway.bind",
  "gateway.customBindHost",
  "gateway.tls",
  "gateway.tailscale",
  "gateway.handshakeTimeoutMs",
  "gateway.tickIntervalMs",
  "gateway.limits",
  "channels.telegram"
]

/** Which of RESTART_PATHS differ between two configs. */
export const restartPaths = (before: ClawgateConfig, after: ClawgateConfig): Array<string> =>
  RESTART_PATHS.filter((p) => {
    const keys = p.split(".")
    return JSON.stringify(getPath(before, keys)) !== JSON.stringify(getPath(after, keys))
  })

const invalid = (issues: ReadonlyArray<TextIssue>) => {
  const shown = showableIssues(issues)
  const lines = shown.slice(0, 3).map((i) => `${i.path}: ${i.message}`)
  const more = shown.length > 3 ? ` (+${shown.length - 3} more)` : ""
  return GatewayError.invalidRequest(`invalid config: ${lines.join("; ")}${more}`, { code: "CONFIG_INVALID", issues: shown })
}

const changed = (hash: string) =>
  GatewayError.invalidRequest("config changed since last load; re-run config.get and retry", { code: "CONFIG_CHANGED", hash })

const unreadable = (e: ConfigError) =>
  e.reason === "Io"
    ? GatewayError.unavailable(e.message)
    : GatewayError.invalidRequest(
        `the config file does not validate now, so it cannot be edited here (config.get shows its issues): fix ${e.path} by hand`,
        { code: "CONFIG_UNREADABLE", issues: showableIssues(e.issues ?? [{ path: "(root)", message: e.message }]) }
      )

export const configMethods = Effect.gen(function* () {
  const config = yield* ConfigStore
  const flags: GatewayRunOptions = Option.getOrElse(yield* Effect.serviceOption(GatewayRunFlags), () => ({}))

  /** The start-up rules for `cfg`, as this Gateway was started (its --bind, --token-file and environment count). */
  const startIssues = (cfg: ClawgateConfig): Array<ConfigIssue> => {
    const bindMode: BindMode = flags.bind ?? cfg.gateway?.bind ?? "loopback"
    let plan: ReturnType<typeof planBind>
    try {
      plan = planBind(bindMode, cfg)
    } catch (e) {
      return [{ path: bindMode === "custom" ? "gateway.customBindHost" : "gateway.bind", message: (e as Error).message }]
    }
    const auth = resolveServerAuth(cfg, config.env, { token: flags.token, password: flags.password })
    return startRefusals({ cfg, bindMode, bindFlag: flags.bind !== undefined, plan, auth })
  }

  /** The text as the file it would become: parsed, secrets kept from `stored`, validated, started-with. */
  const check = (text: string, stored: Record<string, unknown>) =>
    Either.gen(function* () {
      const parsed = yield* parseConfigText(text)
      const raw = yield* restoreSecrets(parsed, stored)
      const cfg = yield* validateConfig(raw)
      const refused = startIssues(cfg)
      if (refused.length > 0) return yield* Either.left(refused)
      return { raw, cfg }
    })

  return [
    serve(ConfigMethods.ConfigValidate, ({ raw }) =>
      Effect.gen(function* () {
        // Placeholders are checked against the file as it is; an unreadable file keeps no secret.
        const stored = yield* config.load.pipe(
          Effect.map((s) => s.raw),
          Effect.orElseSucceed(() => ({}))
        )
        const result = check(raw, stored)
        return Either.isRight(result) ? { ok: true, issues: [] } : { ok: false, issues: showableIssues(result.left) }
      })
    ),

    serve(ConfigMethods.ConfigSet, ({ raw, baseHash }, ctx) =>
      Effect.gen(function* () {
        const state = yield* config.load.pipe(Effect.mapError(unreadable))
        const currentHash = configHash(state.raw)
        if (baseHash === undefined && state.exists) {
          return yield* GatewayError.invalidRequest("config base hash required; re-run config.get and retry", {
            code: "CONFIG_BASE_HASH_REQUIRED"
          })
        }
        if (baseHash !== undefined && baseHash !== currentHash) return yield* changed(currentHash)
        const checked = check(raw, state.raw)
        if (Either.isLeft(checked)) return yield* invalid(checked.left)
        const next = checked.right
        // Written only if the file is still the one checked: the hash is compared again under the store's lock.
        const written = yield* config
          .update(() => next.raw, { baseHash: currentHash })
          .pipe(
            Effect.mapError((e) =>
              e.reason === "Changed"
                ? changed(e.hash ?? "")
                : e.reason === "Invalid"
                  ? invalid(e.issues ?? [{ path: "(root)", message: e.message }])
                  : GatewayError.unavailable(e.message)
            )
          )
        const restart = restartPaths(state.config, written)
        yield* Effect.logInfo(
          `config.set by ${printable(ctx.client?.id ?? ctx.connId, 64)} wrote ${config.paths.configPath}` +
            (restart.length > 0 ? `; takes effect at the next start: ${restart.join(", ")}` : "")
        )
        return {
          ok: true as const,
          path: config.paths.configPath,
          hash: configHash(next.raw),
          restartRequired: restart.length > 0,
          restartPaths: restart,
          config: redact(next.raw)
        }
      })
    )
  ]
})
