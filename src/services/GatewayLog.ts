/**
 * GatewayLog: the Gateway's log file (JSON lines in `<stateDir>/logs/gateway.log`,
 * rotated by size to gateway.log.1 … .N), read back by `logs.tail`. Known secrets are masked before a line is written
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
  /**
   * The position to pass as `cursor` next time to get only newer lines: bytes written to the log since this
   * Gateway started counting, across rotations (the bytes of files rotated away, plus the current file's
   * size). Without a rotation it is the byte offset in the current file.
   */
  readonly cursor: number
  /** The current file's size in bytes. */
  readonly size: number
  readonly lines: ReadonlyArray<string>
  readonly truncated: boolean
  /** Lines after `cursor` were rotated away (or the file was truncated); reading restarted from the end. */
  readonly reset: boolean
}

export interface GatewayLogService {
  readonly file: string
  readonly tail: (req: TailRequest) => Effect.Effect<TailResult, GatewayError>
  /** Registers a value that must never appear in a log line. */
  readonly addSecret: (secret: string) => Effect.Effect<void>
}

export class GatewayLog extends Context.Tag("clawgate/GatewayLog")<GatewayLog, GatewayLogService>() {}
