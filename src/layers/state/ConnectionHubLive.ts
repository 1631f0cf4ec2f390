/** The ConnectionHub service (see services/ConnectionHub.ts). */
import { Effect } from "effect"
import { ConnectionHub, type ConnectionHandle } from "../../services/ConnectionHub.js"
import { Layer } from "effect"

const make = () => {
  const handles = new Map<string, ConnectionHandle>()
  // How many connections each device has, kept as they come and go: asked on every device's connect.
  const perDevice = new Map<string, number>()
  const add = (h: ConnectionHandle) => {
    if (h.deviceId !== undefined) perDevice.set(h.deviceId, (perDevice.get(h.deviceId) ?? 0) + 1)
  }
  const drop = (connId: string) => {
    const h = handles.get(connId)
    if (h === undefined) return
    handles.delete(connId)
    if (h.deviceId === undefined) return
    const n = (perDevice.get(h.deviceId) ?? 1) - 1
    if (n <= 0) perDevice.delete(h.deviceId)
    else perDevice.set(h.deviceId, n)
  }
  return {
    register: (h: ConnectionHandle) =>
      Effect.sync(() => {
        drop(h.connId)
        handles.set(h.connId, h)
        add(h)
      }),
    unregister: (connId: string) => Effect.sync(() => drop(connId)),
    get: (connId: string) => Effect.sync(() => handles.get(connId)),
    /** `get` without an effect, for the node.invoke hot path. */
    unsafeGet: (connId: string): ConnectionHandle | undefined => handles.get(connId),
    /** Closes every connection matching `pred`; returns how many. */
    closeWhere: (pred: (h: ConnectionHandle) => boolean, code: number, reason: string) =>
      Effect.sync(() => {
        let n = 0
        for (const h of [...handles.values()]) {
          if (pred(h)) {
            drop(h.connId)
            h.close(code, reason)
            n++
          }
        }
        return n
      }),
    /** Whether a device has at least one connection now. */
    isConnected: (deviceId: string): boolean => perDevice.has(deviceId)
  }
}

export const ConnectionHubLive = Layer.sync(ConnectionHub, make)
