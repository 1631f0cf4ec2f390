/**
 * GatewayClient: how a program talks to a Gateway. Programs are written once
 * against this tag; the layer decides whether the Gateway is in this process
 * (Local), across a WebSocket (Remote) or a fake (Test).
 */
import { Context, Data, type Effect, type Scope, type Stream } from "effect"
import type { Target } from "../config/target.js"
import type { DeviceIdentityService } from "./DeviceIdentity.js"
import type { GatewayError } from "../protocol/errors.js"
import type { EventFrame } from "../protocol/frames.js"
import type { AnyMethod, ParamsOf, ResultOf } from "../protocol/method.js"

/** A method's params (optional when it needs none) and request options. */
export type CallArgs<M extends AnyMethod> =
  Record<never, never> extends ParamsOf<M>
    ? [params?: ParamsOf<M>, options?: RequestOptions]
    : [params: ParamsOf<M>, options?: RequestOptions]

export interface RequestOptions {
  /** Wait past an interim `{status:"accepted"}` reply for the final one. */
  readonly expectFinal?: boolean | undefined
  /** Per-request timeout; default 10 s (30 s with expectFinal). */
  readonly timeoutMs?: number | undefined
}

export interface TargetInfo {
  /** `ws://127.0.0.1:18789`, `wss://gw.example:443`, `in-process`, ... */
  readonly url: string
  /** Where the URL came from: `--url`, `gateway.remote.url`, `local (port from gateway.port)`, ... */
  readonly urlSource: string
  readonly mode: "local" | "remote" | "in-process" | "test"
  /** Where the credential came from (`--token`, `gateway.remote.token`, env name), if any. */
  readonly authSource?: string | undefined
}

export interface ServerInfo {
  readonly version: string
  readonly protocol: number
  readonly connId: string
  readonly methods: ReadonlyArray<string>
  readonly authMethod?: string | undefined
  readonly scopes: ReadonlyArray<string>
  readonly tickIntervalMs: number
  /** Milliseconds from opening the socket to hello-ok. */
  readonly connectMs: number
}

export class GatewayClientError extends Data.TaggedError("GatewayClientError")<{
  /** `Answer`: the Gateway answered, but not in the shape the method table declares. */
  readonly reason: "Target" | "Connect" | "Auth" | "NotPaired" | "Handshake" | "Timeout" | "Closed" | "TlsPin" | "Answer"
  readonly message: string
  readonly target?: TargetInfo | undefined
  /** The Gateway's own error, when it sent one. */
  readonly error?: GatewayError | undefined
}> {}

export interface GatewayClientService {
  readonly target: TargetInfo
  /**
   * Connects (once; later calls share the connection) and returns what the
   * Gateway said in hello-ok. `request` connects by itself; call this to
   * probe reachability or to read the server's facts.
   */
  readonly connect: Effect.Effect<ServerInfo, GatewayClientError>
  readonly request: (
    method: string,
    params?: unknown,
    options?: RequestOptions
  ) => Effect.Effect<unknown, GatewayError | GatewayClientError>
  /**
   * A method of the table: its params typed, its answer decoded with the method's result schema (fields the
   * schema does not name are kept). Programs call this; `request` is for `gateway call` and raw frames.
   */
  readonly call: <M extends AnyMethod>(method: M, ...args: CallArgs<M>) => Effect.Effect<ResultOf<M>, GatewayError | GatewayClientError>
  /** Events pushed by the Gateway after the handshake. */
  readonly events: Stream.Stream<EventFrame>
}

export class GatewayClient extends Context.Tag("clawgate/GatewayClient")<GatewayClient, GatewayClientService>() {}

/** How to open one connection to a Gateway: the target, who this client is, and what it asks for. */
export interface RemoteClientOptions {
  readonly target: Target
  /** Connect + handshake budget. */
  readonly connectTimeoutMs?: number | undefined
  readonly defaultRequestTimeoutMs?: number | undefined
  readonly client?: {
    readonly id?: string
    readonly mode?: string
    readonly displayName?: string
    readonly instanceId?: string
  }
  readonly role?: "operator" | "node"
  readonly scopes?: ReadonlyArray<string>
  readonly caps?: ReadonlyArray<string>
  readonly commands?: ReadonlyArray<string>
  /**
   * Sign the connect with this device identity. Without a token or password
   * in the target, a device token stored for this Gateway is used.
   */
  readonly device?: DeviceIdentityService | undefined
}

export interface RemoteConnection {
  readonly server: ServerInfo
  readonly request: GatewayClientService["request"]
  readonly events: GatewayClientService["events"]
  /** Completes with the reason once the connection is gone (closed, tick timeout, error). */
  readonly closed: Effect.Effect<GatewayClientError>
  /** The device token the Gateway issued in this hello, if any (already stored with the identity). */
  readonly deviceToken?: string | undefined
}

/**
 * Opens connections one at a time, each in the caller's scope: for a program that runs its own
 * sessions (the node host reconnects by itself), where GatewayClient is one shared connection.
 */
export class GatewayConnector extends Context.Tag("clawgate/GatewayConnector")<
  GatewayConnector,
  { readonly connect: (options: RemoteClientOptions) => Effect.Effect<RemoteConnection, GatewayClientError, Scope.Scope> }
>() {}
