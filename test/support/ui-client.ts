/**
 * The Control UI's connection (src/ui/client/connection.ts) in Node: the
 * `ws` package's WebSocket as the browser's (with an Origin header, as a
 * browser sends), an in-memory store in place of IndexedDB, and a wait on the
 * connection's state signal.
 */
import { Effect, type Scope } from "effect"
import WebSocket from "ws"
import {
  type BrowserStore,
  type Connection,
  type ConnectionOptions,
  makeConnection,
  type SocketLike,
  type StoredDeviceToken
} from "../../src/ui/client/connection.js"
import { generateWebCryptoKey, identityOf } from "../../src/ui/client/keys.js"
import type { ConnectionState } from "../../src/ui/client/types.js"

export interface MemoryStore extends BrowserStore {
  readonly token: () => StoredDeviceToken | undefined
}

/** One browser profile: its device key (WebCrypto, non-extractable) and its stored device token. */
export const memoryStore = (): MemoryStore => {
  let token: StoredDeviceToken | undefined
  let identity: ReturnType<typeof identityOf> | undefined
  return {
    loadIdentity: () => {
      identity ??= generateWebCryptoKey().then((k) => {
        if (!k) throw new Error("no WebCrypto Ed25519 in this Node")
        return identityOf(k)
      })
      return identity
    },
    forgetIdentity: async () => {
      identity = undefined
    },
    loadDeviceToken: async () => token,
    saveDeviceToken: async (t) => {
      token = t
    },
    clearDeviceToken: async () => {
      token = undefined
    },
    token: () => token
  }
}

export interface UiHarness {
  readonly client: Connection
  /** Every socket the connection opened, newest last (a test may terminate one to drop the connection). */
  readonly sockets: Array<WebSocket>
}

/** A started connection to `url`, stopped with the scope. `origin` is the page's (as a browser sends it). */
export const uiClient = (
  url: string,
  origin: string,
  options: Partial<ConnectionOptions> & { readonly store?: BrowserStore } = {}
): Effect.Effect<UiHarness, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const sockets: Array<WebSocket> = []
      const client = makeConnection({
        url,
        origin,
        openSocket: (u) => {
          const ws = new WebSocket(u, { origin, perMessageDeflate: false })
          sockets.push(ws)
          return ws as unknown as SocketLike
        },
        store: options.store ?? memoryStore(),
        client: { platform: "web", deviceFamily: "Linux", displayName: "Control UI (test)", instanceId: "test-instance" },
        ...options
      })
      client.start()
      return { client, sockets }
    }),
    ({ client }) => Effect.sync(() => client.stop())
  )

/** The first state (now or later) that `pred` accepts; fails with the last state seen after `timeoutMs`. */
export const untilState = (client: Connection, pred: (s: ConnectionState) => boolean, timeoutMs = 10_000) =>
  Effect.promise(
    () =>
      new Promise<ConnectionState>((resolve, reject) => {
        let done = false
        let unsub: (() => void) | undefined
        const timer = setTimeout(() => {
          done = true
          unsub?.()
          reject(new Error(`state not reached in ${timeoutMs} ms; last: ${JSON.stringify(client.state.value)}`))
        }, timeoutMs)
        unsub = client.state.subscribe((s) => {
          if (done || !pred(s)) return
          done = true
          clearTimeout(timer)
          queueMicrotask(() => unsub?.())
          resolve(s)
        })
        if (done) unsub()
      })
  )
