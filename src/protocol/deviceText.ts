/**
 * What a device signs in `connect`, as plain text: no Node and no Effect, so
 * the Control UI's browser code signs exactly what the Gateway verifies
 * (protocol/device.ts).
 */

/** How far `signedAt` may be from the Gateway's clock, either way. */
export const DEVICE_SIGNATURE_SKEW_MS = 120_000

const lowerAscii = (s: string | undefined) => (s ?? "").trim().replace(/[A-Z]/g, (c) => c.toLowerCase())

export interface SignedFields {
  readonly deviceId: string
  readonly clientId: string
  readonly clientMode: string
  readonly role: string
  readonly scopes: ReadonlyArray<string>
  readonly signedAtMs: number
  /** The credential the connect sends, as `signatureToken` picks it. */
  readonly token: string
  readonly nonce: string
  readonly platform?: string | undefined
  readonly deviceFamily?: string | undefined
}

/** The text a device signs: v3 adds platform and device family (lower-cased) to v2. */
export const signedText = (version: "v2" | "v3", f: SignedFields): string => {
  const base = [version, f.deviceId, f.clientId, f.clientMode, f.role, f.scopes.join(","), String(f.signedAtMs), f.token, f.nonce]
  return (version === "v3" ? [...base, lowerAscii(f.platform), lowerAscii(f.deviceFamily)] : base).join("|")
}

/**
 * The credential a device signs: `auth.token`, else `auth.deviceToken`, else a one-time
 * `auth.bootstrapToken` when it is the only credential sent (as OpenClaw's clients sign), else "".
 */
export const signatureToken = (
  auth:
    | {
        readonly token?: string | undefined
        readonly deviceToken?: string | undefined
        readonly password?: string | undefined
        readonly bootstrapToken?: string | undefined
      }
    | undefined
): string => auth?.token ?? auth?.deviceToken ?? (auth?.password ? "" : auth?.bootstrapToken) ?? ""
