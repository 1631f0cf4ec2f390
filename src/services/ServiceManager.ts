/**
 * ServiceManager: the Gateway as a service of the user's own service manager (a systemd user unit
 * on Linux, a launchd agent on macOS), so it starts at login or boot and is restarted after a
 * crash. A port with one adapter per platform, picked at the edge; an unsupported platform gets an
 * adapter whose every method fails with `ServiceError` reason `Unsupported`.
 *
 * GatewayHolder: the Gateway holding a state dir's lock (`gateway.lock.json`), for `gateway stop`
 * and `gateway status` without a service.
 */
import { Context, Data, type Effect } from "effect"
import type { LockOwner } from "./StateLock.js"

export class ServiceError extends Data.TaggedError("ServiceError")<{
  /**
   * Unsupported: no service manager for this platform; NotInstalled: no unit/agent file;
   * Differs: an installed file is not the one `install` would write (use --force);
   * Command: systemctl/launchctl failed or is missing; Io: the file could not be read or written;
   * Spec: a path cannot be written into a unit (a newline, a control character).
   */
  readonly reason: "Unsupported" | "NotInstalled" | "Differs" | "Command" | "Io" | "Spec"
  readonly message: string
}> {}

/** What the service manager says about the unit. Fields are absent when it could not be asked. */
export interface ServiceState {
  readonly manager: "systemd" | "launchd" | "unsupported"
  /** `clawgate-gateway[-<profile>].service`, or the launchd label. */
  readonly name: string
  readonly unitPath: string
  /** The unit/agent file exists. */
  readonly installed: boolean
  /** The file is the one `install` would write today (false: re-run `gateway install --force`). */
  readonly current?: boolean | undefined
  readonly loadState?: string | undefined
  /** systemd's UnitFileState (`enabled`, `disabled`, ...); launchd: `enabled` once bootstrapped. */
  readonly enabled?: string | undefined
  /** `active`, `inactive`, `failed`, `activating`; launchd's `state`. */
  readonly active?: string | undefined
  readonly subState?: string | undefined
  /** The service's main process, when it runs. */
  readonly mainPid?: number | undefined
  /** The last exit status of the main process. */
  readonly execMainStatus?: number | undefined
  /** Why the manager could not be asked (systemctl missing, no user bus, ...). */
  readonly error?: string | undefined
}

export interface InstallResult {
  readonly name: string
  readonly unitPath: string
  /** written: a new or changed file; unchanged: the same file was there already. */
  readonly file: "written" | "unchanged"
  /** The commands that were run, in order, for the report. */
  readonly commands: ReadonlyArray<string>
  /** Lines to print after the result: how to see the journal, linger, ... */
  readonly hints: ReadonlyArray<string>
}

export interface ServiceManagerService {
  readonly manager: "systemd" | "launchd" | "unsupported"
  /** The unit name (`clawgate-gateway-work.service`) or launchd label (`ai.clawgate.gateway.work`). */
  readonly name: string
  readonly unitPath: string
  /** The file `install` writes, for this profile, entrypoint and environment. */
  readonly expected: string
  /** Writes the file (refusing a different one without `force`), reloads, enables and starts it. */
  readonly install: (options: { readonly force: boolean }) => Effect.Effect<InstallResult, ServiceError>
  /** Stops and disables it, removes the file, reloads. `removed: false` when there was none. */
  readonly uninstall: Effect.Effect<{ readonly name: string; readonly unitPath: string; readonly removed: boolean }, ServiceError>
  readonly start: Effect.Effect<void, ServiceError>
  readonly stop: Effect.Effect<void, ServiceError>
  readonly restart: Effect.Effect<void, ServiceError>
  /** Never fails for a manager that cannot be asked: `error` says why. */
  readonly status: Effect.Effect<ServiceState, ServiceError>
}

export class ServiceManager extends Context.Tag("clawgate/ServiceManager")<ServiceManager, ServiceManagerService>() {}

/** The lock holder, as `gateway.lock.json` names it and the lock directory vouches for. */
export interface Holder extends LockOwner {
  /** The pid is alive and the lock was refreshed within the stale time: it is that Gateway's. */
  readonly fresh: boolean
  /** Why it is not fresh. */
  readonly why?: string | undefined
}

export class GatewayStopError extends Data.TaggedError("GatewayStopError")<{
  /** NotRunning: no fresh lock holder; Timeout: it did not exit in time; Signal: it could not be signalled. */
  readonly reason: "NotRunning" | "Timeout" | "Signal"
  readonly stateDir: string
  readonly message: string
}> {}

export interface StopResult {
  readonly pid: number
  readonly url?: string | undefined
  readonly stateDir: string
  /** It had to be SIGKILLed (`--force`) after the grace period. */
  readonly killed: boolean
  /** Its lock was released (false: it died holding it; the next start takes it over). */
  readonly released: boolean
}

export interface GatewayHolderService {
  readonly stateDir: string
  /** The recorded holder, fresh or not; undefined without a readable `gateway.lock.json`. */
  readonly read: Effect.Effect<Holder | undefined>
  /**
   * SIGTERM to the fresh holder, then waits (on the Clock) until its pid is gone and the lock
   * released; with `force`, SIGKILL once `timeoutMs` has passed. Never signals a pid that does
   * not hold a fresh lock.
   */
  readonly stop: (options: { readonly timeoutMs: number; readonly force: boolean }) => Effect.Effect<StopResult, GatewayStopError>
}

export class GatewayHolder extends Context.Tag("clawgate/GatewayHolder")<GatewayHolder, GatewayHolderService>() {}
