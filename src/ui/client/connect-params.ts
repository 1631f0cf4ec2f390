/**
 * The `connect` request this page sends: the client it says it is, the
 * scopes it asks for, the credential, and the device proof over the v3 text
 * (src/protocol/deviceText.ts, the same function the Gateway verifies with).
 */
import { signedText } from "../../protocol/deviceText.js"

/**
 * The client id and mode of OpenClaw's own Control UI ("openclaw-control-ui",
 * mode "webchat"; .interop/.../control-ui/assets/control-ui-core-*.js). An
 * OpenClaw Gateway validates ids and modes against its known lists and treats
 * this pair as its browser UI (its error hints, its pairing of browser
 * devices); its build-id check for that id applies only to pages it serves
 * from its own bundled UI, not to a UI served from `gateway.controlUi.root`,
 * so this page need not send a build id. clawgate's Gateway treats no client
 * id specially (the id and mode are stored with the device and shown in
 * presence and on the Devices page), and its chat.send marks the messages as
 * the `webchat` channel whatever the id.
 */
export const CONTROL_UI_CLIENT_ID = "openclaw-control-ui"
export const CONTROL_UI_CLIENT_MODE = "webchat"
export const UI_VERSION = "clawgate-control-ui"

export const OPERATOR_SCOPES: ReadonlyArray<string> = [
  "operator.admin",
  "operator.read",
  "operator.write",
  "operator.pairing",
  "operator.approvals"
]

export type ConnectAuth =
  | { readonly token: string }
  | { readonly password: string }
  | { readonly deviceToken: string }
  | { readonly bootstrapToken: string }
  | Record<string, never>

export interface ClientFacts {
  readonly platform: string
  readonly deviceFamily?: string | undefined
  readonly displayName?: string | undefined
  readonly instanceId: string
  readonly userAgent?: string | undefined
  readonly locale?: string | undefined
}

export interface ConnectInput {
  readonly nonce: string
  readonly signedAt: number
  readonly deviceId: string
  readonly publicKey: string
  readonly auth: ConnectAuth
  readonly scopes: ReadonlyArray<string>
  readonly client: ClientFacts
  /**
   * The token in the signed text. OpenClaw's Gateway verifies
   * `auth.token ?? auth.deviceToken ?? auth.bootstrapToken ?? ""`; clawgate's
   * admission verifies `auth.token ?? auth.deviceToken ?? ""` and, for a
   * bootstrap token, what its bootstrap admission says. "openclaw" signs
   * OpenClaw's rule (the default); "empty" signs "" for a bootstrap token
   * (connection.ts retries with it once if a Gateway refused the first as an
   * invalid signature).
   */
  readonly bootstrapSigning?: "openclaw" | "empty"
}

/** The token the device signs for this auth (see `ConnectInput.bootstrapSigning`). */
export const signatureToken = (auth: ConnectAuth, bootstrapSigning: "openclaw" | "empty" = "openclaw"): string => {
  const a = auth as { token?: string; deviceToken?: string; bootstrapToken?: string }
  return a.token ?? a.deviceToken ?? (bootstrapSigning === "openclaw" ? a.bootstrapToken : undefined) ?? ""
}

/** The connect params without the signature, and the text to sign for it. */
export const connectRequest = (input: ConnectInput) => {
  const role = "operator"
  const client = {
    id: CONTROL_UI_CLIENT_ID,
    version: UI_VERSION,
    platform: input.client.platform,
    mode: CONTROL_UI_CLIENT_MODE,
    ...(input.client.deviceFamily ? { deviceFamily: input.client.deviceFamily } : {}),
    ...(input.client.displayName ? { displayName: input.client.displayName } : {}),
    instanceId: input.client.instanceId
  }
  const text = signedText("v3", {
    deviceId: input.deviceId,
    clientId: client.id,
    clientMode: client.mode,
    role,
    scopes: input.scopes,
    signedAtMs: input.signedAt,
    token: signatureToken(input.auth, input.bootstrapSigning),
    nonce: input.nonce,
    platform: client.platform,
    deviceFamily: client.deviceFamily
  })
  const params = {
    minProtocol: 4,
    maxProtocol: 4,
    client,
    role,
    scopes: [...input.scopes],
    caps: [],
    auth: input.auth,
    ...(input.client.userAgent ? { userAgent: input.client.userAgent.slice(0, 1024) } : {}),
    ...(input.client.locale ? { locale: input.client.locale.slice(0, 256) } : {})
  }
  return { params, text }
}

/** The whole connect params: `connectRequest`'s with the device proof signed by `sign`. */
export const signedConnectParams = async (input: ConnectInput, sign: (text: string) => Promise<string>) => {
  const { params, text } = connectRequest(input)
  const signature = await sign(text)
  return {
    ...params,
    device: { id: input.deviceId, publicKey: input.publicKey, signature, signedAt: input.signedAt, nonce: input.nonce }
  }
}
