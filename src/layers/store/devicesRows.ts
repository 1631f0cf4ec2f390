/**
 * DevicesSql's rows and statements: the tables' row shapes, their mapping to
 * `PairedDevice`, the reads (a device, a token, the pairing requests, all of
 * them) and the writes, each failure saying what could not be done. None of
 * them opens a transaction: the operations in DevicesSql.ts run them inside
 * theirs, so a write of two statements (a removal) is still one change.
 */
import { createHash, randomBytes } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { ConnectionHub } from "../../services/ConnectionHub.js"
import { union } from "./pairingPolicy.js"
import { DevicesStoreError, MAX_PENDING_REQUESTS, type PairedDevice, type PairingRequest } from "../../services/Devices.js"

export interface DeviceRow {
  device_id: string
  public_key: string
  display_name: string | null
  platform: string | null
  device_family: string | null
  client_id: string
  client_mode: string
  roles: string
  scopes: string
  approved_via: string
  created_at: number
  approved_at: number
  last_seen_at: number | null
  last_seen_reason: string | null
}

export interface TokenRow {
  device_id: string
  role: string
  token_hash: string
  scopes: string
  created_at: number
  rotated_at: number | null
  revoked_at: number | null
}

export const hashToken = (token: string) => createHash("sha256").update(token, "utf8").digest("hex")
const newToken = () => randomBytes(32).toString("base64url")
export const json = (v: unknown) => JSON.stringify(v)
export const parseList = (s: unknown): Array<string> => {
  try {
    const v = JSON.parse(String(s))
    return Array.isArray(v) ? v.map(String) : []
  } catch {
    return []
  }
}

/** A failed statement, saying what could not be done. */
export const storage =
  (what: string) =>
  (cause: SqlError): DevicesStoreError =>
    new DevicesStoreError({ reason: "Storage", message: `device store: cannot ${what}: ${cause.message}`, cause })

/** The statements, over the Gateway's SqlClient; a device's `connected` comes from the ConnectionHub. */
export const makeDevicesRows = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const hub = yield* ConnectionHub

  const toDevice = (row: DeviceRow, tokens: ReadonlyArray<TokenRow>): PairedDevice => {
    const roles = parseList(row.roles)
    return {
      deviceId: row.device_id,
      publicKey: row.public_key,
      displayName: row.display_name ?? undefined,
      platform: row.platform ?? undefined,
      deviceFamily: row.device_family ?? undefined,
      clientId: row.client_id,
      clientMode: row.client_mode,
      role: roles[0] ?? "operator",
      roles,
      scopes: parseList(row.scopes),
      approvedVia: row.approved_via === "owner" ? "owner" : "silent",
      createdAtMs: row.created_at,
      approvedAtMs: row.approved_at,
      lastSeenAtMs: row.last_seen_at ?? undefined,
      lastSeenReason: row.last_seen_reason ?? undefined,
      connected: hub.isConnected(row.device_id),
      tokens: tokens
        .filter((t) => t.device_id === row.device_id)
        .map((t) => ({
          role: t.role,
          scopes: parseList(t.scopes),
          createdAtMs: t.created_at,
          rotatedAtMs: t.rotated_at ?? undefined,
          revokedAtMs: t.revoked_at ?? undefined
        }))
    }
  }

  const readDevice = (deviceId: string) =>
    Effect.gen(function* () {
      const rows = yield* sql<DeviceRow>`SELECT * FROM devices WHERE device_id = ${deviceId}`
      const [row] = rows
      if (row === undefined) return undefined
      const tokens = yield* sql<TokenRow>`SELECT * FROM device_tokens WHERE device_id = ${deviceId}`
      return toDevice(row, tokens)
    }).pipe(Effect.mapError(storage("read a device")))

  /** A device this transaction has just written: not finding it is a store fault, not a caller's mistake. */
  const readWritten = (deviceId: string) =>
    Effect.flatMap(readDevice(deviceId), (d) =>
      d
        ? Effect.succeed(d)
        : Effect.fail(
            new DevicesStoreError({ reason: "Storage", message: `device store: device ${deviceId} was written but cannot be read back` })
          )
    )

  const requireDevice = (deviceId: string, what: string) =>
    Effect.flatMap(readDevice(deviceId), (d) => (d ? Effect.succeed(d) : Effect.fail(GatewayError.invalidRequest(what, { deviceId }))))

  const pendingRequests = sql<{ request: string }>`SELECT request FROM pairing_requests ORDER BY created_at`.pipe(
    Effect.map((rows) => rows.map((r) => JSON.parse(r.request) as PairingRequest)),
    Effect.mapError(storage("read pairing requests"))
  )

  const findRequest = (requestId: string) =>
    Effect.gen(function* () {
      const rows = yield* sql<{ request: string }>`SELECT request FROM pairing_requests WHERE request_id = ${requestId}`.pipe(
        Effect.mapError(storage("read a pairing request"))
      )
      const [row] = rows
      if (row === undefined) return yield* GatewayError.invalidRequest("unknown requestId", { requestId })
      return JSON.parse(row.request) as PairingRequest
    })

  const deleteRequest = (requestId: string) =>
    sql`DELETE FROM pairing_requests WHERE request_id = ${requestId}`.pipe(Effect.mapError(storage("remove a pairing request")))

  const issueToken = (deviceId: string, role: string, scopes: ReadonlyArray<string>, rotated: boolean) =>
    Effect.gen(function* () {
      const token = newToken()
      const now = Date.now()
      yield* sql`INSERT INTO device_tokens (device_id, role, token_hash, scopes, created_at, rotated_at, revoked_at)
        VALUES (${deviceId}, ${role}, ${hashToken(token)}, ${json(scopes)}, ${now}, ${rotated ? now : null}, NULL)
        ON CONFLICT (device_id, role) DO UPDATE SET token_hash = excluded.token_hash, scopes = excluded.scopes,
          rotated_at = ${now}, revoked_at = NULL`
      return token
    })

  const upsertDevice = (r: {
    deviceId: string
    publicKey: string
    client: {
      displayName?: string | undefined
      platform?: string | undefined
      deviceFamily?: string | undefined
      clientId: string
      clientMode: string
    }
    roles: ReadonlyArray<string>
    scopes: ReadonlyArray<string>
    via: "silent" | "owner"
  }) =>
    Effect.suspend(() => {
      const now = Date.now()
      return sql`INSERT INTO devices (device_id, public_key, display_name, platform, device_family, client_id, client_mode,
          roles, scopes, approved_via, created_at, approved_at)
        VALUES (${r.deviceId}, ${r.publicKey}, ${r.client.displayName ?? null}, ${r.client.platform ?? null},
          ${r.client.deviceFamily ?? null}, ${r.client.clientId}, ${r.client.clientMode}, ${json(r.roles)}, ${json(r.scopes)},
          ${r.via}, ${now}, ${now})
        ON CONFLICT (device_id) DO UPDATE SET roles = excluded.roles, scopes = excluded.scopes,
          approved_via = excluded.approved_via, approved_at = excluded.approved_at,
          display_name = COALESCE(excluded.display_name, devices.display_name)`
    }).pipe(Effect.mapError(storage("pair a device")))

  /** Pairs a device as it presented itself in `connect`: its key and client, its role and scopes added to what it had. */
  const pairPresented = (
    input: {
      readonly deviceId: string
      readonly publicKey: string
      readonly client: {
        readonly displayName?: string | undefined
        readonly platform?: string | undefined
        readonly deviceFamily?: string | undefined
        readonly id: string
        readonly mode: string
      }
      readonly role: string
      readonly scopes: ReadonlyArray<string>
    },
    existing: { readonly roles: ReadonlyArray<string>; readonly scopes: ReadonlyArray<string> } | undefined,
    via: "silent" | "owner"
  ) =>
    upsertDevice({
      deviceId: input.deviceId,
      publicKey: input.publicKey,
      client: {
        displayName: input.client.displayName,
        platform: input.client.platform,
        deviceFamily: input.client.deviceFamily,
        clientId: input.client.id,
        clientMode: input.client.mode
      },
      roles: union(existing?.roles ?? [], [input.role]),
      scopes: union(existing?.scopes ?? [], input.scopes),
      via
    })

  const putRequest = (request: PairingRequest) =>
    sql`INSERT INTO pairing_requests (request_id, device_id, request, created_at)
        VALUES (${request.requestId}, ${request.deviceId}, ${json(request)}, ${request.ts})
        ON CONFLICT (device_id) DO UPDATE SET request_id = excluded.request_id, request = excluded.request`.pipe(
      Effect.mapError(storage("store a pairing request"))
    )

  /** Drops the oldest requests past `MAX_PENDING_REQUESTS`; the ids dropped. */
  const trimRequests = sql<{ request_id: string }>`DELETE FROM pairing_requests WHERE request_id IN (
          SELECT request_id FROM pairing_requests ORDER BY created_at DESC LIMIT -1 OFFSET ${MAX_PENDING_REQUESTS})
        RETURNING request_id`.pipe(Effect.mapError(storage("trim pairing requests")))

  const readToken = (deviceId: string, role: string) =>
    sql<TokenRow>`SELECT * FROM device_tokens WHERE device_id = ${deviceId} AND role = ${role}`.pipe(
      Effect.mapError(storage("read a device token"))
    )

  /** Every device with its tokens, and the requests waiting (the caller maps the failures and opens the transaction). */
  const readAll = Effect.gen(function* () {
    const rows = yield* sql<DeviceRow>`SELECT * FROM devices ORDER BY created_at`
    const tokens = yield* sql<TokenRow>`SELECT * FROM device_tokens`
    const pending = yield* pendingRequests
    return { pending, paired: rows.map((r) => toDevice(r, tokens)) }
  })

  /** The device's tokens, then the device: two statements, for the caller's transaction. */
  const deleteDevice = (deviceId: string) =>
    Effect.gen(function* () {
      yield* sql`DELETE FROM device_tokens WHERE device_id = ${deviceId}`.pipe(Effect.mapError(storage("remove tokens")))
      yield* sql`DELETE FROM devices WHERE device_id = ${deviceId}`.pipe(Effect.mapError(storage("remove a device")))
    })

  const revokeToken = (deviceId: string, role: string, now: number) =>
    sql`UPDATE device_tokens SET revoked_at = ${now} WHERE device_id = ${deviceId} AND role = ${role}`.pipe(
      Effect.mapError(storage("revoke a token"))
    )

  const setRoles = (deviceId: string, roles: ReadonlyArray<string>) =>
    sql`UPDATE devices SET roles = ${json(roles)} WHERE device_id = ${deviceId}`.pipe(Effect.mapError(storage("revoke a role")))

  return {
    readAll,
    readToken,
    putRequest,
    trimRequests,
    deleteDevice,
    revokeToken,
    setRoles,
    toDevice,
    readDevice,
    readWritten,
    requireDevice,
    pendingRequests,
    findRequest,
    deleteRequest,
    issueToken,
    upsertDevice,
    pairPresented
  }
})

export type DevicesRows = Effect.Effect.Success<typeof makeDevicesRows>
