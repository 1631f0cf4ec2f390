/**
 * Hooks for pages over the `UiClient`:
 *
 *   useConnected(client, (hello) => load())   // now if connected, and after every reconnect
 *   useGatewayEvent(client, "device.pair.requested", (e) => refresh())
 */
import { useEffect, useRef } from "preact/hooks"
import type { GatewayEvent, HelloOk, UiClient } from "../client/types.js"

/** Runs `f` once the page is connected (at once if it already is) and again after every reconnect. */
export const useConnected = (client: UiClient, f: (hello: HelloOk) => void) => {
  const latest = useRef(f)
  latest.current = f
  useEffect(() => {
    const s = client.state.peek()
    if (s._tag === "connected") latest.current(s.hello)
    return client.onConnected((hello) => latest.current(hello))
  }, [client])
}

/** Listens to one event (or "*") while the component is mounted. */
export const useGatewayEvent = (client: UiClient, event: string, f: (e: GatewayEvent) => void) => {
  const latest = useRef(f)
  latest.current = f
  useEffect(() => client.on(event, (e) => latest.current(e)), [client, event])
}
