/**
 * The pure-JS Ed25519 and SHA-256 for pages that are not a secure context
 * (no `crypto.subtle`): loaded only there (keys.ts imports it dynamically).
 */
import { getPublicKey, hashes, sign } from "@noble/ed25519"
import { sha256, sha512 } from "@noble/hashes/sha2.js"

// noble's synchronous API needs a SHA-512; WebCrypto's is not there when this module is used.
hashes.sha512 = sha512

export { getPublicKey, sha256, sign }
