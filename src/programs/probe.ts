/**
 * The read-only programs: `health`, `status [--deep]`, `gateway health`,
 * `gateway status`, `gateway call`. Each is written once against
 * GatewayClient and runs unchanged against a local, remote or fake Gateway.
 */
import { Effect, Either } from "effect"
import { ConfigStore } from "../services/Config.js"
import { Core } from "../protocol/methods.js"
import { GatewayClient, type RequestOptions, type ServerInfo, type TargetInfo } from "../services/GatewayClient.js"

export interface HealthReport {
  readonly target: TargetInfo
  readonly latencyMs: number
  readonly health: Core.HealthResult
  /** The snapshot was taken for this request (`--verbose`): the store and every channel were asked. */
  readonly probed: boolean
  /** The answer came at this time (the client's clock), to say how old the snapshot is. */
  readonly receivedAt: number
}

/** `health`: the Gateway's kept snapshot; with `probe`, one taken now (OpenClaw's `health {probe: true}`). */
export const health = (probe = false) =>
  Effect.gen(function* () {
    const client = yield* GatewayClient
    yield* client.connect
    const started = performance.now()
    const payload = yield* client.call(Core.Health, probe ? { probe: true } : undefined)
    return {
      target: client.target,
      latencyMs: Math.round((performance.now() - started) * 10) / 10,
      health: payload,
      probed: probe,
      receivedAt: Date.now()
    } satisfies HealthReport
  })

export interface GatewayStatusReport {
  readonly target: TargetInfo
  /** This command's profile (`--profile`, `CLAWGATE_PROFILE`) and its state dir: "default" without one. */
  readonly profile: { readonly name: string; readonly stateDir: string }
  readonly reachable: boolean
  readonly server?: ServerInfo
  readonly error?: string
  readonly status?: Core.StatusResult
}

/** `gateway status`: can the Gateway be reached, who is it, and its `status`. */
export const gatewayStatus = Effect.gen(function* () {
  const client = yield* GatewayClient
  const config = yield* ConfigStore
  const profile = { name: config.paths.profile ?? "default", stateDir: config.paths.stateDir }
  const connected = yield* Effect.either(client.connect)
  if (Either.isLeft(connected)) {
    return { target: client.target, profile, reachable: false, error: connected.left.message } satisfies GatewayStatusReport
  }
  const status = yield* client.call(Core.Status)
  return { target: client.target, profile, reachable: true, server: connected.right, status } satisfies GatewayStatusReport
})

export interface StatusReport extends GatewayStatusReport {
  readonly config: { readonly path: string; readonly mode: string; readonly stateDir: string }
  readonly health?: Core.HealthResult
  readonly presence?: ReadonlyArray<typeof Core.PresenceEntry.Type>
  readonly latencyMs?: number
}

/** `status [--deep]`: local configuration plus the Gateway's own view; `--deep` adds health and presence. */
export const status = (deep: boolean) =>
  Effect.gen(function* () {
    const config = yield* ConfigStore
    const cfg = yield* config.current
    const base = yield* gatewayStatus
    const report: StatusReport = {
      ...base,
      config: { path: config.paths.configPath, mode: cfg.gateway?.mode ?? "local", stateDir: config.paths.stateDir }
    }
    if (!deep || !base.reachable) return report
    const client = yield* GatewayClient
    const started = performance.now()
    const [healthPayload, presence] = yield* Effect.all([client.call(Core.Health, { probe: true }), client.call(Core.SystemPresence)], {
      concurrency: "unbounded"
    })
    return { ...report, health: healthPayload, presence, latencyMs: Math.round((performance.now() - started) * 10) / 10 }
  })

export interface CallOptions extends RequestOptions {
  readonly params?: unknown
}

export const call = (method: string, options: CallOptions = {}) =>
  Effect.gen(function* () {
    const client = yield* GatewayClient
    return yield* client.request(method, options.params, options)
  })
