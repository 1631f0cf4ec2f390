/**
 * Admission: who may connect, and as what. Given a decoded `connect`, what
 * the upgrade said about the peer and the challenge's nonce, it checks the
 * device proof, then the credential (a device token, a one-time dashboard
 * code, the shared token or password, or a Tailscale identity through Auth),
 * then pairing for devices, and answers with the identity and the scopes
 * granted: what was asked for, cut down to what the credential or the
 * pairing allows.
 *
 * It holds no socket: the transport calls it once per connect, and tests call
 * it directly. Refusals are the wire's `GatewayError`, as the connect answer
 * carries them (`AUTH_TOKEN_MISMATCH`, `DEVICE_AUTH_SIGNATURE_INVALID`,
 * `PAIRING_REQUIRED`, ...).
 */
import { Context, type Effect } from "effect"
import type { TailscaleClaim } from "../config/clientAddress.js"
import type { GatewayError } from "../protocol/errors.js"
import type { ConnectParams } from "../protocol/frames.js"
import type { AuthMethod } from "./Auth.js"

/** What the WebSocket upgrade established about the peer, before it said anything. */
export interface PeerFacts {
  /** The client's address (the forwarded one behind a trusted proxy). */
  readonly ip: string
  readonly isLoopback: boolean
  /** The upgrade carried forwarding headers (trusted or not). */
  readonly forwarded: boolean
  /** The upgrade carried an `Origin` header (a browser). */
  readonly hasOrigin: boolean
  /** Direct loopback with no proxy headers and no browser Origin: eligible for local auto-approval. */
  readonly local: boolean
  /** The upgrade's Tailscale identity header, to be checked with `tailscale whois` (with gateway.auth.allowTailscale). */
  readonly tailscale: TailscaleClaim | undefined
}

export interface AdmissionRequest {
  readonly params: ConnectParams
  readonly peer: PeerFacts
  /** The connect.challenge nonce a device must have signed. */
  readonly nonce: string
}

/** What a session logged in with, so that rotating that credential can end the session. */
export type Credential = { readonly kind: "token" | "password"; readonly hash: string } | { readonly kind: "tailscale" | "none" }

/** What a successful connect grants. */
export interface Admitted {
  /** "bootstrap-token": a one-time dashboard code paired the device (OpenClaw's name). */
  readonly method: AuthMethod | "device-token" | "bootstrap-token"
  /** With method "tailscale": the confirmed Tailscale login. */
  readonly user?: string | undefined
  readonly scopes: ReadonlyArray<string>
  readonly deviceId?: string | undefined
  /** A device token issued by this connect (returned once in hello-ok). */
  readonly deviceToken?: string | undefined
  /** The device's epoch when its checks began (see Devices.epochOf). */
  readonly deviceEpoch?: number | undefined
  /** Unset for a device-token or dashboard-code login: rotating the device's token ends it through Devices instead. */
  readonly credential?: Credential | undefined
}

export interface AdmissionService {
  readonly admit: (request: AdmissionRequest) => Effect.Effect<Admitted, GatewayError>
}

export class Admission extends Context.Tag("clawgate/Admission")<Admission, AdmissionService>() {}
