/**
 * ConnectionHub: the live connections, as handles services can act on
 * (send an event to one connection, close the ones of a device) without
 * knowing about sockets. The transport registers and unregisters them.
 */
import { Effect } from "effect"
import type { Role } from "../protocol/frames.js"

export interface ConnectionHandle {
  readonly connId: string
  readonly role: Role
  readonly deviceId?: string | undefined
  readonly clientId: string
  readonly sendEvent: (event: string, payload: unknown) => void
  readonly close: (code: number, reason: string) => void
}

export class ConnectionHub extends Effect.Service<ConnectionHub>()("clawgate/ConnectionHub", {
  sync: () => {
    const handles = new Map<string, ConnectionHandle>()
    return {
      register: (h: ConnectionHandle) => Effect.sync(() => void handles.set(h.connId, h)),
      unregister: (connId: string) => Effect.sync(() => void handles.delete(connId)),
      get: (connId: string) => Effect.sync(() => handles.get(connId)),
      /** `get` without an effect, for the node.invoke hot path. */
      unsafeGet: (connId: string): ConnectionHandle | undefined => handles.get(connId),
      /** Closes every connection matching `pred`; returns how many. */
      closeWhere: (pred: (h: ConnectionHandle) => boolean, code: number, reason: string) =>
        Effect.sync(() => {
          let n = 0
          for (const h of [...handles.values()]) {
            if (pred(h)) {
              handles.delete(h.connId)
              h.close(code, reason)
              n++
            }
          }
          return n
        }),
      connectedDevices: Effect.sync(() => new Set([...handles.values()].flatMap((h) => (h.deviceId ? [h.deviceId] : []))))
    }
  }
}) {}
