/**
 * This browser's Ed25519 device key and what it signs.
 *
 * Where the page is a secure context (https, localhost, Tailscale Serve)
 * and WebCrypto has Ed25519, the private key is a NON-extractable CryptoKey:
 * script on the page can ask it to sign, but no script (ours, an extension's,
 * an injected one) can read its bytes, and IndexedDB stores it as an opaque
 * handle.
 *
 * Elsewhere (plain http to a LAN address: no secure context, so no
 * `crypto.subtle` at all) the key is @noble/ed25519's, and its 32 secret
 * bytes are an ordinary value in IndexedDB. That is weaker: any script
 * running on this origin, or anyone who copies the browser profile, can read
 * the key and sign as this device until the device is removed on the
 * Gateway. Serve the UI over https, localhost, an SSH tunnel or Tailscale
 * Serve to get the first kind. (`crypto.getRandomValues`, which noble uses
 * for the secret, works in every context.)
 *
 * No DOM types here (only `globalThis.crypto`), so tests run this code under
 * Node's WebCrypto.
 */

/** A WebCrypto key handle, typed from `crypto.subtle` so this module compiles without the DOM library. */
export type SubtleKey = Parameters<typeof globalThis.crypto.subtle.sign>[1]

export type KeyMaterial =
  | { readonly kind: "webcrypto"; readonly privateKey: SubtleKey; readonly publicKey: Uint8Array }
  | { readonly kind: "noble"; readonly secretKey: Uint8Array; readonly publicKey: Uint8Array }

/** What connect needs of the device: its id, its public key (base64url, raw 32 bytes) and a signer. */
export interface DeviceIdentity {
  readonly deviceId: string
  readonly publicKey: string
  /** Signs UTF-8 `text`; the signature is base64url. */
  readonly sign: (text: string) => Promise<string>
  readonly kind: KeyMaterial["kind"]
}

export const base64url = (bytes: Uint8Array): string => {
  let s = ""
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
}

export const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")

const subtle = (): typeof globalThis.crypto.subtle | undefined =>
  (globalThis.crypto as Partial<typeof globalThis.crypto> | undefined)?.subtle

const noble = () => import("./noble.js")

/** The device id: hex SHA-256 of the raw public key (as src/protocol/device.ts computes it). */
export const deviceIdOf = async (rawPublicKey: Uint8Array): Promise<string> => {
  const s = subtle()
  if (s) return hex(new Uint8Array(await s.digest("SHA-256", rawPublicKey as Uint8Array<ArrayBuffer>)))
  return hex((await noble()).sha256(rawPublicKey))
}

/** A new WebCrypto Ed25519 key with a non-extractable private half, or undefined where there is none. */
export const generateWebCryptoKey = async (): Promise<KeyMaterial | undefined> => {
  const s = subtle()
  if (!s) return undefined
  try {
    const pair = (await s.generateKey({ name: "Ed25519" }, false, ["sign", "verify"])) as {
      privateKey: SubtleKey
      publicKey: SubtleKey
    }
    const raw = new Uint8Array(await s.exportKey("raw", pair.publicKey))
    if (raw.length !== 32) return undefined
    return { kind: "webcrypto", privateKey: pair.privateKey, publicKey: raw }
  } catch {
    // NotSupportedError: this browser's WebCrypto has no Ed25519.
    return undefined
  }
}

/** A new pure-JS key (see the module comment for why this one is weaker). */
export const generateNobleKey = async (): Promise<KeyMaterial> => {
  const { getPublicKey } = await noble()
  const secretKey = new Uint8Array(32)
  globalThis.crypto.getRandomValues(secretKey)
  return { kind: "noble", secretKey, publicKey: getPublicKey(secretKey) }
}

/** The best key this page can have: WebCrypto's when it can, else noble's. */
export const generateKeyMaterial = async (): Promise<KeyMaterial> => (await generateWebCryptoKey()) ?? (await generateNobleKey())

export const signBytes = async (key: KeyMaterial, message: Uint8Array): Promise<Uint8Array> => {
  if (key.kind === "webcrypto") {
    const s = subtle()
    if (!s) throw new Error("WebCrypto is not available on this page")
    return new Uint8Array(await s.sign({ name: "Ed25519" }, key.privateKey, message as Uint8Array<ArrayBuffer>))
  }
  return (await noble()).sign(message, key.secretKey)
}

export const identityOf = async (key: KeyMaterial): Promise<DeviceIdentity> => ({
  deviceId: await deviceIdOf(key.publicKey),
  publicKey: base64url(key.publicKey),
  kind: key.kind,
  sign: async (text) => base64url(await signBytes(key, new TextEncoder().encode(text)))
})
