/**
 * Frames the Gateway writes. A broadcast is serialised once: every recipient
 * is sent the same bytes, followed by its own `seq`, so fanning an event out
 * to N connections costs N writes, not N serialisations of the payload.
 */
import type { WebSocket } from "ws"

/** Above this size a broadcast is sent as two fragments (the shared bytes, then the seq) instead of being copied per recipient. */
const SHARE_ABOVE_BYTES = 4096

export interface EncodedEvent {
  readonly event: string
  /** Everything up to and including `"seq":`, to be followed by the recipient's seq and `}`. */
  readonly head: Buffer
  readonly headText: string
}

export const encodeEvent = (event: string, payload: unknown, stateVersion?: { readonly presence: number; readonly health: number }): EncodedEvent => {
  const headText =
    `{"type":"event","event":${JSON.stringify(event)}` +
    (payload === undefined ? "" : `,"payload":${JSON.stringify(payload)}`) +
    (stateVersion ? `,"stateVersion":{"presence":${stateVersion.presence},"health":${stateVersion.health}}` : "") +
    `,"seq":`
  return { event, headText, head: Buffer.from(headText) }
}

/** Writes one encoded event with this recipient's seq; returns the bytes written. */
export const sendEncoded = (ws: WebSocket, encoded: EncodedEvent, seq: number): number => {
  const tail = `${seq}}`
  if (encoded.head.length <= SHARE_ABOVE_BYTES) {
    ws.send(encoded.headText + tail)
  } else {
    // One message in two fragments: the shared head is never copied, only referenced by each socket's queue.
    ws.send(encoded.head, { binary: false, fin: false })
    ws.send(tail, { fin: true })
  }
  return encoded.head.length + tail.length
}
