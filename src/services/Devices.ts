/**
 * Devices: paired devices, their per-role tokens and pending pairing
 * requests, kept so that they survive restarts and crashes. Decides, for a
 * device whose proof was verified, whether it may connect (auto-approving
 * local ones by policy) and with which role and scopes. A device can never
 * hold a role or scope its pairing did not grant.
 *
 * This file is the port: the tag, its interface and its errors. The store is
 * `DevicesSql` (src/layers/store/DevicesSql.ts), the rules of who may approve
 * what are `pairingPolicy` (src/layers/store/pairingPolicy.ts).
 *
 * Every method fails with the wire's `GatewayError`: its callers (connect
 * admission, the `device.*` and `node.pair.*` handlers) answer a request with
 * it as it is, details codes included (`PAIRING_REQUIRED`, `MISSING_SCOPE`,
 * `SELF_APPROVAL_FORBIDDEN`, `AUTH_DEVICE_TOKEN_MISMATCH`, ...). Inside the
 * layer, a refusal is a `PairingDenied` and a database failure a
 * `DevicesStoreError`; both become a `GatewayError` at the method's edge.
 */
import { Context, Data, type Effect } from "effect"
import type { GatewayError } from "../protocol/errors.js"
import type { ClientInfo, Role, Scope } from "../protocol/frames.js"

export interface DeviceTokenInfo {
  readonly role: string
  readonly scopes: ReadonlyArray<string>
  readonly createdAtMs: number
  readonly rotatedAtMs?: number | undefined
  readonly revokedAtMs?: number | undefined
}

/** What a device says about itself when it connects. */
export interface DeviceDescription {
  readonly deviceId: string
  readonly publicKey: string
  readonly displayName?: string | undefined
  readonly platform?: string | undefined
  readonly deviceFamily?: string | undefined
  readonly clientId: string
  readonly clientMode: string
}

export interface PairedDevice extends DeviceDescription {
  /** The first role approved; `roles` has them all. */
  readonly role: string
  readonly roles: ReadonlyArray<string>
  readonly scopes: ReadonlyArray<string>
  readonly approvedVia: "silent" | "owner"
  readonly createdAtMs: number
  readonly approvedAtMs: number
  readonly lastSeenAtMs?: number | undefined
  readonly lastSeenReason?: string | undefined
  readonly connected: boolean
  readonly tokens: ReadonlyArray<DeviceTokenInfo>
}

export type PairingReason = "not-paired" | "role-upgrade" | "scope-upgrade"

export interface PairingRequest extends DeviceDescription {
  readonly requestId: string
  readonly role: string
  readonly roles: ReadonlyArray<string>
  readonly scopes: ReadonlyArray<string>
  readonly commands?: ReadonlyArray<string> | undefined
  readonly reason: PairingReason
  readonly silent: false
  readonly isRepair: boolean
  readonly remoteIp?: string | undefined
  readonly ts: number
}

export interface AdmitInput {
  readonly deviceId: string
  readonly publicKey: string
  readonly client: ClientInfo
  readonly role: Role
  readonly scopes: ReadonlyArray<string>
  readonly commands?: ReadonlyArray<string> | undefined
  /** Direct loopback, no forwarded headers, no browser Origin. */
  readonly local: boolean
  readonly remoteIp: string
}

/** Who is deciding: the connection's device (if it has one) and its scopes. */
export interface Approver {
  readonly deviceId?: string | undefined
  readonly scopes: ReadonlyArray<string>
}

export interface Admission {
  readonly device: PairedDevice
  /** Set when this connect issued a new device token (returned once in hello-ok). */
  readonly deviceToken?: string | undefined
}

export interface PairedWithCode {
  readonly device: PairedDevice
  /** The request the `device.pair.resolved` event names: the one that waited, or a new id. */
  readonly requestId: string
  readonly deviceToken: string
}

export interface DeviceLists {
  readonly pending: ReadonlyArray<PairingRequest>
  readonly paired: ReadonlyArray<PairedDevice>
}

export interface RotatedToken {
  readonly deviceId: string
  readonly role: string
  readonly scopes: ReadonlyArray<string>
  readonly rotatedAtMs: number
  /** The new token is returned only to the device itself; another approver never sees it. */
  readonly tokenDelivery: "in-band" | "withheld-cross-device"
  readonly token?: string | undefined
}

/** At most this many pairing requests wait at once; a new one pushes out the oldest. */
export const MAX_PENDING_REQUESTS = 256

/**
 * A decision the pairing policy refuses. `missing` is set for `BeyondScopes`:
 * the scopes the approver would grant, rotate or revoke without holding them.
 */
export class PairingDenied extends Data.TaggedError("PairingDenied")<{
  readonly reason: "SelfApproval" | "BeyondScopes" | "RoleNotPaired" | "ScopesBeyondPairing"
  readonly message: string
  readonly missing?: ReadonlyArray<Scope> | undefined
}> {}

/** The device store could not read or write. */
export class DevicesStoreError extends Data.TaggedError("DevicesStoreError")<{
  readonly reason: "Storage"
  readonly message: string
  readonly cause?: unknown
}> {}

export interface DevicesService {
  /** A paired device with its tokens (never their secrets), or undefined. */
  readonly get: (deviceId: string) => Effect.Effect<PairedDevice | undefined, GatewayError>
  /**
   * The decision for a device whose proof was verified: admitted (with a new
   * token when it holds none for the role), paired silently when local and
   * allowed by `gateway.nodes.pairing.autoApproveLocal`, or a pairing request
   * stored and a `NOT_PAIRED` failure (`PAIRING_REQUIRED`) naming it.
   */
  readonly admit: (input: AdmitInput) => Effect.Effect<Admission, GatewayError>
  /** The device of a valid, unrevoked token of `role` that covers `scopes`. */
  readonly verifyToken: (input: {
    readonly deviceId: string
    readonly role: Role
    readonly token: string
    readonly scopes: ReadonlyArray<string>
  }) => Effect.Effect<PairedDevice, GatewayError>
  readonly list: Effect.Effect<DeviceLists, GatewayError>
  /** Pairs the device of a request with what it asked for (joined to what it had), in one transaction. */
  readonly approve: (
    requestId: string,
    approver: Approver
  ) => Effect.Effect<{ readonly requestId: string; readonly device: PairedDevice }, GatewayError>
  /**
   * Pairs a device whose proof was verified and whose connect carried a one-time dashboard code (the
   * owner's approval, given in advance): joined to what it had, with `scopes`, its pairing request (if
   * one waits) resolved as approved, and a new token for the role returned (hello-ok carries it).
   */
  readonly pairWithCode: (input: AdmitInput) => Effect.Effect<PairedWithCode, GatewayError>
  readonly reject: (requestId: string) => Effect.Effect<{ readonly requestId: string; readonly deviceId: string }, GatewayError>
  /** Forgets a device and its tokens, and closes its connections. */
  readonly remove: (deviceId: string, approver: Approver) => Effect.Effect<{ readonly deviceId: string }, GatewayError>
  /** A new token for a role (with `scopes` within the pairing, default all of it); closes that role's connections. */
  readonly rotate: (
    deviceId: string,
    role: string,
    scopes: ReadonlyArray<string> | undefined,
    approver: Approver
  ) => Effect.Effect<RotatedToken, GatewayError>
  /** Revokes a role's token and withdraws the role (coming back needs a new approval); closes its connections. */
  readonly revoke: (
    deviceId: string,
    role: string,
    approver: Approver
  ) => Effect.Effect<{ readonly deviceId: string; readonly role: string; readonly revokedAtMs: number }, GatewayError>
  /** Records when and why a device was last seen; best effort, never fails. */
  readonly touch: (deviceId: string, reason: string) => Effect.Effect<void>
  /**
   * Bumped whenever a device is removed or a token of it rotated or revoked. A
   * connect in progress reads it before its checks; if it moved before the
   * connection was registered (and so could be closed), the transport closes it.
   */
  readonly epochOf: (deviceId: string) => number
}

export class Devices extends Context.Tag("clawgate/Devices")<Devices, DevicesService>() {}
