/**
 * DeviceIdentity kept in `<stateDir>/identity/`: `device.json` (the key pair)
 * and `device-tokens.json` (tokens issued by Gateways), both 0600 and written
 * atomically.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { createPrivateKey, generateKeyPairSync, sign as edSign } from "node:crypto"
import { Effect, Layer } from "effect"
import { deviceIdOf } from "../protocol/device.js"
import { DeviceIdentity, type DeviceIdentityService, type StoredDeviceToken } from "../services/DeviceIdentity.js"
import { atomicWriteFile } from "../util/atomicWrite.js"

interface IdentityFile {
  readonly version: 1
  readonly deviceId: string
  readonly publicKey: string
  readonly privateKeyPem: string
  readonly createdAtMs: number
}

type TokenFile = { version: 1; tokens: Record<string, Record<string, StoredDeviceToken>> }

export class DeviceIdentityError extends Error {
  override readonly name = "DeviceIdentityError"
}

const readJson = async <A>(file: string): Promise<A | undefined> => {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as A
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw new DeviceIdentityError(`${file} is unreadable (${(e as Error).message}); move it aside to create a new identity`)
  }
}

export const loadOrCreateIdentity = async (stateDir: string): Promise<IdentityFile> => {
  const file = path.join(stateDir, "identity", "device.json")
  const existing = await readJson<IdentityFile>(file)
  if (existing) {
    if (existing.version !== 1 || typeof existing.privateKeyPem !== "string" || typeof existing.publicKey !== "string") {
      throw new DeviceIdentityError(`${file} is not a clawgate device identity; move it aside to create a new one`)
    }
    return existing
  }
  const { publicKey, privateKey } = generateKeyPairSync("ed25519")
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url")
  const identity: IdentityFile = {
    version: 1,
    deviceId: deviceIdOf(raw),
    publicKey: raw.toString("base64url"),
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    createdAtMs: Date.now()
  }
  await atomicWriteFile(file, JSON.stringify(identity, null, 2) + "\n")
  return identity
}

export const makeDeviceIdentity = (stateDir: string): Effect.Effect<DeviceIdentityService, DeviceIdentityError> =>
  Effect.gen(function* () {
    const identity = yield* Effect.tryPromise({
      try: () => loadOrCreateIdentity(stateDir),
      catch: (e) => (e instanceof DeviceIdentityError ? e : new DeviceIdentityError(String(e)))
    })
    const key = createPrivateKey(identity.privateKeyPem)
    const tokensFile = path.join(stateDir, "identity", "device-tokens.json")
    const lock = yield* Effect.makeSemaphore(1)
    const readTokens = Effect.promise(
      async () => (await readJson<TokenFile>(tokensFile).catch(() => undefined)) ?? { version: 1 as const, tokens: {} }
    )
    // A token that cannot be stored is asked for again next time (pairing still holds): said, not fatal.
    const writeTokens = (f: TokenFile) =>
      Effect.tryPromise(() => atomicWriteFile(tokensFile, `${JSON.stringify(f, null, 2)}\n`)).pipe(
        Effect.catchAll((e) => Effect.logWarning(`cannot store the device token in ${tokensFile}: ${String(e.error)}`))
      )
    return {
      deviceId: identity.deviceId,
      publicKey: identity.publicKey,
      sign: (text) => edSign(null, Buffer.from(text, "utf8"), key).toString("base64url"),
      tokenFor: (gateway, role) => Effect.map(readTokens, (f) => f.tokens[gateway]?.[role]),
      storeToken: (gateway, token) =>
        lock.withPermits(1)(
          Effect.flatMap(readTokens, (f) =>
            writeTokens({ ...f, tokens: { ...f.tokens, [gateway]: { ...f.tokens[gateway], [token.role]: token } } })
          )
        ),
      forgetToken: (gateway, role) =>
        lock.withPermits(1)(
          Effect.flatMap(readTokens, (f) => {
            const { [role]: _, ...rest } = f.tokens[gateway] ?? {}
            return writeTokens({ ...f, tokens: { ...f.tokens, [gateway]: rest } })
          })
        )
    } satisfies DeviceIdentityService
  })

export const DeviceIdentityFile = (stateDir: string) => Layer.effect(DeviceIdentity, makeDeviceIdentity(stateDir))
