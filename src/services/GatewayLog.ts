/**
 * GatewayLog: the Gateway's log file (JSON lines in `<stateDir>/logs/`), read
 * back by `logs.tail`. Known secrets are masked before a line is written
 * anywhere, so the token is never in a log after the first-start banner.
 */
import { Context, type Effect } from "effect"
import type { GatewayError } from "../protocol/errors.js"

export interface TailRequest {
  readonly cursor?: number | undefined
  readonly limit?: number | undefined
  readonly maxBytes?: number | undefined
}

export interface TailResult {
  readonly file: string
  /** Byte offset to pass as `cursor` next time to get only newer lines. */
  readonly cursor: number
  readonly size: number
  readonly lines: ReadonlyArray<string>
  readonly truncated: boolean
  /** The file was rotated or truncated since `cursor`; reading restarted from the end. */
  readonly reset: boolean
}

export interface GatewayLogService {
  readonly file: string
  readonly tail: (req: TailRequest) => Effect.Effect<TailResult, GatewayError>
  /** Registers a value that must never appear in a log line. */
  readonly addSecret: (secret: string) => Effect.Effect<void>
}

export class GatewayLog extends Context.Tag("clawgate/GatewayLog")<GatewayLog, GatewayLogService>() {}
