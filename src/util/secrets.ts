import { createHash, timingSafeEqual } from "node:crypto"

/**
 * Compares two secrets in time that depends on neither their contents nor
 * their lengths: both sides are hashed to 32 bytes first, so
 * `timingSafeEqual` never sees different lengths and never throws.
 */
export const safeEqual = (a: string, b: string): boolean => {
  const ha = createHash("sha256").update(a, "utf8").digest()
  const hb = createHash("sha256").update(b, "utf8").digest()
  return timingSafeEqual(ha, hb)
}

/**
 * The SHA-256 (hex) of a shared secret, as a session keeps it: the session that logged in with it
 * is ended when the hash of the secret in force is no longer this one.
 */
export const credentialHash = (secret: string): string => createHash("sha256").update(secret, "utf8").digest("hex")
