/** The connection state as the header says it, in words (always visible) and for screen readers. */
import type { ConnectionState } from "./types.js"

export interface StateText {
  /** What the header shows (a countdown while reconnecting). */
  readonly text: string
  /** What is announced (aria-live): changes only when the state does, not every second. */
  readonly announce: string
  readonly tone: "ok" | "warn" | "error" | "info"
}

export const describeState = (s: ConnectionState, now: number): StateText => {
  switch (s._tag) {
    case "connecting":
      return { text: "Connecting…", announce: "Connecting to the Gateway", tone: "info" }
    case "pairing":
      return { text: "Waiting for approval", announce: "Waiting for approval of this browser", tone: "warn" }
    case "connected":
      return { text: "Connected", announce: "Connected to the Gateway", tone: "ok" }
    case "reconnecting": {
      const left = s.at !== undefined ? Math.ceil((s.at - now) / 1000) : Math.ceil(s.inMs / 1000)
      return {
        text: left > 0 ? `Reconnecting in ${left} s` : "Reconnecting…",
        announce: `Connection lost: ${s.reason}. Reconnecting`,
        tone: "warn"
      }
    }
    case "login":
      return {
        text: s.error ? "Disconnected: log in again" : "Disconnected: log in",
        announce: s.error ? `Not connected: ${s.error}` : "Not connected: log in with the Gateway's token or password",
        tone: "error"
      }
    case "failed":
      return { text: "Disconnected: see the message below", announce: `Not connected: ${s.message}`, tone: "error" }
  }
}
