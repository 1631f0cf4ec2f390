/**
 * Admission on the Gateway's Auth (shared secret, Tailscale identity, the
 * failure limit) and Devices (device tokens, pairing): the device proof
 * first, then the credential, then pairing for devices.
 *
 * A device token is checked under the same failure limit as the shared
 * secret. Without a paired device the shared credential grants operator
 * scopes to local clients only, as on OpenClaw; a remote client without one
 * may only ask for health, and a Tailscale identity is never local.
 */
import { Effect, Layer } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { verifyDeviceProof } from "../../protocol/device.js"
import { ALL_SCOPES, type Role } from "../../protocol/frames.js"
import { Admission, type AdmissionService, type Admitted, type Credential } from "../../services/Admission.js"
import { Auth, type AuthAttempt } from "../../services/Auth.js"
import { Devices } from "../../services/Devices.js"

export const makeAdmission = Effect.gen(function* () {
  const auth = yield* Auth
  const devices = yield* Devices

  const admit: AdmissionService["admit"] = ({ params, peer, nonce }) =>
    Effect.gen(function* () {
      const role: Role = params.role ?? "operator"
      const requested = params.scopes ?? (role === "operator" ? ["operator.read"] : [])
      const operatorScopes = role === "operator" ? requested.filter((s) => (ALL_SCOPES as ReadonlyArray<string>).includes(s)) : []
      const attempt: AuthAttempt = {
        auth: params.auth,
        clientIp: peer.ip,
        isLoopback: peer.isLoopback,
        forwarded: peer.forwarded,
        hasOrigin: peer.hasOrigin,
        tailscale: peer.tailscale
      }
      let deviceId: string | undefined
      let publicKey: string | undefined
      let deviceEpoch = 0
      if (params.device) {
        const verified = verifyDeviceProof(params.device, {
          clientId: params.client.id,
          clientMode: params.client.mode,
          role,
          scopes: params.scopes ?? [],
          token: params.auth?.token ?? params.auth?.deviceToken ?? "",
          platform: params.client.platform,
          deviceFamily: params.client.deviceFamily,
          nonce,
          // The device signed with its wall clock; the skew allowed is against ours.
          now: Date.now()
        })
        if (!verified.ok) {
          return yield* GatewayError.invalidRequest(verified.failure.message, {
            code: verified.failure.code,
            reason: verified.failure.reason
          })
        }
        deviceId = verified.deviceId
        publicKey = verified.publicKey.toString("base64url")
        deviceEpoch = devices.epochOf(deviceId)
      } else if (role === "node") {
        return yield* GatewayError.of("NOT_PAIRED", "device identity required", {
          details: { code: "DEVICE_IDENTITY_REQUIRED" }
        })
      }
      const sharedPresented = Boolean(params.auth?.token || params.auth?.password)
      if (deviceId && params.auth?.deviceToken && !sharedPresented) {
        // A wrong device token counts towards the same failure limit as a wrong shared token.
        yield* auth.limited(attempt, devices.verifyToken({ deviceId, role, token: params.auth.deviceToken, scopes: operatorScopes }))
        return { method: "device-token" as const, scopes: operatorScopes, deviceId, deviceEpoch } satisfies Admitted
      }
      const grant = yield* auth.authenticate(attempt)
      const credential: Credential =
        grant.method === "token" || grant.method === "password"
          ? { kind: grant.method, hash: grant.credentialHash ?? "" }
          : { kind: grant.method }
      if (deviceId && publicKey) {
        const admission = yield* devices.admit({
          deviceId,
          publicKey,
          client: params.client,
          role,
          scopes: operatorScopes,
          commands: params.commands,
          local: peer.local,
          remoteIp: peer.ip
        })
        return {
          method: grant.method,
          user: grant.user,
          scopes: operatorScopes.filter((s) => admission.device.scopes.includes(s)),
          deviceId,
          deviceToken: admission.deviceToken,
          deviceEpoch,
          credential
        } satisfies Admitted
      }
      return { method: grant.method, user: grant.user, scopes: peer.local ? operatorScopes : [], credential } satisfies Admitted
    })

  return Admission.of({ admit })
})

/** Needs Auth and Devices (as the Gateway's core provides them). */
export const AdmissionLive = Layer.effect(Admission, makeAdmission)
