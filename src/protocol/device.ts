/**
 * Device identity on the wire: an Ed25519 key whose id is the hex SHA-256 of
 * the raw 32-byte public key, and a signature over the connect's facts and
 * the server's challenge nonce. Pure functions shared by clients (sign) and
 * the Gateway (verify).
 */
import { createHash, createPublicKey, verify as edVerify, type KeyObject } from "node:crypto"
import { DEVICE_SIGNATURE_SKEW_MS, type SignedFields, signedText } from "./deviceText.js"
import type { DeviceProof } from "./frames.js"

export { DEVICE_SIGNATURE_SKEW_MS, type SignedFields, signatureToken, signedText } from "./deviceText.js"

const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex")

export const deviceIdOf = (rawPublicKey: Uint8Array): string => createHash("sha256").update(rawPublicKey).digest("hex")

/** A raw 32-byte Ed25519 public key from base64url, base64 or a PEM; undefined if it is none of those. */
export const decodePublicKey = (text: string): Buffer | undefined => {
  try {
    if (text.includes("BEGIN PUBLIC KEY")) {
      const der = createPublicKey(text).export({ format: "der", type: "spki" })
      return der.length === 44 ? der.subarray(12) : undefined
    }
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return undefined
    const raw = Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64")
    return raw.length === 32 ? raw : undefined
  } catch {
    return undefined
  }
}

export const publicKeyObject = (raw: Uint8Array): KeyObject =>
  createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: "der", type: "spki" })

export interface DeviceProofFailure {
  readonly code:
    | "DEVICE_AUTH_DEVICE_ID_MISMATCH"
    | "DEVICE_AUTH_SIGNATURE_EXPIRED"
    | "DEVICE_AUTH_NONCE_REQUIRED"
    | "DEVICE_AUTH_NONCE_MISMATCH"
    | "DEVICE_AUTH_SIGNATURE_INVALID"
  readonly reason: string
  readonly message: string
}

const fail = (code: DeviceProofFailure["code"], reason: string, message: string): DeviceProofFailure => ({
  code,
  reason,
  message
})

/**
 * Checks a connect's device proof against the challenge nonce and the clock.
 * Returns the failure, or the verified device id and raw key. The order of
 * the checks (and their codes) is OpenClaw's.
 */
export const verifyDeviceProof = (
  proof: DeviceProof,
  expected: Omit<SignedFields, "deviceId" | "signedAtMs" | "nonce"> & { readonly nonce: string; readonly now: number }
):
  | { readonly ok: true; readonly deviceId: string; readonly publicKey: Buffer }
  | { readonly ok: false; readonly failure: DeviceProofFailure } => {
  const raw = decodePublicKey(proof.publicKey)
  if (!raw || deviceIdOf(raw) !== proof.id.toLowerCase()) {
    return { ok: false, failure: fail("DEVICE_AUTH_DEVICE_ID_MISMATCH", "device-id-mismatch", "device identity mismatch") }
  }
  if (!Number.isFinite(proof.signedAt) || Math.abs(expected.now - proof.signedAt) > DEVICE_SIGNATURE_SKEW_MS) {
    return { ok: false, failure: fail("DEVICE_AUTH_SIGNATURE_EXPIRED", "device-signature-stale", "device signature expired") }
  }
  if (!proof.nonce) {
    return { ok: false, failure: fail("DEVICE_AUTH_NONCE_REQUIRED", "device-nonce-missing", "device nonce required") }
  }
  if (proof.nonce !== expected.nonce) {
    return { ok: false, failure: fail("DEVICE_AUTH_NONCE_MISMATCH", "device-nonce-mismatch", "device nonce mismatch") }
  }
  let signature: Buffer
  try {
    signature = Buffer.from(proof.signature.replace(/-/g, "+").replace(/_/g, "/"), "base64")
  } catch {
    signature = Buffer.alloc(0)
  }
  const key = publicKeyObject(raw)
  const fields: SignedFields = { ...expected, deviceId: deviceIdOf(raw), signedAtMs: proof.signedAt, nonce: proof.nonce }
  const verified = (["v3", "v2"] as const).some((v) => {
    try {
      return edVerify(null, Buffer.from(signedText(v, fields), "utf8"), key, signature)
    } catch {
      return false
    }
  })
  if (!verified) {
    return { ok: false, failure: fail("DEVICE_AUTH_SIGNATURE_INVALID", "device-signature", "device signature invalid") }
  }
  return { ok: true, deviceId: fields.deviceId, publicKey: raw }
}
