/**
 * The one error that crosses the wire. Every method handler fails with it, the
 * server encodes it as the `error` of a `res` frame, and the remote client
 * decodes it back, so a program sees the same error locally and remotely.
 */
import { Schema } from "effect"
import type { ErrorCode, ErrorShape } from "./frames.js"

export class GatewayError extends Schema.TaggedError<GatewayError>()("GatewayError", {
  code: Schema.String,
  message: Schema.String,
  details: Schema.optional(Schema.Unknown),
  retryable: Schema.optional(Schema.Boolean),
  retryAfterMs: Schema.optional(Schema.Number)
}) {
  static of(code: ErrorCode, message: string, extra: { details?: unknown; retryable?: boolean; retryAfterMs?: number } = {}): GatewayError {
    return new GatewayError({ code, message, ...extra })
  }

  static invalidRequest(message: string, details?: unknown): GatewayError {
    return GatewayError.of("INVALID_REQUEST", message, details === undefined ? {} : { details })
  }

  static unavailable(message: string, details?: unknown): GatewayError {
    return GatewayError.of("UNAVAILABLE", message, { retryable: true, ...(details === undefined ? {} : { details }) })
  }

  static fromShape(shape: ErrorShape): GatewayError {
    return new GatewayError({
      code: shape.code,
      message: shape.message,
      ...(shape.details !== undefined ? { details: shape.details } : {}),
      ...(shape.retryable !== undefined ? { retryable: shape.retryable } : {}),
      ...(shape.retryAfterMs !== undefined ? { retryAfterMs: shape.retryAfterMs } : {})
    })
  }

  /** The `details.code` of the error, when it has one. */
  get detailCode(): string | undefined {
    const d = this.details
    return typeof d === "object" && d !== null && typeof (d as { code?: unknown }).code === "string"
      ? (d as { code: string }).code
      : undefined
  }

  toShape(): ErrorShape {
    return {
      code: this.code,
      message: this.message,
      ...(this.details !== undefined ? { details: this.details } : {}),
      ...(this.retryable !== undefined ? { retryable: this.retryable } : {}),
      ...(this.retryAfterMs !== undefined ? { retryAfterMs: this.retryAfterMs } : {})
    }
  }
}
