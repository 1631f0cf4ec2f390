/**
 * Admission on the Gateway's Auth (shared secret, Tailscale identity, the
 * failure limit) and Devices (device tokens, pairing): the device proof
 * first, then the credential, then pairing for devices.
 *
 * A device token is checked under the same failure limit as the shared
 * secret. Without a paired device the shared credential grants operator
 * scopes to local clients only, as on OpenClaw; a remote client without one
 * may only ask for health, and a Tailscale identity is never local.
 *
 * A one-time dashboard code (`auth.bootstrapToken`, sent without a shared
 * secret or device token) stands in for both the credential and the owner's
 * approval: it needs a signed device identity, is consumed before anything
 * else is decided (so of two connects racing with it exactly one gets it),
 * counts towards the failure limit when it is wrong, used or expired, and
 * pairs the device with the code's scopes narrowed to what the connect asked
 * for. The hello-ok then carries the device's token for every later connect.
 */
import { Effect, Layer, Option } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { signatureToken, verifyDeviceProof } from "../../protocol/device.js"
import { ALL_SCOPES, type Role } from "../../protocol/frames.js"
import { scopeSatisfies } from "../../protocol/scopes.js"
import { Admission, type AdmissionService, type Admitted, type Credential } from "../../services/Admission.js"
import { Auth, type AuthAttempt } from "../../services/Auth.js"
import { BootstrapCodes } from "../../services/BootstrapCodes.js"
import { Devices } from "../../services/Devices.js"

/** A code that is unknown, used or expired: said the same way for all three, and counted like a wrong token. */
export const codeRefused = () =>
  GatewayError.invalidRequest(
    "unauthorized: dashboard code invalid, expired or already used (each link works once, for 10 minutes: run `clawgate dashboard` again for a new one)",
    {
      code: "AUTH_BOOTSTRAP_TOKEN_INVALID",
      authReason: "bootstrap_token_invalid",
      canRetryWithDeviceToken: false,
      recommendedNextStep: "update_auth_credentials"
    }
  )

const identityRequired = () =>
  GatewayError.of(
    "NOT_PAIRED",
    "device identity required: a dashboard code pairs the device that signs the connect, and this connect has no signed device",
    { details: { code: "DEVICE_IDENTITY_REQUIRED" } }
  )

export const makeAdmission = Effect.gen(function* () {
  const auth = yield* Auth
  const devices = yield* Devices
  const codes = yield* BootstrapCodes

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
      const sharedPresented = Boolean(params.auth?.token || params.auth?.password)
      // A dashboard code is the credential only when nothing else is sent (as OpenClaw's clients send it).
      const code = !sharedPresented && !params.auth?.deviceToken ? params.auth?.bootstrapToken : undefined
      if (code && !params.device) return yield* identityRequired()
      if (code && role !== "operator") {
        return yield* GatewayError.invalidRequest(
          "a dashboard code pairs an operator device (a browser); a node pairs with `clawgate devices approve`",
          { code: "AUTH_BOOTSTRAP_TOKEN_INVALID", authReason: "bootstrap_role_not_allowed", role }
        )
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
          token: signatureToken(params.auth),
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
      if (deviceId && publicKey && code) {
        // Taken out of the store first: whatever happens next, the code never admits anyone again.
        const grant = yield* auth.limited(
          attempt,
          Effect.flatMap(codes.consume(code), (g) => (Option.isSome(g) ? Effect.succeed(g.value) : Effect.fail(codeRefused())))
        )
        // The code's scopes, narrowed to what the connect asked for (operator.admin in the code covers them all).
        const granted = operatorScopes.filter((s) => scopeSatisfies(grant.scopes, s))
        const paired = yield* devices.pairWithCode({
          deviceId,
          publicKey,
          client: params.client,
          role,
          scopes: granted,
          local: peer.local,
          remoteIp: peer.ip
        })
        return {
          method: "bootstrap-token" as const,
          scopes: operatorScopes.filter((s) => paired.device.scopes.includes(s)),
          deviceId,
          deviceToken: paired.deviceToken,
          deviceEpoch
        } satisfies Admitted
      }
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

/** Needs Auth, Devices and BootstrapCodes (as the Gateway's core provides them). */
export const AdmissionLive = Layer.effect(Admission, makeAdmission)
