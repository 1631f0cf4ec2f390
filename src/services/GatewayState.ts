/**
 * GatewayState: facts about this running Gateway that several services report
 * (start time, where it listens, how many connections it has, and security
 * events that `clawgate security audit` reads back through `status`).
 */
import { Context, type Effect } from "effect"
import type { BindMode, TailscaleMode } from "../config/schema.js"

export interface Listener {
  readonly host: string
  readonly port: number
}

export interface ServingInfo {
  readonly bind: BindMode
  readonly port: number
  readonly listeners: ReadonlyArray<Listener>
  readonly authMode: string
  /** Serving wss:// (gateway.tls.enabled). */
  readonly tls?: boolean | undefined
  /** The served certificate's SHA-256, lower-case hex (what clients pin). */
  readonly tlsFingerprint?: string | undefined
  /** gateway.tailscale.mode: Tailscale Serve or Funnel run for this port. */
  readonly tailscale?: TailscaleMode | undefined
}

/** Connections whose forwarding headers came from a peer not in gateway.trustedProxies (the headers were ignored). */
export interface UntrustedProxyHeaders {
  readonly count: number
  /** The peer's address on the last such connection. */
  readonly lastFrom: string | null
  /** When it was seen (ms since the epoch). */
  readonly lastAt: number | null
}

export interface GatewayStateService {
  readonly version: string
  readonly startedAt: number
  readonly uptimeMs: Effect.Effect<number>
  readonly serving: Effect.Effect<ServingInfo | undefined>
  readonly setServing: (info: ServingInfo) => Effect.Effect<void>
  /** Connected operators and nodes, and TCP connections that have not finished connect (`pending`). */
  readonly connections: Effect.Effect<{ readonly pending: number; readonly operators: number; readonly nodes: number }>
  /** Where `connections.pending` comes from: TCP connections that have not finished connect (nor become an HTTP request). */
  readonly countPendingWith: (source: () => number) => Effect.Effect<void>
  /** Where `requestsInFlight` comes from: requests of every connection waiting for their answer. */
  readonly countInflightWith: (source: () => number) => Effect.Effect<void>
  readonly requestsInFlight: Effect.Effect<number>
  readonly countConnection: (kind: "operators" | "nodes", delta: number) => Effect.Effect<void>
  readonly untrustedProxyHeaders: Effect.Effect<UntrustedProxyHeaders>
  readonly noteUntrustedProxyHeaders: (from: string) => Effect.Effect<void>
}

export class GatewayState extends Context.Tag("clawgate/GatewayState")<GatewayState, GatewayStateService>() {}
