/**
 * The pairing policy, with no database: what a connecting device needs
 * approved, when a local one is paired silently, when a waiting request has
 * grown into a new one, and who may approve, rotate, revoke or remove what.
 *
 * - An approver never grants, rotates or revokes beyond the scopes it holds
 *   itself (`operator.admin` holds them all), so touching a device that holds
 *   `operator.admin` needs `operator.admin`.
 * - A device never approves its own pairing request.
 * - A device already paired for one role never becomes a node silently.
 * - A token is rotated only for a role the device is paired for, and only
 *   with scopes within its pairing.
 */
import { Either } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { ALL_SCOPES, type Scope } from "../../protocol/frames.js"
import { scopeSatisfies } from "../../protocol/methods.js"
import { type Approver, PairingDenied, type PairingReason, type PairingRequest } from "../../services/Devices.js"

/** What a decision needs to know of a paired device. */
export interface Pairing {
  readonly roles: ReadonlyArray<string>
  readonly scopes: ReadonlyArray<string>
}

/** What a device asks for when it connects. */
export interface Ask {
  readonly role: string
  readonly scopes: ReadonlyArray<string>
  readonly commands?: ReadonlyArray<string> | undefined
}

export const union = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): Array<string> => [...new Set([...a, ...b])]

const isScope = (s: string): s is Scope => (ALL_SCOPES as ReadonlyArray<string>).includes(s)

/** Why a device asking for `ask` needs an approval, or undefined when its pairing covers it. */
export const pairingNeed = (existing: Pairing | undefined, ask: Ask): PairingReason | undefined =>
  !existing
    ? "not-paired"
    : !existing.roles.includes(ask.role)
      ? "role-upgrade"
      : ask.scopes.some((s) => !existing.scopes.includes(s))
        ? "scope-upgrade"
        : undefined

/** Whether a connect that needs `reason` approved is paired without asking the owner. */
export const pairsSilently = (options: {
  readonly local: boolean
  readonly autoApproveLocal: boolean
  readonly existing: Pairing | undefined
  readonly role: string
  readonly reason: PairingReason
}): boolean =>
  options.local &&
  options.autoApproveLocal &&
  // A device already paired for one role never becomes a node silently.
  !(options.existing !== undefined && options.role === "node" && options.reason === "role-upgrade")

/**
 * Whether `ask` wants more (a role, a scope, a command) than the waiting
 * request the owner was shown: then it is a new request, with a new id and a
 * new notice, so an approval always covers only what was on the screen.
 */
export const widens = (waiting: PairingRequest, ask: Ask): boolean =>
  !waiting.roles.includes(ask.role) ||
  ask.scopes.some((s) => !waiting.scopes.includes(s)) ||
  (ask.commands ?? []).some((c) => !(waiting.commands ?? []).includes(c))

/** The scopes of `target` the approver does not hold itself (`operator.admin` holds them all). */
export const beyondApprover = (approver: Approver, target: ReadonlyArray<string>): Array<Scope> =>
  target.filter(isScope).filter((s) => !scopeSatisfies(approver.scopes, s))

const beyond = (what: string, missing: ReadonlyArray<Scope>) =>
  new PairingDenied({
    reason: "BeyondScopes",
    message: `missing scope: ${missing.join(", ")} (${what} holds ${missing.length > 1 ? "them" : "it"}, and an approver can only grant, rotate or revoke scopes it holds itself)`,
    missing
  })

/** May `approver` approve `request`? Not its own, and not beyond its own scopes. */
export const checkApproval = (
  approver: Approver,
  request: Pick<PairingRequest, "deviceId" | "scopes">
): Either.Either<void, PairingDenied> => {
  if (approver.deviceId !== undefined && approver.deviceId === request.deviceId) {
    return Either.left(
      new PairingDenied({
        reason: "SelfApproval",
        message:
          "a device cannot approve its own pairing request: approve it from another operator device or on the Gateway host (clawgate devices approve)"
      })
    )
  }
  const missing = beyondApprover(approver, request.scopes)
  return missing.length > 0 ? Either.left(beyond("the request asks for", missing)) : Either.void
}

/** May `approver` rotate, revoke or remove for `device`? Only if it holds every scope the device holds. */
export const checkManage = (approver: Approver, device: Pairing): Either.Either<void, PairingDenied> => {
  const missing = beyondApprover(approver, device.scopes)
  return missing.length > 0 ? Either.left(beyond("the device holds", missing)) : Either.void
}

/** The scopes a rotated token of `role` gets: `scopes` (default the whole pairing), never beyond the pairing. */
export const rotationScopes = (
  device: Pairing,
  role: string,
  scopes: ReadonlyArray<string> | undefined
): Either.Either<ReadonlyArray<string>, PairingDenied> => {
  if (!device.roles.includes(role)) {
    return Either.left(new PairingDenied({ reason: "RoleNotPaired", message: "device token rotation denied" }))
  }
  const granted = scopes ?? device.scopes
  return granted.some((s) => !device.scopes.includes(s))
    ? Either.left(new PairingDenied({ reason: "ScopesBeyondPairing", message: "device token rotation denied: scopes beyond the pairing" }))
    : Either.right(granted)
}

/** The refusal as the wire says it, with the ids of what was refused. */
export const deniedOnTheWire = (
  denied: PairingDenied,
  ids: { readonly requestId?: string; readonly deviceId?: string; readonly role?: string }
): GatewayError => {
  switch (denied.reason) {
    case "SelfApproval":
      return GatewayError.of("FORBIDDEN", denied.message, { details: { code: "SELF_APPROVAL_FORBIDDEN", requestId: ids.requestId } })
    case "BeyondScopes": {
      const missing = denied.missing ?? []
      return GatewayError.of("FORBIDDEN", denied.message, {
        details: { code: "MISSING_SCOPE", missingScope: missing[0], requiredScopes: missing }
      })
    }
    case "RoleNotPaired":
    case "ScopesBeyondPairing":
      return GatewayError.invalidRequest(denied.message, { deviceId: ids.deviceId, role: ids.role })
  }
}

/** The `NOT_PAIRED` answer to a connect that waits for approval. */
export const pairingRequired = (
  ask: Ask & { readonly deviceId: string },
  reason: PairingReason,
  requestId: string,
  existing: Pairing | undefined
): GatewayError => {
  const what =
    reason === "not-paired"
      ? "device is not approved yet"
      : reason === "role-upgrade"
        ? "device is asking for a higher role than currently approved"
        : "device is asking for more scopes than currently approved"
  return GatewayError.of("NOT_PAIRED", `pairing required: ${what}`, {
    details: {
      code: "PAIRING_REQUIRED",
      reason,
      requestId,
      remediationHint: "Approve this device from the pending pairing requests.",
      // A node waits for the owner's approval and connects by itself once given (OpenClaw's clients
      // pause reconnecting on PAIRING_REQUIRED unless told to wait, and a headless node host would stay
      // paused until restarted); an operator's client is told to stop and ask its user.
      ...(ask.role === "node" ? { recommendedNextStep: "wait_then_retry", retryable: true, pauseReconnect: false } : {}),
      deviceId: ask.deviceId,
      requestedRole: ask.role,
      requestedScopes: ask.scopes,
      ...(existing ? { approvedRoles: existing.roles, approvedScopes: existing.scopes } : {})
    }
  })
}
