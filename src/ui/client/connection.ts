/**
 * The page's one connection to the Gateway that served it: the `UiClient`
 * the pages use (types.ts).
 *
 * It connects to exactly the URL it is given (browser.ts derives it from
 * `location`, never from a query parameter or the fragment), answers the
 * challenge with a signed `connect`, correlates requests by id, hands events
 * to listeners, watches the `tick`, and reconnects with backoff. A refusal
 * becomes a state the header and main view show (refusal.ts decides which).
 *
 * No DOM types here: the socket, the storage and the timers are passed in,
 * so tests drive this module in Node against a real Gateway.
 */
import { batch, signal } from "@preact/signals"
import { scopeSatisfies } from "../../protocol/scopes.js"
import { backoffDelay, PAIRING_RETRY_INITIAL_MS, PAIRING_RETRY_MAX_MS } from "./backoff.js"
import { type ClientFacts, type ConnectAuth, OPERATOR_SCOPES, signedConnectParams } from "./connect-params.js"
import type { FragmentCredential } from "./fragment.js"
import type { DeviceIdentity } from "./keys.js"
import { type ConnectDecision, type CredentialKind, decideEarlyClose, decideRefusal, printable, type WireError } from "./refusal.js"
import { CallError, CONNECTION_LOST, type ConnectionState, NOT_CONNECTED, type GatewayEvent, type HelloOk, type UiClient } from "./types.js"

/** The part of a browser WebSocket this module uses (the `ws` package's WebSocket has it too). */
export interface SocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { readonly data: unknown }) => void) | null
  onclose: ((ev: { readonly code: number; readonly reason: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
}

export interface StoredDeviceToken {
  readonly token: string
  readonly role: string
  /** The scopes hello-ok granted with it: what the next connect asks for. */
  readonly scopes: ReadonlyArray<string>
  readonly savedAt: number
}

/** Where the page keeps its device key and device token (identity.ts: IndexedDB). Never a shared secret. */
export interface BrowserStore {
  readonly loadIdentity: () => Promise<DeviceIdentity>
  readonly forgetIdentity: () => Promise<void>
  readonly loadDeviceToken: () => Promise<StoredDeviceToken | undefined>
  readonly saveDeviceToken: (token: StoredDeviceToken) => Promise<void>
  readonly clearDeviceToken: () => Promise<void>
}

export interface Timers {
  readonly setTimeout: (fn: () => void, ms: number) => unknown
  readonly clearTimeout: (handle: unknown) => void
  readonly now: () => number
}

export interface ConnectionOptions {
  /** The Gateway's WebSocket URL: the page's own origin and base path (browser.ts). */
  readonly url: string
  /** The page's origin, for messages that name gateway.controlUi.allowedOrigins. */
  readonly origin?: string
  readonly openSocket: (url: string) => SocketLike
  readonly store: BrowserStore
  readonly client: ClientFacts
  /** A credential from the URL fragment, read (and removed from the address bar) by main.tsx. */
  readonly initialCredential?: FragmentCredential | undefined
  /** Whether the page's own origin answers HTTP: tells "upgrade refused" from "Gateway down". */
  readonly probeHttp?: () => Promise<boolean>
  readonly timers?: Timers
  readonly random?: () => number
  /** How long a request waits for its answer (default 30 s). */
  readonly requestTimeoutMs?: number
  /** How long the challenge and hello-ok may take after the socket opened (default 15 s). */
  readonly handshakeTimeoutMs?: number
  readonly log?: (message: string) => void
}

/** The connection as the app shell sees it: the pages' `UiClient` plus the controls the shell needs. */
export interface Connection extends UiClient {
  /** Starts connecting (once). */
  readonly start: () => void
  /** Closes the socket and stops reconnecting (a page being unloaded; tests). */
  readonly stop: () => void
  /** Connects again now (the "Try again" of a failed state). */
  readonly retry: () => void
  /** This browser's device id, once the identity is loaded. */
  readonly deviceId: () => string | undefined
}

/** Frames bigger than this before hello-ok are refused (the Gateway's own bound before connect is 64 KiB inbound). */
export const MAX_FRAME_BEFORE_HELLO = 1024 * 1024
/** After hello-ok the bound is the policy's maxPayload, at most this. */
export const MAX_FRAME_AFTER_HELLO = 25 * 1024 * 1024
/** Requests waiting for an answer at once; one more is refused without being sent. */
export const MAX_PENDING_REQUESTS = 256

const DEFAULT_TICK_MS = 30_000

interface Pending {
  readonly method: string
  readonly resolve: (payload: unknown) => void
  readonly reject: (e: CallError) => void
  readonly onAccepted: ((payload: unknown) => void) | undefined
  timer: unknown
}

type Credential =
  | { readonly kind: "token"; readonly token: string }
  | { readonly kind: "password"; readonly password: string }
  | { readonly kind: "bootstrapToken"; readonly bootstrapToken: string }
  | { readonly kind: "none" }

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

const stringList = (v: unknown, max = 64): ReadonlyArray<string> =>
  Array.isArray(v) ? v.filter((s): s is string => typeof s === "string" && s.length <= 256).slice(0, max) : []

const num = (v: unknown, fallback: number): number => (typeof v === "number" && Number.isFinite(v) ? v : fallback)

/** hello-ok as the pages see it, every field checked (a Gateway's answer is input like any other). */
export const readHello = (payload: unknown): HelloOk | undefined => {
  if (!isRecord(payload)) return undefined
  const server = isRecord(payload.server) ? payload.server : {}
  const features = isRecord(payload.features) ? payload.features : {}
  const snapshot = isRecord(payload.snapshot) ? payload.snapshot : {}
  const auth = isRecord(payload.auth) ? payload.auth : {}
  const policy = isRecord(payload.policy) ? payload.policy : {}
  const defaults = isRecord(snapshot.sessionDefaults) ? snapshot.sessionDefaults : undefined
  const str = (v: unknown, fallback = "") => (typeof v === "string" ? v.slice(0, 512) : fallback)
  return {
    protocol: num(payload.protocol, 4),
    server: { version: str(server.version, "unknown"), connId: str(server.connId) },
    features: { methods: stringList(features.methods, 4096), events: stringList(features.events, 4096) },
    snapshot: {
      presence: Array.isArray(snapshot.presence) ? snapshot.presence.filter(isRecord).slice(0, 1000) : [],
      health: isRecord(snapshot.health) ? snapshot.health : {},
      uptimeMs: num(snapshot.uptimeMs, 0),
      ...(defaults
        ? {
            sessionDefaults: {
              defaultAgentId: str(defaults.defaultAgentId, "main"),
              mainKey: str(defaults.mainKey, "main"),
              mainSessionKey: str(defaults.mainSessionKey, "agent:main:main")
            }
          }
        : {})
    },
    auth: {
      ...(typeof auth.method === "string" ? { method: str(auth.method) } : {}),
      role: str(auth.role, "operator"),
      scopes: stringList(auth.scopes)
    },
    policy: {
      // Bounded both ways: a Gateway's 0 must not spin the watchdog, a huge one must not disable it.
      tickIntervalMs: Math.min(Math.max(num(policy.tickIntervalMs, DEFAULT_TICK_MS), 100), 600_000),
      ...(typeof policy.maxPayload === "number" && Number.isFinite(policy.maxPayload) ? { maxPayload: policy.maxPayload } : {})
    }
  }
}

const readError = (v: unknown): WireError => {
  const e = isRecord(v) ? v : {}
  return {
    code: typeof e.code === "string" ? e.code.slice(0, 64) : "UNAVAILABLE",
    message: printable(e.message, 500),
    details: e.details,
    retryAfterMs: typeof e.retryAfterMs === "number" ? e.retryAfterMs : undefined,
    retryable: typeof e.retryable === "boolean" ? e.retryable : undefined
  }
}

const defaultTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof globalThis.setTimeout>),
  now: () => Date.now()
}

export const makeConnection = (options: ConnectionOptions): Connection => {
  const timers = options.timers ?? defaultTimers
  const random = options.random ?? Math.random
  const log = options.log ?? (() => {})
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 15_000
  const origin = options.origin ?? ""

  const state = signal<ConnectionState>({ _tag: "connecting" })
  const lastTick = signal<number | undefined>(undefined)
  /** The scopes of the last hello-ok (kept while reconnecting, so pages do not flicker). */
  const granted = signal<ReadonlyArray<string>>([])

  let credential: Credential = { kind: "none" }
  if (options.initialCredential && "bootstrapToken" in options.initialCredential) {
    credential = { kind: "bootstrapToken", bootstrapToken: options.initialCredential.bootstrapToken }
  } else if (options.initialCredential && "token" in options.initialCredential) {
    credential = { kind: "token", token: options.initialCredential.token }
  }

  let identity: Promise<DeviceIdentity> | undefined
  let identityLoaded: DeviceIdentity | undefined
  const loadIdentity = () => {
    identity ??= options.store.loadIdentity().then((id) => {
      identityLoaded = id
      return id
    })
    return identity
  }

  let started = false
  let stopped = false
  /** Bumped for every socket: handlers of an older socket see a different number and do nothing. */
  let generation = 0
  let socket: SocketLike | undefined
  let connected = false
  /** Retries since the last hello-ok (drives the backoff). */
  let attempt = 0
  let neverOpenedStreak = 0
  let pairingAttempt = 0
  /** Scopes to ask for instead of the stored token's (after AUTH_SCOPE_MISMATCH named the granted ones). */
  let narrowedScopes: ReadonlyArray<string> | undefined
  let bootstrapSigning: "openclaw" | "empty" = "openclaw"
  let shutdown: { reason: string; restartExpectedMs: number | undefined } | undefined
  /** When the Gateway last said it stops: refused upgrades soon after are its restart, not the origin check. */
  let lastShutdownAt = Number.NEGATIVE_INFINITY
  let retryTimer: unknown
  let tickTimer: unknown
  let handshakeTimer: unknown
  let requestSeq = 0
  let maxFrame = MAX_FRAME_BEFORE_HELLO
  const pending = new Map<string, Pending>()
  const listeners = new Map<string, Set<(e: GatewayEvent) => void>>()
  const connectedListeners = new Set<(hello: HelloOk) => void>()

  const clear = (handle: unknown) => {
    if (handle !== undefined) timers.clearTimeout(handle)
  }

  /** Every request waiting for an answer fails: the socket that would carry it is gone. */
  const failPending = () => {
    const all = [...pending.values()]
    pending.clear()
    for (const p of all) {
      clear(p.timer)
      p.reject(
        new CallError(
          "UNAVAILABLE",
          `${p.method}: the connection to the Gateway was lost before the answer came; check the result before retrying`,
          { code: CONNECTION_LOST }
        )
      )
    }
  }

  /** Drops the current socket without reconnecting: its handlers are detached first. */
  const dropSocket = (code = 1000, reason = "") => {
    const s = socket
    socket = undefined
    generation++
    clear(tickTimer)
    clear(handshakeTimer)
    tickTimer = handshakeTimer = undefined
    if (s) {
      s.onopen = s.onmessage = s.onclose = s.onerror = null
      try {
        s.close(code, reason)
      } catch {
        // Already closing.
      }
    }
    connected = false
    failPending()
  }

  const schedule = (delayMs: number, reason: string, show: boolean) => {
    clear(retryTimer)
    const at = timers.now() + delayMs
    if (show) state.value = { _tag: "reconnecting", attempt, inMs: delayMs, reason, at }
    retryTimer = timers.setTimeout(() => {
      retryTimer = undefined
      void connect()
    }, delayMs)
  }

  const retryLater = (reason: string, delayMs?: number) => {
    attempt++
    const backoff = backoffDelay(attempt, random)
    schedule(Math.max(delayMs ?? 0, backoff), reason, true)
  }

  const apply = (decision: ConnectDecision) => {
    switch (decision._tag) {
      case "login":
        credential = { kind: "none" }
        narrowedScopes = undefined
        if (decision.forgetDeviceToken) void options.store.clearDeviceToken().catch(() => {})
        state.value = {
          _tag: "login",
          ...(decision.error ? { error: decision.error } : {}),
          ...(decision.prefer ? { prefer: decision.prefer } : {})
        }
        return
      case "pairing": {
        pairingAttempt++
        state.value = { _tag: "pairing", requestId: decision.requestId, deviceId: identityLoaded?.deviceId ?? "" }
        const delay = backoffDelay(pairingAttempt, random, {
          initialMs: PAIRING_RETRY_INITIAL_MS,
          maxMs: PAIRING_RETRY_MAX_MS,
          jitter: 0.2
        })
        schedule(delay, "waiting for approval", false)
        return
      }
      case "narrowScopes":
        // Once only: a token that refuses even the scopes it was said to hold is of no use.
        if (narrowedScopes !== undefined) {
          return apply({
            _tag: "login",
            forgetDeviceToken: true,
            error: "This browser's device token was not accepted: log in with the Gateway's token to pair it again."
          })
        }
        narrowedScopes = decision.scopes
        schedule(0, "asking for the scopes this device holds", false)
        return
      case "retry":
        retryLater(decision.reason, decision.delayMs)
        return
      case "failed":
        state.value = { _tag: "failed", message: decision.message }
        return
    }
  }

  const dispatch = (event: GatewayEvent) => {
    for (const key of [event.event, "*"]) {
      const set = listeners.get(key)
      if (!set) continue
      for (const l of [...set]) {
        try {
          l(event)
        } catch (e) {
          log(`listener for ${event.event} failed: ${String(e)}`)
        }
      }
    }
  }

  const armTickWatch = (intervalMs: number) => {
    clear(tickTimer)
    const g = generation
    tickTimer = timers.setTimeout(() => {
      if (g !== generation) return
      log(`no tick for ${2 * intervalMs} ms: reconnecting`)
      // The socket may be dead without the browser knowing: it is dropped now, not when its close arrives.
      onLost(4000, "tick timeout")
    }, 2 * intervalMs)
  }

  /** The connected socket ended (closed, or the tick stopped): reconnect. */
  const onLost = (code: number, reason: string) => {
    const wasShutdown = shutdown
    shutdown = undefined
    dropSocket(code, reason)
    if (stopped) return
    const why = wasShutdown
      ? `the Gateway is restarting (${wasShutdown.reason})`
      : reason
        ? printable(reason, 120)
        : `the socket closed (code ${code})`
    attempt++
    const backoff = backoffDelay(attempt, random)
    schedule(Math.max(backoff, Math.min(wasShutdown?.restartExpectedMs ?? 0, 60_000)), why, true)
  }

  const onHello = (payload: unknown, kind: CredentialKind) => {
    const hello = readHello(payload)
    if (!hello) {
      apply({
        _tag: "failed",
        message: "The Gateway's hello-ok was not readable: reload the page; if it persists, check the Gateway's version."
      })
      dropSocket(1000, "bad hello")
      return
    }
    clear(handshakeTimer)
    handshakeTimer = undefined
    const deviceToken = isRecord(payload) && isRecord(payload.auth) ? payload.auth.deviceToken : undefined
    if (typeof deviceToken === "string" && deviceToken.length > 0 && deviceToken.length <= 4096) {
      void options.store
        .saveDeviceToken({ token: deviceToken, role: "operator", scopes: hello.auth.scopes, savedAt: timers.now() })
        .catch((e) => log(`could not store the device token: ${String(e)}`))
      // The device token replaces the shared secret: the typed token or password is forgotten.
      credential = { kind: "none" }
      // A new token: the next connect asks for what it was granted with it.
      narrowedScopes = undefined
    } else if (kind === "bootstrapToken") {
      // A one-time link is spent once used.
      credential = { kind: "none" }
    }
    connected = true
    attempt = 0
    pairingAttempt = 0
    neverOpenedStreak = 0
    bootstrapSigning = "openclaw"
    const maxPayload = hello.policy.maxPayload
    maxFrame = Math.min(maxPayload !== undefined && maxPayload > 0 ? maxPayload : MAX_FRAME_AFTER_HELLO, MAX_FRAME_AFTER_HELLO)
    batch(() => {
      granted.value = hello.auth.scopes
      state.value = { _tag: "connected", hello }
    })
    armTickWatch(hello.policy.tickIntervalMs)
    for (const l of [...connectedListeners]) {
      try {
        l(hello)
      } catch (e) {
        log(`onConnected listener failed: ${String(e)}`)
      }
    }
  }

  const connect = async (): Promise<void> => {
    if (stopped) return
    clear(retryTimer)
    retryTimer = undefined
    dropSocket()
    const g = generation
    if (state.value._tag !== "pairing" && state.value._tag !== "reconnecting") state.value = { _tag: "connecting" }
    let id: DeviceIdentity
    let stored: StoredDeviceToken | undefined
    try {
      id = await loadIdentity()
      stored = credential.kind === "none" ? await options.store.loadDeviceToken().catch(() => undefined) : undefined
    } catch (e) {
      identity = undefined
      apply({ _tag: "failed", message: `This browser could not create its device key (${printable(String(e), 200)}): reload the page.` })
      return
    }
    if (g !== generation || stopped) return

    const auth: ConnectAuth =
      credential.kind === "token"
        ? { token: credential.token }
        : credential.kind === "password"
          ? { password: credential.password }
          : credential.kind === "bootstrapToken"
            ? { bootstrapToken: credential.bootstrapToken }
            : stored
              ? { deviceToken: stored.token }
              : {}
    const kind: CredentialKind = credential.kind === "none" ? (stored ? "deviceToken" : "none") : credential.kind
    const storedScopes = stored?.scopes.filter((s) => OPERATOR_SCOPES.includes(s))
    const scopes = narrowedScopes ?? (kind === "deviceToken" && storedScopes && storedScopes.length > 0 ? storedScopes : OPERATOR_SCOPES)

    let s: SocketLike
    try {
      s = options.openSocket(options.url)
    } catch (e) {
      apply({ _tag: "failed", message: `The browser refused to open the WebSocket (${printable(String(e), 200)}): reload the page.` })
      return
    }
    socket = s
    maxFrame = MAX_FRAME_BEFORE_HELLO
    let opened = false
    let answered = false
    let connectId: string | undefined

    const onFrame = async (frame: Record<string, unknown>) => {
      if (frame.type === "event") {
        const name = typeof frame.event === "string" ? frame.event.slice(0, 200) : ""
        if (name === "connect.challenge" && !connected && connectId === undefined) {
          const p = isRecord(frame.payload) ? frame.payload : {}
          const nonce = typeof p.nonce === "string" && p.nonce.length > 0 && p.nonce.length <= 512 ? p.nonce : undefined
          if (!nonce) return
          // Signed at the Gateway's own time when it says it: a browser whose clock is off still connects.
          const signedAt = typeof p.ts === "number" && Number.isFinite(p.ts) && p.ts > 0 ? Math.round(p.ts) : timers.now()
          connectId = `connect-${++requestSeq}`
          let params: unknown
          try {
            params = await signedConnectParams(
              { nonce, signedAt, deviceId: id.deviceId, publicKey: id.publicKey, auth, scopes, client: options.client, bootstrapSigning },
              id.sign
            )
          } catch (e) {
            answered = true
            apply({
              _tag: "failed",
              message: `This browser could not sign with its device key (${printable(String(e), 200)}): reload the page.`
            })
            dropSocket()
            return
          }
          if (g !== generation) return
          s.send(JSON.stringify({ type: "req", id: connectId, method: "connect", params }))
          return
        }
        if (!connected) return
        if (name === "tick") {
          const p = isRecord(frame.payload) ? frame.payload : {}
          lastTick.value = typeof p.ts === "number" && Number.isFinite(p.ts) ? p.ts : timers.now()
          const st = state.value
          if (st._tag === "connected") armTickWatch(st.hello.policy.tickIntervalMs)
        } else if (name === "shutdown") {
          const p = isRecord(frame.payload) ? frame.payload : {}
          lastShutdownAt = timers.now()
          shutdown = {
            reason: printable(p.reason, 120) || "gateway stopping",
            restartExpectedMs: typeof p.restartExpectedMs === "number" && p.restartExpectedMs > 0 ? p.restartExpectedMs : undefined
          }
        }
        dispatch({ event: name, payload: frame.payload, ...(typeof frame.seq === "number" ? { seq: frame.seq } : {}) })
        return
      }
      if (frame.type !== "res" || typeof frame.id !== "string") return
      if (frame.id === connectId && !connected) {
        answered = true
        if (frame.ok === true) return onHello(frame.payload, kind)
        const error = readError(frame.error)
        const detail = isRecord(error.details) && typeof error.details.code === "string" ? error.details.code : ""
        // A Gateway that signs bootstrap connects without the token in the text: one more try, signed that way.
        if (kind === "bootstrapToken" && detail === "DEVICE_AUTH_SIGNATURE_INVALID" && bootstrapSigning === "openclaw") {
          bootstrapSigning = "empty"
          dropSocket()
          schedule(0, "signing again", false)
          return
        }
        dropSocket()
        apply(decideRefusal(error, kind, origin))
        return
      }
      const p = pending.get(frame.id)
      if (!p) return
      if (frame.ok === true) {
        const payload = frame.payload
        const interim = isRecord(payload) && payload.status === "accepted" && (p.onAccepted !== undefined || p.method === "agent")
        if (interim) {
          // The run's end comes later on the same id; the request timeout applied to the first answer only.
          clear(p.timer)
          p.timer = undefined
          try {
            p.onAccepted?.(payload)
          } catch (e) {
            log(`onAccepted failed: ${String(e)}`)
          }
          return
        }
        pending.delete(frame.id)
        clear(p.timer)
        p.resolve(payload)
        return
      }
      pending.delete(frame.id)
      clear(p.timer)
      const e = readError(frame.error)
      p.reject(new CallError(e.code, e.message || e.code, e.details))
    }

    s.onopen = () => {
      if (g !== generation) return
      opened = true
      neverOpenedStreak = 0
      handshakeTimer = timers.setTimeout(() => {
        if (g !== generation || connected) return
        log("no hello-ok in time: trying again")
        dropSocket(4000, "handshake timeout")
        retryLater("the Gateway did not finish the handshake in time")
      }, handshakeTimeoutMs)
    }
    s.onmessage = (ev) => {
      if (g !== generation) return
      const data = ev.data
      if (typeof data !== "string") return // binary frames are not part of the protocol
      if (data.length > maxFrame) {
        log(`a frame of ${data.length} characters is over the bound of ${maxFrame}: reconnecting`)
        if (connected) onLost(1009, "frame too big")
        else {
          dropSocket(1009, "frame too big")
          retryLater("the Gateway sent a frame that is too big")
        }
        return
      }
      let frame: unknown
      try {
        frame = JSON.parse(data)
      } catch {
        log("a frame that is not JSON was ignored")
        return
      }
      if (!isRecord(frame)) return
      void onFrame(frame).catch((e) => log(`frame handling failed: ${String(e)}`))
    }
    s.onerror = () => {
      // The close event follows and carries what there is to know.
    }
    s.onclose = (ev) => {
      if (g !== generation) return
      if (connected) return onLost(ev.code, ev.reason)
      if (answered) return
      dropSocket()
      const after = generation
      if (!opened) neverOpenedStreak++
      const streak = neverOpenedStreak
      const decideAndApply = (httpUp: boolean | undefined) => {
        if (after !== generation || stopped) return // something else already moved on
        apply(decideEarlyClose({ opened, code: ev.code, reason: ev.reason, neverOpenedStreak: streak, httpUp, origin }))
      }
      const restarting = timers.now() - lastShutdownAt < 120_000
      if (!opened && options.probeHttp && streak >= 2 && !restarting) {
        options.probeHttp().then(decideAndApply, () => decideAndApply(false))
      } else decideAndApply(undefined)
    }
  }

  const call: UiClient["call"] = (method, params, callOptions) =>
    new Promise((resolve, reject) => {
      const s = socket
      if (!connected || !s) {
        reject(new CallError("UNAVAILABLE", `${method}: not connected to the Gateway`, { code: NOT_CONNECTED }))
        return
      }
      if (pending.size >= MAX_PENDING_REQUESTS) {
        reject(new CallError("UNAVAILABLE", `too many requests waiting (${MAX_PENDING_REQUESTS}): try again when some have answered`))
        return
      }
      const id = `r${++requestSeq}`
      const timeoutMs = callOptions?.timeoutMs ?? requestTimeoutMs
      const entry: Pending = { method, resolve, reject, onAccepted: callOptions?.onAccepted, timer: undefined }
      entry.timer = timers.setTimeout(() => {
        if (pending.get(id) !== entry) return
        pending.delete(id)
        reject(new CallError("TIMEOUT", `${method}: no answer from the Gateway within ${Math.round(timeoutMs / 1000)} s`))
      }, timeoutMs)
      pending.set(id, entry)
      try {
        s.send(JSON.stringify({ type: "req", id, method, ...(params === undefined ? {} : { params }) }))
      } catch (e) {
        pending.delete(id)
        clear(entry.timer)
        reject(new CallError("UNAVAILABLE", `could not send ${method}: ${String(e)}`))
      }
    })

  const on: UiClient["on"] = (event, listener) => {
    let set = listeners.get(event)
    if (!set) listeners.set(event, (set = new Set()))
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0) listeners.delete(event)
    }
  }

  const onConnected: UiClient["onConnected"] = (listener) => {
    connectedListeners.add(listener)
    return () => void connectedListeners.delete(listener)
  }

  const restart = () => {
    attempt = 0
    pairingAttempt = 0
    neverOpenedStreak = 0
    narrowedScopes = undefined
    bootstrapSigning = "openclaw"
    state.value = { _tag: "connecting" }
    void connect()
  }

  const login: UiClient["login"] = (c) => {
    credential = "token" in c ? { kind: "token", token: c.token } : { kind: "password", password: c.password }
    stopped = false
    restart()
  }

  const logout: UiClient["logout"] = async (logoutOptions) => {
    clear(retryTimer)
    retryTimer = undefined
    dropSocket(1000, "logout")
    credential = { kind: "none" }
    narrowedScopes = undefined
    granted.value = []
    await options.store.clearDeviceToken().catch(() => {})
    if (logoutOptions?.identity) {
      await options.store.forgetIdentity().catch(() => {})
      identity = undefined
      identityLoaded = undefined
    }
    state.value = { _tag: "login" }
  }

  return {
    state,
    lastTick,
    call,
    on,
    onConnected,
    login,
    logout,
    can: (scope) => scopeSatisfies(granted.value, scope),
    start: () => {
      if (started) return
      started = true
      void connect()
    },
    stop: () => {
      stopped = true
      clear(retryTimer)
      retryTimer = undefined
      dropSocket(1000, "page closed")
    },
    retry: () => {
      stopped = false
      restart()
    },
    deviceId: () => identityLoaded?.deviceId
  }
}
