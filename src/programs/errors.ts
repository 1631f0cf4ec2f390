/**
 * How a program's failure reaches the user: one message that says what went
 * wrong, where (target and where it came from) and what to do, and an exit
 * code a script can trust.
 */
import { Data } from "effect"
import { GatewayError } from "../protocol/errors.js"
import { ConfigError } from "../services/Config.js"
import { GatewayClientError } from "../services/GatewayClient.js"
import { GatewayStartError } from "../services/GatewayServer.js"
import { GatewayStopError, ServiceError } from "../services/ServiceManager.js"
import { StateLockError, StateLockHeld } from "../services/StateLock.js"

export const ExitCode = {
  ok: 0,
  /** The Gateway answered the request with an error. */
  gatewayError: 1,
  /** Bad flags, bad config, bad target: fix the input. */
  usage: 2,
  /** The Gateway could not be reached, or the connection dropped or timed out. */
  unreachable: 3,
  /** The Gateway refused the credential or the device is not paired yet, or the certificate did not match the pin. */
  auth: 4,
  /** `security audit` found at least one critical finding. */
  securityCritical: 5,
  /** EX_CONFIG: another Gateway holds this state dir. A configuration problem: a service manager should not restart. */
  config: 78
} as const

export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

export type ProgramError =
  | GatewayError
  | GatewayClientError
  | ConfigError
  | GatewayStartError
  | UsageError
  | StateLockHeld
  | StateLockError
  | ServiceError
  | GatewayStopError

export interface Failure {
  readonly exitCode: number
  readonly message: string
  readonly json: Record<string, unknown>
}

export const describeFailure = (e: unknown): Failure => {
  if (e instanceof GatewayClientError) {
    const exitCode =
      e.reason === "Target"
        ? ExitCode.usage
        : e.reason === "Auth" || e.reason === "TlsPin" || e.reason === "NotPaired"
          ? ExitCode.auth
          : // It answered, but not in the shape the method table declares: an answer, not an outage.
            e.reason === "Answer"
            ? ExitCode.gatewayError
            : ExitCode.unreachable
    return {
      exitCode,
      message: e.message,
      json: {
        ok: false,
        error: {
          kind: e.reason,
          message: e.message,
          ...(e.target ? { target: e.target } : {}),
          ...(e.error ? { gateway: e.error.toShape() } : {})
        }
      }
    }
  }
  if (e instanceof GatewayError) {
    return {
      exitCode: ExitCode.gatewayError,
      message: `the Gateway answered ${e.code}: ${e.message}`,
      json: { ok: false, error: e.toShape() }
    }
  }
  if (e instanceof ConfigError) {
    return {
      exitCode: ExitCode.usage,
      message: e.message,
      json: { ok: false, error: { kind: "Config", message: e.message, path: e.path, issues: e.issues ?? [] } }
    }
  }
  if (e instanceof GatewayStartError) {
    return { exitCode: ExitCode.usage, message: e.message, json: { ok: false, error: { kind: "Start", message: e.message } } }
  }
  if (e instanceof StateLockHeld) {
    return {
      exitCode: ExitCode.config,
      message: e.message,
      json: {
        ok: false,
        error: { kind: "StateLockHeld", message: e.message, stateDir: e.stateDir, ...(e.owner ? { owner: e.owner } : {}) }
      }
    }
  }
  if (e instanceof StateLockError) {
    return {
      exitCode: ExitCode.gatewayError,
      message: e.message,
      json: { ok: false, error: { kind: "StateLock", reason: e.reason, message: e.message } }
    }
  }
  if (e instanceof ServiceError) {
    // Fix the input (platform, --force, install first); a failed systemctl/launchctl or file is 1.
    const exitCode = e.reason === "Command" || e.reason === "Io" ? ExitCode.gatewayError : ExitCode.usage
    return { exitCode, message: e.message, json: { ok: false, error: { kind: "Service", reason: e.reason, message: e.message } } }
  }
  if (e instanceof GatewayStopError) {
    // No Gateway to stop is "not reachable", as `gateway status` says it.
    const exitCode = e.reason === "NotRunning" ? ExitCode.unreachable : ExitCode.gatewayError
    return {
      exitCode,
      message: e.message,
      json: { ok: false, error: { kind: "Stop", reason: e.reason, message: e.message, stateDir: e.stateDir } }
    }
  }
  if (e instanceof UsageError) {
    return { exitCode: ExitCode.usage, message: e.message, json: { ok: false, error: { kind: "Usage", message: e.message } } }
  }
  const message = e instanceof Error ? e.message : String(e)
  return { exitCode: ExitCode.gatewayError, message, json: { ok: false, error: { kind: "Internal", message } } }
}
