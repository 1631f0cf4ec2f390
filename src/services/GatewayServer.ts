/**
 * GatewayServer: the transport. One port serving HTTP probes and the
 * WebSocket protocol; it authenticates each connection through Auth and
 * hands every request to the Dispatcher.
 */
import { Context, Data } from "effect"
import type { BindMode } from "../config/schema.js"
import type { Listener } from "./GatewayState.js"

/** What `clawgate gateway run` was told on its command line. */
export interface GatewayRunOptions {
  readonly port?: number | undefined
  readonly bind?: BindMode | undefined
  readonly token?: string | undefined
  readonly password?: string | undefined
}

export class GatewayRunFlags extends Context.Tag("clawgate/GatewayRunFlags")<GatewayRunFlags, GatewayRunOptions>() {}

export class GatewayStartError extends Data.TaggedError("GatewayStartError")<{
  readonly message: string
}> {}

export interface GatewayServerService {
  readonly bind: BindMode
  readonly port: number
  readonly listeners: ReadonlyArray<Listener>
  /** The URL a local client uses, e.g. `ws://127.0.0.1:18789`. */
  readonly url: string
  /** Set when this start generated the shared token (shown once, by the caller). */
  readonly generatedToken?: string | undefined
  /** With TLS: the certificate's SHA-256 (hex) for clients to pin. */
  readonly tlsFingerprint?: string | undefined
}

export class GatewayServer extends Context.Tag("clawgate/GatewayServer")<GatewayServer, GatewayServerService>() {}
