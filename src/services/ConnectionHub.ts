/**
 * ConnectionHub: the live connections, as handles services can act on
 * (send an event to one connection, close the ones of a device) without
 * knowing about sockets. The transport registers and unregisters them.
 */
import { Context, type Effect } from "effect"
import type { Role } from "../protocol/frames.js"

export interface ConnectionHandle {
  readonly connId: string
  readonly role: Role
  readonly deviceId?: string | undefined
  readonly clientId: string
  readonly sendEvent: (event: string, payload: unknown) => void
  readonly close: (code: number, reason: string) => void
}

export interface ConnectionHubService {
  readonly register: (h: ConnectionHandle) => Effect.Effect<void>
  readonly unregister: (connId: string) => Effect.Effect<void>
  readonly get: (connId: string) => Effect.Effect<ConnectionHandle | undefined>
  /** `get` without an effect, for the node.invoke hot path. */
  readonly unsafeGet: (connId: string) => ConnectionHandle | undefined
  /** Closes every connection matching `pred`; returns how many. */
  readonly closeWhere: (pred: (h: ConnectionHandle) => boolean, code: number, reason: string) => Effect.Effect<number>
  /** Whether a device has at least one connection now. */
  readonly isConnected: (deviceId: string) => boolean
}

export class ConnectionHub extends Context.Tag("clawgate/ConnectionHub")<ConnectionHub, ConnectionHubService>() {}
