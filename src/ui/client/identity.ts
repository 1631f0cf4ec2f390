/**
 * What this browser keeps for the Gateway, in IndexedDB: one database
 * "clawgate" with an object store per purpose, each record keyed by the
 * page's origin and base path (two Gateways behind one origin are two
 * devices):
 *
 * - `identity`: the Ed25519 device key (keys.ts): a non-extractable
 *   CryptoKey where WebCrypto has Ed25519, else the noble key's secret bytes
 *   (weaker: see keys.ts).
 * - `deviceToken`: the token hello-ok issued to this device, with the scopes
 *   it was granted.
 *
 * The shared token or password is never stored: not here, not in
 * localStorage. Where IndexedDB is not available (some private windows), the
 * page keeps both in memory and pairs again after a reload.
 */
import type { BrowserStore, StoredDeviceToken } from "./connection.js"
import { type DeviceIdentity, generateKeyMaterial, identityOf, type KeyMaterial } from "./keys.js"

const DB_NAME = "clawgate"
const DB_VERSION = 1
const IDENTITY = "identity"
const DEVICE_TOKEN = "deviceToken"

interface IdentityRecord {
  readonly version: 1
  readonly key: KeyMaterial
  readonly createdAt: number
}

const request = <T>(r: IDBRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error ?? new Error("IndexedDB request failed"))
  })

const openDb = (): Promise<IDBDatabase> =>
  new Promise((resolve, reject) => {
    if (typeof indexedDB === "undefined") return reject(new Error("IndexedDB is not available"))
    const r = indexedDB.open(DB_NAME, DB_VERSION)
    r.onupgradeneeded = () => {
      const db = r.result
      if (!db.objectStoreNames.contains(IDENTITY)) db.createObjectStore(IDENTITY)
      if (!db.objectStoreNames.contains(DEVICE_TOKEN)) db.createObjectStore(DEVICE_TOKEN)
    }
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error ?? new Error("IndexedDB open failed"))
    r.onblocked = () => reject(new Error("IndexedDB is blocked by another tab"))
  })

const isKeyMaterial = (k: unknown): k is KeyMaterial => {
  if (typeof k !== "object" || k === null) return false
  const m = k as Record<string, unknown>
  if (!(m.publicKey instanceof Uint8Array) || m.publicKey.length !== 32) return false
  if (m.kind === "webcrypto") return typeof m.privateKey === "object" && m.privateKey !== null
  return m.kind === "noble" && m.secretKey instanceof Uint8Array && m.secretKey.length === 32
}

/** The store for the page at `scopeKey` (origin + base path), in IndexedDB or, failing that, in memory. */
export const openBrowserStore = (scopeKey: string, log: (message: string) => void = () => {}): BrowserStore => {
  let db: Promise<IDBDatabase | undefined> | undefined
  const database = () => {
    db ??= openDb().catch((e) => {
      log(`IndexedDB unavailable (${String(e)}): this browser's device key lasts until the page is closed`)
      return undefined
    })
    return db
  }
  const memory = new Map<string, unknown>()

  const get = async (store: string): Promise<unknown> => {
    const d = await database()
    if (!d) return memory.get(`${store}:${scopeKey}`)
    return request(d.transaction(store, "readonly").objectStore(store).get(scopeKey))
  }
  /** Stores `value` only if there is none yet: false when another tab stored one first. */
  const addOnce = async (store: string, value: unknown): Promise<boolean> => {
    const d = await database()
    const k = `${store}:${scopeKey}`
    if (!d) {
      if (memory.has(k)) return false
      memory.set(k, value)
      return true
    }
    try {
      await request(d.transaction(store, "readwrite").objectStore(store).add(value, scopeKey))
      return true
    } catch (e) {
      if (e instanceof DOMException && e.name === "ConstraintError") return false
      throw e
    }
  }
  const put = async (store: string, value: unknown): Promise<void> => {
    const d = await database()
    if (!d) return void memory.set(`${store}:${scopeKey}`, value)
    await request(d.transaction(store, "readwrite").objectStore(store).put(value, scopeKey))
  }
  const remove = async (store: string): Promise<void> => {
    const d = await database()
    if (!d) return void memory.delete(`${store}:${scopeKey}`)
    await request(d.transaction(store, "readwrite").objectStore(store).delete(scopeKey))
  }

  let creating: Promise<DeviceIdentity> | undefined

  const stored = async (): Promise<DeviceIdentity | undefined> => {
    const record = (await get(IDENTITY).catch(() => undefined)) as IdentityRecord | undefined
    if (record?.version !== 1 || !isKeyMaterial(record.key)) return undefined
    // A WebCrypto key needs WebCrypto; on a page without it (never the same origin in practice) a new key is made.
    return record.key.kind === "noble" || globalThis.crypto?.subtle ? identityOf(record.key) : undefined
  }

  const loadIdentity = async (): Promise<DeviceIdentity> => {
    const existing = await stored()
    if (existing) return existing
    // One key per page load even when two callers ask at once; when two tabs make one at once, the first stored wins.
    creating ??= (async () => {
      const key = await generateKeyMaterial()
      const record: IdentityRecord = { version: 1, key, createdAt: Date.now() }
      const mine = await addOnce(IDENTITY, record).catch((e) => {
        log(`could not store the device key: ${String(e)}`)
        return true
      })
      return (mine ? undefined : await stored()) ?? identityOf(key)
    })()
    return creating
  }

  return {
    loadIdentity,
    forgetIdentity: async () => {
      creating = undefined
      await remove(IDENTITY)
    },
    loadDeviceToken: async () => {
      const t = (await get(DEVICE_TOKEN)) as StoredDeviceToken | undefined
      if (!t || typeof t.token !== "string" || t.token === "" || !Array.isArray(t.scopes)) return undefined
      return { token: t.token, role: "operator", scopes: t.scopes.filter((s) => typeof s === "string"), savedAt: Number(t.savedAt) || 0 }
    },
    saveDeviceToken: (t) => put(DEVICE_TOKEN, { token: t.token, role: t.role, scopes: [...t.scopes], savedAt: t.savedAt }),
    clearDeviceToken: () => remove(DEVICE_TOKEN)
  }
}
