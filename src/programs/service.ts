/**
 * The Gateway as a service: `gateway install | uninstall | start | stop | restart`, and the
 * service and lock holder beside the probe in `gateway status`. Written against ServiceManager
 * (systemd or launchd, picked at the edge) and GatewayHolder (the state dir's lock).
 */
import { Effect } from "effect"
import type { ClawgateConfig } from "../config/schema.js"
import { ConfigStore } from "../services/Config.js"
import type { GatewayClient } from "../services/GatewayClient.js"
import {
  GatewayHolder,
  type Holder,
  type InstallResult,
  ServiceError,
  ServiceManager,
  type ServiceManagerService,
  type ServiceState
} from "../services/ServiceManager.js"
import { type GatewayStatusReport, gatewayStatus } from "./probe.js"

/** `clawgate [--profile NAME] ` as a user types it again for this profile. */
const cli = (profile: string | undefined) => `clawgate ${profile ? `--profile ${profile} ` : ""}`

export interface InstallReport extends InstallResult {
  readonly manager: string
  readonly profile: string
  /** Secrets or settings of the installing shell that the service will not see. */
  readonly warnings: ReadonlyArray<string>
}

/**
 * What the installing shell has that the service will not: the service's environment carries no
 * secret, so a token, password or bot token given only by a variable must go into the config.
 */
export const notCarried = (unit: string, manager: ServiceManagerService["manager"]) =>
  Effect.gen(function* () {
    const config = yield* ConfigStore
    // A config that does not validate is `gateway run`'s to report; here it counts as empty.
    const c: ClawgateConfig = yield* Effect.orElseSucceed(config.current, (): ClawgateConfig => ({}))
    const p = cli(config.paths.profile)
    const warnings: Array<string> = []
    const secret = (v: { name: string } | undefined, inConfig: unknown, key: string) => {
      if (v && inConfig === undefined) {
        warnings.push(
          `${v.name} is set in this shell but the service will not see it (a unit carries no secrets): put it in the config (0600) with \`${p}config set ${key} "$${v.name}"\`${manager === "systemd" ? `, or in a 0600 file named by an EnvironmentFile= line of a drop-in (systemctl --user edit ${unit})` : ""}`
        )
      }
    }
    secret(config.env.token, c.gateway?.auth?.token, "gateway.auth.token")
    secret(config.env.password, c.gateway?.auth?.password, "gateway.auth.password")
    secret(config.env.telegramBotToken, c.channels?.telegram?.botToken, "channels.telegram.botToken")
    if (config.env.port && c.gateway?.port === undefined) {
      warnings.push(
        `${config.env.port.name}=${config.env.port.value} is set in this shell but the service will not see it: \`${p}config set gateway.port ${config.env.port.value}\``
      )
    }
    return warnings
  })

export const serviceInstall = (force: boolean) =>
  Effect.gen(function* () {
    const manager = yield* ServiceManager
    const config = yield* ConfigStore
    const warnings = yield* notCarried(manager.name, manager.manager)
    const result = yield* manager.install({ force })
    return { ...result, manager: manager.manager, profile: config.paths.profile ?? "default", warnings } satisfies InstallReport
  })

export const serviceUninstall = Effect.flatMap(ServiceManager, (m) => m.uninstall)

export const serviceStart = Effect.gen(function* () {
  const m = yield* ServiceManager
  yield* m.start
  return { name: m.name, action: "started" as const }
})

/** `gateway restart`: through the service only; without one it says what to do instead. */
export const serviceRestart = Effect.gen(function* () {
  const m = yield* ServiceManager
  const config = yield* ConfigStore
  yield* m.restart.pipe(
    Effect.catchTag("ServiceError", (e) =>
      e.reason === "NotInstalled"
        ? Effect.fail(
            new ServiceError({
              reason: "NotInstalled",
              message: `\`gateway restart\` needs the Gateway installed as a service (${cli(config.paths.profile)}gateway install); without one, stop it (${cli(config.paths.profile)}gateway stop) and run it again (${cli(config.paths.profile)}gateway run)`
            })
          )
        : Effect.fail(e)
    )
  )
  return { name: m.name, action: "restarted" as const }
})

const ACTIVE = new Set(["active", "activating", "reloading", "deactivating"])

export interface StopReport {
  readonly via: "service" | "signal"
  readonly name?: string | undefined
  readonly pid?: number | undefined
  readonly url?: string | undefined
  readonly stateDir: string
  readonly killed?: boolean
  readonly released?: boolean
}

/**
 * `gateway stop`: through the service when one is installed and running; else the lock holder
 * gets SIGTERM and is waited for (SIGKILL after `timeoutMs` only with `force`).
 */
export const gatewayStop = (options: { readonly timeoutMs: number; readonly force: boolean }) =>
  Effect.gen(function* () {
    const m = yield* ServiceManager
    const holder = yield* GatewayHolder
    const state = yield* Effect.orElseSucceed(m.status, () => undefined)
    if (state?.installed && state.active !== undefined && ACTIVE.has(state.active)) {
      const before = yield* holder.read
      yield* m.stop
      return { via: "service", name: m.name, pid: state.mainPid, url: before?.url, stateDir: holder.stateDir } satisfies StopReport
    }
    const r = yield* holder.stop(options)
    return { via: "signal", ...r } satisfies StopReport
  })

export interface LockReport {
  readonly pid: number
  readonly url?: string | undefined
  readonly startedAt: string
  readonly fresh: boolean
  readonly why?: string | undefined
}

export interface GatewayServiceStatusReport extends GatewayStatusReport {
  readonly service: ServiceState
  /** The state dir's lock holder, as gateway.lock.json names it; null when there is none. */
  readonly lock: LockReport | null
}

const lockReport = (h: Holder | undefined): LockReport | null =>
  h ? { pid: h.pid, url: h.url, startedAt: h.startedAt, fresh: h.fresh, ...(h.why ? { why: h.why } : {}) } : null

/** `gateway status`: the probe, the service beside it, and who holds the state dir. */
export const gatewayServiceStatus: Effect.Effect<
  GatewayServiceStatusReport,
  Effect.Effect.Error<typeof gatewayStatus>,
  GatewayClient | ConfigStore | ServiceManager | GatewayHolder
> = Effect.gen(function* () {
  const m = yield* ServiceManager
  const holder = yield* GatewayHolder
  const [probe, service, lock] = yield* Effect.all(
    [
      gatewayStatus,
      Effect.catchAll(m.status, (e) =>
        Effect.succeed<ServiceState>({ manager: m.manager, name: m.name, unitPath: m.unitPath, installed: false, error: e.message })
      ),
      holder.read
    ],
    { concurrency: "unbounded" }
  )
  return { ...probe, service, lock: lockReport(lock) }
})

// ---------------------------------------------------------------------------
// Rendering

export const renderInstall = (r: InstallReport): string =>
  [
    `${r.file === "written" ? "installed" : "already installed"} ${r.name} (profile ${r.profile}) and started it`,
    ...r.commands.map((c) => `  ran: ${c}`),
    ...r.hints,
    ...r.warnings.map((w) => `warning: ${w}`)
  ].join("\n")

export const renderUninstall = (r: { readonly name: string; readonly unitPath: string; readonly removed: boolean }): string =>
  r.removed ? `stopped, disabled and removed ${r.name} (${r.unitPath})` : `${r.name} is not installed (${r.unitPath} does not exist)`

export const renderStop = (r: StopReport): string =>
  r.via === "service"
    ? `stopped ${r.name}${r.pid ? ` (pid ${r.pid}${r.url ? `, ${r.url}` : ""})` : ""}`
    : [
        `stopped pid ${r.pid}${r.url ? ` (${r.url})` : ""}${r.killed ? " with SIGKILL, after it did not exit on SIGTERM" : ""}`,
        ...(r.released ? [] : [`  it left its lock in ${r.stateDir}; the next \`gateway run\` takes it over`])
      ].join("\n")

export const renderServiceLines = (service: ServiceState, lock: LockReport | null): ReadonlyArray<string> => {
  const lines: Array<string> = []
  if (service.manager === "unsupported") lines.push(`Service:   none (${service.error ?? "unsupported platform"})`)
  else if (!service.installed) lines.push(`Service:   ${service.name} not installed (clawgate gateway install)`)
  else {
    const facts = [
      service.enabled ? service.enabled : undefined,
      service.active ? `${service.active}${service.subState ? ` (${service.subState})` : ""}` : undefined,
      service.mainPid ? `pid ${service.mainPid}` : undefined,
      service.execMainStatus ? `last exit ${service.execMainStatus}` : undefined
    ].filter((x): x is string => x !== undefined)
    lines.push(`Service:   ${service.name} · ${facts.length ? facts.join(" · ") : "state unknown"} · ${service.unitPath}`)
    if (service.current === false)
      lines.push("           the unit differs from what this clawgate would write: clawgate gateway install --force")
  }
  if (service.installed && service.error) lines.push(`           ${service.error}`)
  lines.push(
    lock === null
      ? "Lock:      free (no Gateway holds the state dir)"
      : lock.fresh
        ? `Lock:      held by pid ${lock.pid}${lock.url ? ` (${lock.url})` : ""} since ${lock.startedAt}`
        : `Lock:      stale: gateway.lock.json names pid ${lock.pid}, but ${lock.why}`
  )
  return lines
}
