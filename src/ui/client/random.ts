/**
 * Random ids for idempotency keys and session keys. `crypto.randomUUID`
 * exists only in secure contexts; `crypto.getRandomValues` exists in every
 * context, so the fallback builds the same RFC 4122 v4 UUID from it.
 */

export const uuidFromBytes = (bytes: Uint8Array): string => {
  const b = Uint8Array.from(bytes.subarray(0, 16))
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

export const randomId = (): string => {
  const c = globalThis.crypto as Partial<typeof globalThis.crypto> | undefined
  if (typeof c?.randomUUID === "function") return c.randomUUID()
  const bytes = new Uint8Array(16)
  globalThis.crypto.getRandomValues(bytes)
  return uuidFromBytes(bytes)
}
