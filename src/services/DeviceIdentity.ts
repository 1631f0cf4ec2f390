/**
 * DeviceIdentity: this client's Ed25519 key (CLI, node host), and the device
 * tokens Gateways have issued to it. Created on first use, kept 0600 in the
 * state dir.
 */
import { Context, type Effect } from "effect"

export interface StoredDeviceToken {
  readonly token: string
  readonly role: string
  readonly scopes: ReadonlyArray<string>
  readonly issuedAtMs: number
}

export interface DeviceIdentityService {
  readonly deviceId: string
  /** Raw 32-byte public key, base64url. */
  readonly publicKey: string
  /** Signs `text`; the signature is base64url. */
  readonly sign: (text: string) => string
  /** The device token a Gateway (keyed by its URL) issued for `role`, if any. */
  readonly tokenFor: (gateway: string, role: string) => Effect.Effect<StoredDeviceToken | undefined>
  readonly storeToken: (gateway: string, token: StoredDeviceToken) => Effect.Effect<void>
  readonly forgetToken: (gateway: string, role: string) => Effect.Effect<void>
}

export class DeviceIdentity extends Context.Tag("clawgate/DeviceIdentity")<DeviceIdentity, DeviceIdentityService>() {}
