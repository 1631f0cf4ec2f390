/**
 * Frames the Gateway writes. A broadcast is serialised once: every recipient
 * is sent the same bytes, followed by its own `seq`, so fanning an event out
 * to N connections costs N writes, not N serialisations of the payload; and a
 * big shared piece (the presence list in hello-ok) is never copied per
 * connection either.
 */
import type { Duplex } from "node:stream"
import type { WebSocket } from "ws"

/** Above this size a shared piece is sent by reference (as its own fragment) instead of being copied. */
const SHARE_ABOVE_BYTES = 4096

export interface EncodedEvent {
  readonly event: string
  /** Everything up to and including `"seq":`, to be followed by the recipient's seq and `}`. */
  readonly head: Buffer
  readonly headText: string
}

export const encodeEvent = (
  event: string,
  payload: unknown,
  stateVersion?: { readonly presence: number; readonly health: number }
): EncodedEvent => {
  const headText =
    `{"type":"event","event":${JSON.stringify(event)}` +
    (payload === undefined ? "" : `,"payload":${JSON.stringify(payload)}`) +
    (stateVersion ? `,"stateVersion":{"presence":${stateVersion.presence},"health":${stateVersion.health}}` : "") +
    `,"seq":`
  return { event, headText, head: Buffer.from(headText) }
}

/** The TCP socket under a `ws` WebSocket (ws 8 keeps it as `_socket`), to cork around a multi-part message. */
const socketOf = (ws: WebSocket): Duplex | undefined => (ws as unknown as { _socket?: Duplex | null })._socket ?? undefined

/**
 * One text message made of parts (strings, or shared Buffers that are not
 * copied), as WebSocket fragments written in one system call: the socket is
 * corked around them, so the kernel sees one write, not one per fragment.
 */
export const sendParts = (ws: WebSocket, parts: ReadonlyArray<string | Buffer>): void => {
  const only = parts.length === 1 ? parts[0] : undefined
  if (only !== undefined) return ws.send(only, { binary: false })
  const socket = socketOf(ws)
  socket?.cork()
  try {
    parts.forEach((part, i) => ws.send(part, { binary: false, fin: i === parts.length - 1 }))
  } finally {
    socket?.uncork()
  }
}

/**
 * Writes one encoded event with this recipient's seq; returns the bytes written. To a crowd (`shared`) or
 * when it is big, the head is sent by reference, so a fan-out allocates nothing per recipient but its seq.
 */
export const sendEncoded = (ws: WebSocket, encoded: EncodedEvent, seq: number, shared: boolean): number => {
  const tail = `${seq}}`
  if (!shared && encoded.head.length <= SHARE_ABOVE_BYTES) ws.send(encoded.headText + tail)
  else sendParts(ws, [encoded.head, tail])
  return encoded.head.length + tail.length
}
