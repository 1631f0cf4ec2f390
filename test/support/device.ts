/** A device identity for protocol tests: an Ed25519 key that signs connects like a real client. */
import { generateKeyPairSync, sign } from "node:crypto"
import { Effect } from "effect"
import { deviceIdOf, signatureToken, signedText } from "../../src/protocol/device.js"
import { openPeer } from "./ws.js"

export interface TestDevice {
  readonly deviceId: string
  readonly publicKey: string
  readonly sign: (text: string) => string
}

export const makeTestDevice = (): TestDevice => {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519")
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url")
  return {
    deviceId: deviceIdOf(raw),
    publicKey: raw.toString("base64url"),
    sign: (text) => sign(null, Buffer.from(text), privateKey).toString("base64url")
  }
}

/** Adds a signed `device` to connect params (v3 text); `tamper` changes the proof after signing. */
export const signed = (
  device: TestDevice,
  params: Record<string, any>,
  nonce: string,
  tamper: (proof: Record<string, unknown>) => Record<string, unknown> = (p) => p,
  signedAt = Date.now()
) => {
  const text = signedText("v3", {
    deviceId: device.deviceId,
    clientId: params.client.id,
    clientMode: params.client.mode,
    role: params.role ?? "operator",
    scopes: params.scopes ?? [],
    signedAtMs: signedAt,
    token: signatureToken(params.auth),
    nonce,
    platform: params.client.platform,
    deviceFamily: params.client.deviceFamily
  })
  return {
    ...params,
    device: tamper({ id: device.deviceId, publicKey: device.publicKey, signedAt, nonce, signature: device.sign(text) })
  }
}

/** Opens a socket, signs the connect with the challenge's nonce, and returns the peer and the connect response. */
export const deviceHandshake = (
  url: string,
  device: TestDevice,
  params: Record<string, any>,
  options: {
    tamper?: (proof: Record<string, unknown>) => Record<string, unknown>
    signedAt?: number
    nonce?: string
    headers?: Record<string, string>
  } = {}
) =>
  Effect.gen(function* () {
    const peer = yield* openPeer(url, options.headers ? { headers: options.headers } : {})
    yield* Effect.promise(() => peer.opened)
    const challenge = yield* Effect.promise(() => peer.waitFor((f) => f.event === "connect.challenge"))
    const res = yield* Effect.promise(() =>
      peer.call("connect", signed(device, params, options.nonce ?? challenge.payload.nonce, options.tamper, options.signedAt), "c1")
    )
    return { peer, res }
  })

export const nodeParams = (token: string, overrides: Record<string, unknown> = {}) => ({
  minProtocol: 4,
  maxProtocol: 4,
  client: { id: "node-host", version: "1.0.0", platform: "linux", deviceFamily: "Linux", mode: "node", displayName: "test-node" },
  role: "node",
  scopes: [],
  caps: [],
  commands: ["system.info"],
  auth: { token },
  ...overrides
})
