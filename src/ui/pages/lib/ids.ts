/** Idempotency keys for the calls a person starts from a page (node.invoke): a retry of the same click runs once. */

export interface CryptoLike {
  readonly randomUUID?: (() => string) | undefined
  readonly getRandomValues?: (<T extends Uint8Array>(array: T) => T) | undefined
}

/**
 * A fresh key: `crypto.randomUUID()` where the page has it (a secure context),
 * else 16 random bytes from `crypto.getRandomValues` as hex (which every
 * browser has, secure context or not).
 */
export const newIdempotencyKey = (c: CryptoLike | undefined = (globalThis as { crypto?: CryptoLike }).crypto): string => {
  if (typeof c?.randomUUID === "function") return c.randomUUID()
  if (typeof c?.getRandomValues === "function") {
    const bytes = c.getRandomValues(new Uint8Array(16))
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
  }
  throw new Error("this browser offers no random numbers (crypto.getRandomValues)")
}
