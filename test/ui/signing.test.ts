/**
 * The browser's device proof, signed by the page's own code path (WebCrypto
 * under Node's globalThis.crypto, and the noble fallback) and verified by the
 * Gateway's verifyDeviceProof: what the page signs is what the Gateway checks.
 */
import { describe, expect, it } from "@effect/vitest"
import { deviceIdOf as gatewayDeviceIdOf, verifyDeviceProof } from "../../src/protocol/device.js"
import {
  CONTROL_UI_CLIENT_ID,
  CONTROL_UI_CLIENT_MODE,
  connectRequest,
  OPERATOR_SCOPES,
  signatureToken,
  signedConnectParams
} from "../../src/ui/client/connect-params.js"
import { generateNobleKey, generateWebCryptoKey, identityOf, type KeyMaterial } from "../../src/ui/client/keys.js"

const client = { platform: "web", deviceFamily: "Linux", displayName: "Control UI (Chrome on Linux)", instanceId: "i-1" }

const verify = async (key: KeyMaterial, auth: Parameters<typeof signatureToken>[0], gatewayToken: string) => {
  const id = await identityOf(key)
  const now = Date.now()
  const params = await signedConnectParams(
    { nonce: "nonce-1", signedAt: now, deviceId: id.deviceId, publicKey: id.publicKey, auth, scopes: OPERATOR_SCOPES, client },
    id.sign
  )
  return verifyDeviceProof(params.device, {
    clientId: params.client.id,
    clientMode: params.client.mode,
    role: params.role,
    scopes: params.scopes,
    token: gatewayToken,
    platform: params.client.platform,
    deviceFamily: params.client.deviceFamily,
    nonce: "nonce-1",
    now
  })
}

describe("the browser's device key", () => {
  it("with WebCrypto: a non-extractable private key whose connect the Gateway verifies", async () => {
    const key = await generateWebCryptoKey()
    expect(key?.kind).toBe("webcrypto")
    if (key?.kind !== "webcrypto") return
    expect((key.privateKey as { extractable: boolean }).extractable).toBe(false)
    await expect(globalThis.crypto.subtle.exportKey("pkcs8", key.privateKey)).rejects.toThrow()
    const id = await identityOf(key)
    expect(id.deviceId).toBe(gatewayDeviceIdOf(key.publicKey))
    expect(id.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const r = await verify(key, { token: "shared" }, "shared")
    expect(r.ok).toBe(true)
  })

  it("with noble (a page that is not a secure context): the same proof, verified the same way", async () => {
    const key = await generateNobleKey()
    expect(key.kind).toBe("noble")
    expect((await identityOf(key)).deviceId).toBe(gatewayDeviceIdOf(key.publicKey))
    expect((await verify(key, { deviceToken: "dev-tok" }, "dev-tok")).ok).toBe(true)
    expect((await verify(key, { password: "pw" }, "")).ok).toBe(true)
  })

  it("a signature over another token, or tampered text, is refused", async () => {
    const key = await generateNobleKey()
    const r = await verify(key, { token: "shared" }, "other")
    expect(r.ok).toBe(false)
    expect(!r.ok && r.failure.code).toBe("DEVICE_AUTH_SIGNATURE_INVALID")
  })
})

describe("the signed text's inputs", () => {
  it("names OpenClaw's Control UI client, role operator, the scopes asked for, and the v3 platform fields", () => {
    const { params, text } = connectRequest({
      nonce: "n",
      signedAt: 1234,
      deviceId: "dev",
      publicKey: "pk",
      auth: { token: "T" },
      scopes: OPERATOR_SCOPES,
      client
    })
    expect(params).toMatchObject({
      minProtocol: 4,
      maxProtocol: 4,
      role: "operator",
      client: { id: CONTROL_UI_CLIENT_ID, mode: CONTROL_UI_CLIENT_MODE, platform: "web", deviceFamily: "Linux", instanceId: "i-1" },
      auth: { token: "T" }
    })
    expect(text).toBe(
      "v3|dev|openclaw-control-ui|webchat|operator|operator.admin,operator.read,operator.write,operator.pairing,operator.approvals|1234|T|n|web|linux"
    )
  })

  it("signs the token for each kind of auth as the Gateways verify it", () => {
    expect(signatureToken({ token: "t" })).toBe("t")
    expect(signatureToken({ deviceToken: "d" })).toBe("d")
    expect(signatureToken({ password: "p" })).toBe("")
    expect(signatureToken({})).toBe("")
    // OpenClaw's rule: auth.token ?? auth.deviceToken ?? auth.bootstrapToken; "empty" is the one-time fallback.
    expect(signatureToken({ bootstrapToken: "b" })).toBe("b")
    expect(signatureToken({ bootstrapToken: "b" }, "empty")).toBe("")
  })
})
