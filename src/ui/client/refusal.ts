/**
 * What the page does when the Gateway refuses a connect, or the socket
 * closes before it answered: the pure half of connection.ts, so each case
 * is a unit test. Every message says what to do next.
 */

/** The credential a connect presented. */
export type CredentialKind = "token" | "password" | "bootstrapToken" | "deviceToken" | "none"

/** An error object as it arrives in a `res` frame (already checked to be an object). */
export interface WireError {
  readonly code: string
  readonly message: string
  readonly details?: unknown
  readonly retryAfterMs?: number | undefined
  readonly retryable?: boolean | undefined
}

export type ConnectDecision =
  /** Ask the user for the token or password (`prefer` picks the form's field). */
  | {
      readonly _tag: "login"
      readonly error?: string
      readonly forgetDeviceToken?: boolean
      readonly prefer?: "token" | "password"
    }
  /** Waiting for an operator to approve this device; connect again every few seconds. */
  | { readonly _tag: "pairing"; readonly requestId: string }
  /** The device token holds fewer scopes than asked: ask for exactly those. */
  | { readonly _tag: "narrowScopes"; readonly scopes: ReadonlyArray<string> }
  /** Try again: after `delayMs` when the Gateway said so, else on the backoff. */
  | { readonly _tag: "retry"; readonly reason: string; readonly delayMs?: number }
  /** Retrying will not help: `message` says what will. */
  | { readonly _tag: "failed"; readonly message: string }

export const TOKEN_HINT =
  "On the Gateway's host, run `clawgate dashboard` for a one-time link, or print the token with `clawgate config get gateway.auth.token --show-secrets` (it was also shown once when the Gateway first started)."

export const LINK_USED = "This link was already used or has expired: run `clawgate dashboard` again, or log in with the Gateway's token."

const ORIGIN_FIX = (origin: string) =>
  `add ${origin ? `"${origin}"` : "this page's origin"} to gateway.controlUi.allowedOrigins on the Gateway (clawgate config set gateway.controlUi.allowedOrigins '["${origin || "https://host.example"}"]'), or open the page at the Gateway's own address`

/** OpenClaw's bound on a pairing request id, so the command shown is one a shell takes as it is. */
const REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

const KNOWN_SCOPES = new Set(["operator.read", "operator.write", "operator.admin", "operator.pairing", "operator.approvals"])

/** A Gateway's words, as the page shows them: no control characters, at most `max` characters. */
export const printable = (value: unknown, max = 300): string => {
  const s = typeof value === "string" ? value : ""
  const clean = s.replace(/[\u0000-\u001f\u007f]+/g, " ").trim()
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean
}

const detailsOf = (e: WireError): Record<string, unknown> =>
  typeof e.details === "object" && e.details !== null && !Array.isArray(e.details) ? (e.details as Record<string, unknown>) : {}

/** How long to wait when the Gateway names a time: within 1 s .. 10 min. */
const boundedDelay = (ms: unknown): number | undefined =>
  typeof ms === "number" && Number.isFinite(ms) && ms > 0 ? Math.min(Math.max(ms, 1_000), 600_000) : undefined

/** The decision for an error answer to `connect`. `origin` is the page's own (for the allowedOrigins fix). */
export const decideRefusal = (error: WireError, kind: CredentialKind, origin = ""): ConnectDecision => {
  const details = detailsOf(error)
  const detail = typeof details.code === "string" ? details.code : ""
  const said = printable(error.message)

  if (detail === "PAIRING_REQUIRED" || (error.code === "NOT_PAIRED" && detail === "")) {
    const id = typeof details.requestId === "string" && REQUEST_ID.test(details.requestId) ? details.requestId : ""
    return { _tag: "pairing", requestId: id }
  }
  if (detail === "CONTROL_UI_ORIGIN_NOT_ALLOWED") {
    return { _tag: "failed", message: `The Gateway does not accept connections from this page's origin: ${ORIGIN_FIX(origin)}.` }
  }
  if (detail === "AUTH_RATE_LIMITED" || error.code === "RATE_LIMITED") {
    const delayMs = boundedDelay(error.retryAfterMs ?? details.retryAfterMs)
    return {
      _tag: "retry",
      reason: "too many failed logins from this address: the Gateway asked to wait",
      ...(delayMs !== undefined ? { delayMs } : {})
    }
  }
  // A one-time link refused (used before, expired): whatever the code, the link is spent.
  if (kind === "bootstrapToken" && (detail === "AUTH_BOOTSTRAP_TOKEN_INVALID" || detail.startsWith("AUTH_"))) {
    return { _tag: "login", error: LINK_USED }
  }
  switch (detail) {
    case "AUTH_BOOTSTRAP_TOKEN_INVALID":
      return { _tag: "login", error: LINK_USED }
    case "AUTH_TOKEN_MISSING":
      return kind === "password"
        ? { _tag: "login", prefer: "token", error: `This Gateway logs in with a token, not a password. ${TOKEN_HINT}` }
        : kind === "none"
          ? { _tag: "login", prefer: "token" }
          : { _tag: "login", prefer: "token", error: `The Gateway wants its token. ${TOKEN_HINT}` }
    case "AUTH_PASSWORD_MISSING":
      return kind === "token"
        ? { _tag: "login", prefer: "password", error: "This Gateway logs in with a password (gateway.auth.password), not a token." }
        : kind === "none"
          ? { _tag: "login", prefer: "password" }
          : { _tag: "login", prefer: "password", error: "The Gateway wants its password (gateway.auth.password)." }
    case "AUTH_TOKEN_MISMATCH":
      return { _tag: "login", prefer: "token", error: `That token is not this Gateway's. ${TOKEN_HINT}` }
    case "AUTH_PASSWORD_MISMATCH":
      return {
        _tag: "login",
        prefer: "password",
        error: "That password is not this Gateway's: use the one set as gateway.auth.password on the Gateway's host."
      }
    case "AUTH_DEVICE_TOKEN_MISMATCH":
      return {
        _tag: "login",
        forgetDeviceToken: true,
        error: "This browser's device token was revoked or rotated: log in with the Gateway's token to pair it again."
      }
    case "AUTH_SCOPE_MISMATCH": {
      const granted = Array.isArray(details.grantedScopes)
        ? details.grantedScopes.filter((s): s is string => typeof s === "string" && KNOWN_SCOPES.has(s))
        : []
      return granted.length > 0 && kind === "deviceToken"
        ? { _tag: "narrowScopes", scopes: granted }
        : {
            _tag: "login",
            forgetDeviceToken: true,
            error: "This browser's device token no longer holds the access it asks for: log in with the Gateway's token to pair it again."
          }
    }
    case "AUTH_TOKEN_NOT_CONFIGURED":
    case "AUTH_PASSWORD_NOT_CONFIGURED":
      return {
        _tag: "failed",
        message: `The Gateway has no ${detail === "AUTH_TOKEN_NOT_CONFIGURED" ? "token" : "password"} configured: ${said || "set gateway.auth on the Gateway's host and restart it"}.`
      }
    case "PROTOCOL_MISMATCH":
      return {
        _tag: "failed",
        message: "This page and the Gateway speak different protocol versions: reload the page (the Gateway may have been upgraded)."
      }
    case "DEVICE_IDENTITY_REQUIRED":
    case "CONTROL_UI_DEVICE_IDENTITY_REQUIRED":
      return {
        _tag: "failed",
        message:
          "The Gateway needs this browser's device identity and did not get a usable one: open the page over HTTPS, on localhost, or through Tailscale Serve, then reload."
      }
    case "DEVICE_AUTH_SIGNATURE_EXPIRED":
      return {
        _tag: "failed",
        message:
          "The Gateway refused this browser's signature as too old: check that this computer's clock and the Gateway's agree, then reload."
      }
    default:
      break
  }
  if (detail.startsWith("DEVICE_AUTH_")) {
    return {
      _tag: "failed",
      message: `The Gateway refused this browser's device signature (${detail}): reload the page; if that does not help, log out and forget this browser's key.`
    }
  }
  if (detail.startsWith("AUTH_TAILSCALE") || detail.startsWith("AUTH_")) {
    return { _tag: "login", error: `${said || "The Gateway did not accept this login"}. Log in with the Gateway's token or password.` }
  }
  if (error.code === "UNAVAILABLE" || error.retryable === true) {
    const delayMs = boundedDelay(error.retryAfterMs)
    return { _tag: "retry", reason: said || "the Gateway is not ready", ...(delayMs !== undefined ? { delayMs } : {}) }
  }
  return { _tag: "failed", message: `The Gateway refused the connection: ${said || error.code}.` }
}

export interface CloseFacts {
  /** The socket opened (the upgrade succeeded). */
  readonly opened: boolean
  readonly code: number
  readonly reason: string
  /** How many attempts in a row never opened, this one included. */
  readonly neverOpenedStreak: number
  /** Whether the page's own origin answers HTTP (undefined: not checked). */
  readonly httpUp?: boolean | undefined
  readonly origin: string
}

/** After this many upgrades refused while the page's HTTP answers, the page stops and says why. */
export const REFUSED_UPGRADES_BEFORE_FAILING = 3

/** The decision for a socket that closed before the Gateway answered `connect`. */
export const decideEarlyClose = (f: CloseFacts): ConnectDecision => {
  const reason = printable(f.reason)
  if (/origin/i.test(reason)) {
    return { _tag: "failed", message: `The Gateway refused this page's origin (${reason}): ${ORIGIN_FIX(f.origin)}.` }
  }
  if (!f.opened && f.httpUp === true && f.neverOpenedStreak >= REFUSED_UPGRADES_BEFORE_FAILING) {
    return {
      _tag: "failed",
      message:
        `The Gateway's web page answers but its WebSocket refused this page. If you reach it through a proxy or under another host name, ${ORIGIN_FIX(f.origin)}; ` +
        "and check that the proxy forwards WebSocket upgrades."
    }
  }
  if (!f.opened) return { _tag: "retry", reason: "the Gateway is not reachable" }
  return { _tag: "retry", reason: reason ? `the Gateway closed the connection: ${reason}` : `the connection closed (code ${f.code})` }
}
