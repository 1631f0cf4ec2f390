/**
 * GatewayClientRemote's handshake: the connect request (client, role and
 * scopes, the credential or a stored device token, the device's signature
 * over the challenge nonce), hello-ok decoded, an issued device token stored
 * with the identity, and a refusal said with what to do about it.
 */
import { randomUUID } from "node:crypto"
import { Effect, Redacted } from "effect"
import { signedText } from "../../protocol/device.js"
import type { GatewayError } from "../../protocol/errors.js"
import { ALL_SCOPES, DEFAULT_TICK_INTERVAL_MS, PROTOCOL_VERSION, decodeHelloOk } from "../../protocol/frames.js"
import { GatewayClientError, type RemoteClientOptions, type RequestOptions } from "../../services/GatewayClient.js"
import { VERSION } from "../../version.js"
import { describeWhere, targetInfo } from "./socket.js"

const deviceFamily = () =>
  process.platform === "darwin"
    ? "Mac"
    : process.platform === "win32"
      ? "Windows"
      : process.platform === "linux"
        ? "Linux"
        : process.platform

const authFailure = (target: RemoteClientOptions["target"], error: GatewayError): GatewayClientError => {
  const code = error.detailCode ?? ""
  const fix =
    code === "AUTH_TOKEN_MISSING" || code === "AUTH_PASSWORD_MISSING"
      ? target.mode === "remote"
        ? "pass --token (or --password), or set gateway.remote.token"
        : "pass --token, set CLAWGATE_GATEWAY_TOKEN, or check gateway.auth.token in the config"
      : code === "AUTH_TOKEN_MISMATCH" || code === "AUTH_PASSWORD_MISMATCH"
        ? `the credential from ${target.authSource ?? "(none)"} is not the Gateway's; fix it there`
        : code === "AUTH_RATE_LIMITED"
          ? `too many failures from this address; wait ${Math.ceil((error.retryAfterMs ?? 0) / 1000)} s`
          : code === "PAIRING_REQUIRED"
            ? `approve it on the Gateway host: clawgate devices approve ${(error.details as { requestId?: string }).requestId ?? "<requestId>"}`
            : code === "AUTH_DEVICE_TOKEN_MISMATCH"
              ? "this device's token was rotated or revoked; connect once with the shared token to re-pair"
              : undefined
  return new GatewayClientError({
    reason: code === "PAIRING_REQUIRED" ? "NotPaired" : code.startsWith("AUTH_") ? "Auth" : "Handshake",
    target: targetInfo(target),
    error,
    message: `${describeWhere(target)} refused the connection: ${error.message}${fix ? ` — ${fix}` : ""}`
  })
}

/** Sends connect (answering the challenge's `nonce`) through `request` and reads hello-ok. */
export const handshake = (
  options: RemoteClientOptions,
  nonce: string | undefined,
  connectTimeoutMs: number,
  request: (method: string, params: unknown, opts: RequestOptions) => Effect.Effect<unknown, GatewayError | GatewayClientError>
) =>
  Effect.gen(function* () {
    const target = options.target
    const role = options.role ?? "operator"
    const scopes = options.scopes ?? (role === "operator" ? ALL_SCOPES : [])
    const device = options.device
    const stored = device && !target.token && !target.password ? yield* device.tokenFor(target.url, role) : undefined
    const auth = {
      ...(target.token ? { token: Redacted.value(target.token) } : {}),
      ...(target.password ? { password: Redacted.value(target.password) } : {}),
      ...(stored ? { deviceToken: stored.token } : {})
    }
    const client = {
      id: options.client?.id ?? "cli",
      version: VERSION,
      platform: process.platform,
      deviceFamily: deviceFamily(),
      mode: options.client?.mode ?? "cli",
      ...(options.client?.displayName ? { displayName: options.client.displayName } : {}),
      instanceId: options.client?.instanceId ?? randomUUID()
    }
    const signedAt = Date.now()
    const deviceProof = device
      ? {
          id: device.deviceId,
          publicKey: device.publicKey,
          signedAt,
          nonce: nonce ?? "",
          signature: device.sign(
            signedText("v3", {
              deviceId: device.deviceId,
              clientId: client.id,
              clientMode: client.mode,
              role,
              scopes,
              signedAtMs: signedAt,
              token: auth.token ?? auth.deviceToken ?? "",
              nonce: nonce ?? "",
              platform: client.platform,
              deviceFamily: client.deviceFamily
            })
          )
        }
      : undefined
    const connectParams = {
      minProtocol: PROTOCOL_VERSION,
      maxProtocol: PROTOCOL_VERSION,
      // Only the fields OpenClaw's own CLI sends: its Gateway rejects unknown ones.
      client,
      role,
      scopes,
      caps: options.caps ?? [],
      ...(options.commands ? { commands: options.commands } : {}),
      auth,
      ...(deviceProof ? { device: deviceProof } : {})
    }
    const helloRaw = yield* request("connect", connectParams, { timeoutMs: connectTimeoutMs }).pipe(
      Effect.catchTag("GatewayError", (e) => Effect.fail(authFailure(target, e)))
    )
    const hello = decodeHelloOk(helloRaw)
    if (hello._tag === "Left") {
      return yield* new GatewayClientError({
        reason: "Handshake",
        target: targetInfo(target),
        message: `${describeWhere(target)} answered connect with something that is not hello-ok`
      })
    }
    const tickIntervalMs = hello.right.policy?.tickIntervalMs ?? DEFAULT_TICK_INTERVAL_MS
    const issued = hello.right.auth?.deviceToken
    if (device && issued) {
      yield* device.storeToken(target.url, {
        token: issued,
        role,
        scopes: hello.right.auth?.scopes ?? [],
        issuedAtMs: Date.now()
      })
    }
    return { hello: hello.right, tickIntervalMs, issued }
  })
