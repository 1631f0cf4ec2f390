/**
 * The Control UI's connection to the Gateway that served the page, as the
 * pages see it. One `UiClient` per page load (client/connection.ts makes it);
 * pages read its signals and call methods, and never open a socket themselves.
 *
 * The page only ever connects to its own origin (`location`): nothing here
 * takes a URL, and no query parameter is ever read for one.
 */
import type { ReadonlySignal } from "@preact/signals"

/** What the header shows at all times. */
export type ConnectionState =
  /** No credential yet: the login form (token or password). */
  | {
      readonly _tag: "login"
      readonly error?: string
      /** Which field the Gateway asked for (its refusal said AUTH_TOKEN_* or AUTH_PASSWORD_*). */
      readonly prefer?: "token" | "password"
    }
  | { readonly _tag: "connecting" }
  /** The Gateway answered NOT_PAIRED: this browser's device waits for an operator. */
  | { readonly _tag: "pairing"; readonly requestId: string; readonly deviceId: string }
  | { readonly _tag: "connected"; readonly hello: HelloOk }
  /** The socket dropped after it had been connected; retrying with backoff. */
  | {
      readonly _tag: "reconnecting"
      readonly attempt: number
      readonly inMs: number
      readonly reason: string
      /** When the next attempt starts (ms since the epoch), for a countdown. */
      readonly at?: number
    }
  /** A refusal that retrying will not fix (wrong token, origin not allowed): what to do is in `message`. */
  | { readonly _tag: "failed"; readonly message: string }

/** The parts of hello-ok the pages use. */
export interface HelloOk {
  readonly protocol: number
  readonly server: { readonly version: string; readonly connId: string }
  readonly features: { readonly methods: ReadonlyArray<string>; readonly events: ReadonlyArray<string> }
  readonly snapshot: {
    readonly presence: ReadonlyArray<Record<string, unknown>>
    readonly health: Record<string, unknown>
    readonly uptimeMs: number
    readonly sessionDefaults?: { readonly defaultAgentId: string; readonly mainKey: string; readonly mainSessionKey: string }
  }
  readonly auth: { readonly method?: string; readonly role: string; readonly scopes: ReadonlyArray<string> }
  readonly policy: { readonly tickIntervalMs: number; readonly maxPayload?: number }
}

/**
 * `CallError.detailCode` of a request cut off because the socket dropped (code UNAVAILABLE):
 * whether the Gateway got it is unknown, so check before you retry (an idempotency key makes
 * a retry safe).
 */
export const CONNECTION_LOST = "CONNECTION_LOST"
/** `CallError.detailCode` of a request refused without being sent: not connected (code UNAVAILABLE). */
export const NOT_CONNECTED = "NOT_CONNECTED"

/** A Gateway error answer, as thrown by `call`. */
export class CallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown
  ) {
    super(message)
    this.name = "CallError"
  }
  /** `details.code` when the Gateway gave one (MISSING_SCOPE, PAIRING_REQUIRED, ...). */
  get detailCode(): string | undefined {
    const d = this.details as { code?: unknown } | undefined
    return typeof d?.code === "string" ? d.code : undefined
  }
}

export interface GatewayEvent {
  readonly event: string
  readonly payload: unknown
  readonly seq?: number
}

export interface UiClient {
  readonly state: ReadonlySignal<ConnectionState>
  /** The last `tick` event's `ts` (ms), for the Overview's live tick. */
  readonly lastTick: ReadonlySignal<number | undefined>
  /**
   * Calls a method on the connected Gateway. Rejects with `CallError` for an error answer, and with a
   * `CallError` of code "UNAVAILABLE" when not connected or when the socket drops before the answer.
   * `onAccepted` receives the first answer of a two-answer method (`agent`).
   * An answer that does not come within `timeoutMs` (default 30 s; for a
   * two-answer method, the first answer) rejects with code "TIMEOUT".
   */
  readonly call: (
    method: string,
    params?: unknown,
    options?: { readonly onAccepted?: (payload: unknown) => void; readonly timeoutMs?: number }
  ) => Promise<unknown>
  /** Listens to one event name (or "*" for all) while connected and across reconnects; returns the unsubscribe. */
  readonly on: (event: string, listener: (event: GatewayEvent) => void) => () => void
  /**
   * Runs `listener` after every successful (re)connect, so a page reloads what it shows. It is not
   * called for a connection already up when you subscribe: read `state` for that (or use
   * components/hooks.ts's `useConnected`, which does both).
   */
  readonly onConnected: (listener: (hello: HelloOk) => void) => () => void
  /** Login with a shared secret typed by the user (kept in memory only; the device token is what is stored). */
  readonly login: (credential: { readonly token: string } | { readonly password: string }) => void
  /** Forgets this browser's stored device token (and, with `identity`, its device key) and returns to login. */
  readonly logout: (options?: { readonly identity?: boolean }) => Promise<void>
  /** This browser's device id (hex SHA-256 of its public key), once its identity is loaded. */
  readonly deviceId: () => string | undefined
  /** Whether the granted scopes satisfy `scope` (admin implies all, write implies read). */
  readonly can: (scope: string) => boolean
}
