/**
 * Devices in the Gateway's SQLite database (migration `0001_devices`): the
 * paired devices, their per-role tokens (only a SHA-256 of each is stored) and
 * the pending pairing requests.
 *
 * Every change that writes more than one row is one transaction, so a crash
 * or a failure half-way leaves the store as it was: a silent pairing (the
 * device and its first token), a pairing request (stored, and the queue cut
 * to `MAX_PENDING_REQUESTS`), an approval (the device written, its request
 * deleted), a rotation, a revocation (the token revoked and the role
 * withdrawn), a removal (the tokens and the device). Events are published and
 * connections closed once the transaction has committed.
 *
 * Decisions are also taken one at a time (each reads, then writes), and the
 * rules for them are `pairingPolicy`.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto"
import { EventBusLive } from "../state/EventBusLive.js"
import { ConnectionHubLive } from "../state/ConnectionHubLive.js"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, type Either, Layer } from "effect"
import type { ClawgateConfig } from "../../config/schema.js"
import { GatewayError } from "../../protocol/errors.js"
import { CloseCode } from "../../protocol/frames.js"
import { ConfigStore } from "../../services/Config.js"
import { ConnectionHub } from "../../services/ConnectionHub.js"
import {
  Devices,
  DevicesStoreError,
  MAX_PENDING_REQUESTS,
  PairingDenied,
  type AdmitInput,
  type DevicesService,
  type PairedDevice,
  type PairingReason,
  type PairingRequest
} from "../../services/Devices.js"
import { EventBus } from "../../services/EventBus.js"
import { safeEqual } from "../../util/secrets.js"
import {
  checkApproval,
  checkManage,
  deniedOnTheWire,
  pairingNeed,
  pairingRequired,
  pairsSilently,
  rotationScopes,
  union,
  widens
} from "./pairingPolicy.js"

interface DeviceRow {
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

interface TokenRow {
  device_id: string
  role: string
  token_hash: string
  scopes: string
  created_at: number
  rotated_at: number | null
  revoked_at: number | null
}

const hashToken = (token: string) => createHash("sha256").update(token, "utf8").digest("hex")
const newToken = () => randomBytes(32).toString("base64url")
const json = (v: unknown) => JSON.stringify(v)
const parseList = (s: unknown): Array<string> => {
  try {
    const v = JSON.parse(String(s))
    return Array.isArray(v) ? v.map(String) : []
  } catch {
    return []
  }
}

/** A failed statement, saying what could not be done. */
const storage =
  (what: string) =>
  (cause: SqlError): DevicesStoreError =>
    new DevicesStoreError({ reason: "Storage", message: `device store: cannot ${what}: ${cause.message}`, cause })

/** Any failure of a method, as the wire says it. */
const onTheWire =
  (what: string, ids: { readonly requestId?: string; readonly deviceId?: string; readonly role?: string } = {}) =>
  (e: GatewayError | DevicesStoreError | PairingDenied | SqlError): GatewayError => {
    if (e instanceof GatewayError) return e
    if (e instanceof PairingDenied) return deniedOnTheWire(e, ids)
    if (e instanceof DevicesStoreError) return GatewayError.unavailable(e.message)
    // BEGIN or COMMIT itself failed.
    return GatewayError.unavailable(storage(what)(e).message)
  }

const denied = <A>(decision: Either.Either<A, PairingDenied>): Effect.Effect<A, PairingDenied> => decision

const tokenMismatch = () =>
  GatewayError.invalidRequest("unauthorized: device token mismatch (rotate/reissue device token)", {
    code: "AUTH_DEVICE_TOKEN_MISMATCH",
    authReason: "device_token_mismatch",
    canRetryWithDeviceToken: false,
    recommendedNextStep: "update_auth_credentials"
  })

/** What an admission's transaction decided: admitted, or a request stored and waiting. */
type AdmitOutcome =
  | { readonly _tag: "Admitted"; readonly device: PairedDevice; readonly deviceToken: string | undefined; readonly silently: boolean }
  | {
      readonly _tag: "Waiting"
      readonly request: PairingRequest
      /** False when the connect repeated a request already waiting (same id, no new notice). */
      readonly fresh: boolean
      readonly dropped: number
      readonly reason: PairingReason
      readonly existing: PairedDevice | undefined
    }

export const makeDevicesSql = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const bus = yield* EventBus
  const hub = yield* ConnectionHub
  const config = yield* ConfigStore
  // One decision at a time: each reads, then writes.
  const lock = yield* Effect.makeSemaphore(1)
  const serial = <A, E, R>(e: Effect.Effect<A, E, R>) => lock.withPermits(1)(e)

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

  /** A paired device the approver may act on: it holds every scope the device holds. */
  const requireManageable = (deviceId: string, what: string, approver: Parameters<DevicesService["remove"]>[1]) =>
    Effect.tap(requireDevice(deviceId, what), (device) => denied(checkManage(approver, device)))

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

  const resolved = (requestId: string, deviceId: string, decision: "approved" | "rejected") =>
    bus.publish({ event: "device.pair.resolved", payload: { requestId, deviceId, decision, ts: Date.now() } })

  // Bumped whenever a device is removed or a token of it rotated or revoked (see `DevicesService.epochOf`).
  const epochs = new Map<string, number>()
  const epochOf = (deviceId: string): number => epochs.get(deviceId) ?? 0

  const closeDevice = (deviceId: string, role: string | undefined, reason: string) =>
    Effect.suspend(() => {
      epochs.set(deviceId, epochOf(deviceId) + 1)
      return hub.closeWhere((h) => h.deviceId === deviceId && (role === undefined || h.role === role), CloseCode.deviceRemoved, reason)
    })

  /** Stores (or refreshes) the device's pairing request, the queue cut to its bound. */
  const storeRequest = (input: AdmitInput, reason: PairingReason, existing: PairedDevice | undefined) =>
    Effect.gen(function* () {
      const waiting = (yield* pendingRequests).find((r) => r.deviceId === input.deviceId)
      const pending = waiting !== undefined && !widens(waiting, input) ? waiting : undefined
      const request: PairingRequest = {
        requestId: pending?.requestId ?? randomUUID(),
        deviceId: input.deviceId,
        publicKey: input.publicKey,
        displayName: input.client.displayName,
        platform: input.client.platform,
        deviceFamily: input.client.deviceFamily,
        clientId: input.client.id,
        clientMode: input.client.mode,
        role: input.role,
        roles: union(waiting?.roles ?? [], [input.role]),
        scopes: union(waiting?.scopes ?? [], input.scopes),
        commands: input.commands,
        reason,
        silent: false,
        isRepair: existing !== undefined,
        remoteIp: input.remoteIp,
        ts: Date.now()
      }
      yield* sql`INSERT INTO pairing_requests (request_id, device_id, request, created_at)
        VALUES (${request.requestId}, ${request.deviceId}, ${json(request)}, ${request.ts})
        ON CONFLICT (device_id) DO UPDATE SET request_id = excluded.request_id, request = excluded.request`.pipe(
        Effect.mapError(storage("store a pairing request"))
      )
      // Each new key pair is a new request: the queue is bounded, the oldest request giving way.
      const dropped = yield* sql<{ request_id: string }>`DELETE FROM pairing_requests WHERE request_id IN (
          SELECT request_id FROM pairing_requests ORDER BY created_at DESC LIMIT -1 OFFSET ${MAX_PENDING_REQUESTS})
        RETURNING request_id`.pipe(Effect.mapError(storage("trim pairing requests")))
      return { _tag: "Waiting", request, fresh: pending === undefined, dropped: dropped.length, reason, existing } as const
    })

  const decideAdmission = (input: AdmitInput, autoApproveLocal: boolean) =>
    Effect.gen(function* () {
      const existing = yield* readDevice(input.deviceId)
      const reason = pairingNeed(existing, input)
      let device = existing
      let silently = false
      if (reason !== undefined) {
        if (!pairsSilently({ local: input.local, autoApproveLocal, existing, role: input.role, reason })) {
          return yield* storeRequest(input, reason, existing)
        }
        yield* upsertDevice({
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
          via: existing?.approvedVia === "owner" ? "owner" : "silent"
        })
        silently = true
        device = yield* readWritten(input.deviceId)
      }
      // pairingNeed asks for pairing whenever there is no device, so `device` is there; if not, say so.
      const d = device ?? (yield* readWritten(input.deviceId))
      const active = d.tokens.find((t) => t.role === input.role && t.revokedAtMs === undefined)
      const deviceToken = active
        ? undefined
        : yield* issueToken(d.deviceId, input.role, d.scopes, false).pipe(Effect.mapError(storage("issue a device token")))
      const admitted = deviceToken ? ((yield* readDevice(input.deviceId)) ?? d) : d
      return { _tag: "Admitted", device: admitted, deviceToken, silently } as const
    })

  const admit: DevicesService["admit"] = Effect.fn("Devices.admit")(
    function* (input) {
      const cfg = yield* config.current.pipe(Effect.orElseSucceed((): ClawgateConfig => ({})))
      const autoApproveLocal = cfg.gateway?.nodes?.pairing?.autoApproveLocal ?? true
      const outcome: AdmitOutcome = yield* decideAdmission(input, autoApproveLocal).pipe(sql.withTransaction)
      if (outcome._tag === "Admitted") {
        if (outcome.silently) {
          yield* Effect.logInfo(`paired device ${input.deviceId.slice(0, 12)} (${input.role}) silently: local connection`)
        }
        return { device: outcome.device, deviceToken: outcome.deviceToken }
      }
      const { request } = outcome
      if (outcome.dropped > 0) {
        yield* Effect.logWarning(`pairing requests: more than ${MAX_PENDING_REQUESTS} waiting; dropped the oldest ${outcome.dropped}`)
      }
      if (outcome.fresh) {
        yield* bus.publish({ event: "device.pair.requested", payload: request })
        yield* Effect.logInfo(
          `pairing requested by device ${input.deviceId.slice(0, 12)} (${input.role}) from ${input.remoteIp}: clawgate devices approve ${request.requestId}`
        )
      }
      return yield* pairingRequired(input, outcome.reason, request.requestId, outcome.existing)
    },
    (effect, input) => effect.pipe(Effect.mapError(onTheWire("admit a device", { deviceId: input.deviceId }))),
    serial
  )

  const verifyToken: DevicesService["verifyToken"] = Effect.fn("Devices.verifyToken")(
    function* (input) {
      const rows = yield* sql<TokenRow>`SELECT * FROM device_tokens WHERE device_id = ${input.deviceId} AND role = ${input.role}`.pipe(
        Effect.mapError(storage("read a device token"))
      )
      const row = rows[0]
      // Hash both sides so the comparison is constant-time and never sees the stored secret.
      if (!row || row.revoked_at !== null || !safeEqual(hashToken(input.token), row.token_hash)) return yield* tokenMismatch()
      const granted = parseList(row.scopes)
      if (input.scopes.some((s) => !granted.includes(s))) {
        return yield* GatewayError.invalidRequest("unauthorized: device token scope mismatch (re-pair or approve scope upgrade)", {
          code: "AUTH_SCOPE_MISMATCH",
          grantedScopes: granted
        })
      }
      const device = yield* readDevice(input.deviceId)
      if (!device?.roles.includes(input.role)) return yield* tokenMismatch()
      return device
    },
    Effect.mapError(onTheWire("verify a device token"))
  )

  const get: DevicesService["get"] = (deviceId) => readDevice(deviceId).pipe(Effect.mapError(onTheWire("read a device")))

  const list: DevicesService["list"] = Effect.gen(function* () {
    const rows = yield* sql<DeviceRow>`SELECT * FROM devices ORDER BY created_at`
    const tokens = yield* sql<TokenRow>`SELECT * FROM device_tokens`
    const pending = yield* pendingRequests
    return { pending, paired: rows.map((r) => toDevice(r, tokens)) }
  }).pipe(
    Effect.mapError((e) => (e instanceof DevicesStoreError ? e : storage("list devices")(e))),
    sql.withTransaction,
    Effect.mapError(onTheWire("list devices")),
    Effect.withSpan("Devices.list")
  )

  const approve: DevicesService["approve"] = Effect.fn("Devices.approve")(
    function* (requestId, approver) {
      const device = yield* Effect.gen(function* () {
        const request = yield* findRequest(requestId)
        yield* denied(checkApproval(approver, request))
        const existing = yield* readDevice(request.deviceId)
        yield* upsertDevice({
          deviceId: request.deviceId,
          publicKey: request.publicKey,
          client: request,
          roles: union(existing?.roles ?? [], request.roles),
          scopes: union(existing?.scopes ?? [], request.scopes),
          via: "owner"
        })
        yield* deleteRequest(requestId)
        return yield* readWritten(request.deviceId)
      }).pipe(sql.withTransaction)
      yield* resolved(requestId, device.deviceId, "approved")
      yield* Effect.logInfo(`approved pairing ${requestId} for device ${device.deviceId.slice(0, 12)} (${device.roles.join(",")})`)
      return { requestId, device }
    },
    (effect, requestId) => effect.pipe(Effect.mapError(onTheWire("approve a pairing request", { requestId }))),
    serial
  )

  const reject: DevicesService["reject"] = Effect.fn("Devices.reject")(
    function* (requestId) {
      const request = yield* Effect.tap(findRequest(requestId), () => deleteRequest(requestId)).pipe(sql.withTransaction)
      yield* resolved(requestId, request.deviceId, "rejected")
      yield* Effect.logInfo(`rejected pairing ${requestId} for device ${request.deviceId.slice(0, 12)}`)
      return { requestId, deviceId: request.deviceId }
    },
    (effect, requestId) => effect.pipe(Effect.mapError(onTheWire("reject a pairing request", { requestId }))),
    serial
  )

  const remove: DevicesService["remove"] = Effect.fn("Devices.remove")(
    function* (deviceId, approver) {
      yield* Effect.gen(function* () {
        yield* requireManageable(deviceId, "unknown deviceId", approver)
        yield* sql`DELETE FROM device_tokens WHERE device_id = ${deviceId}`.pipe(Effect.mapError(storage("remove tokens")))
        yield* sql`DELETE FROM devices WHERE device_id = ${deviceId}`.pipe(Effect.mapError(storage("remove a device")))
      }).pipe(sql.withTransaction)
      yield* closeDevice(deviceId, undefined, "device removed")
      yield* Effect.logInfo(`removed device ${deviceId.slice(0, 12)}`)
      return { deviceId }
    },
    (effect, deviceId) => effect.pipe(Effect.mapError(onTheWire("remove a device", { deviceId }))),
    serial
  )

  const rotate: DevicesService["rotate"] = Effect.fn("Devices.rotate")(
    function* (deviceId, role, scopes, approver) {
      const { granted, token } = yield* Effect.gen(function* () {
        const device = yield* requireManageable(deviceId, "device token rotation denied", approver)
        const granted = yield* denied(rotationScopes(device, role, scopes))
        const token = yield* issueToken(deviceId, role, granted, true).pipe(Effect.mapError(storage("rotate a token")))
        return { granted, token }
      }).pipe(sql.withTransaction)
      yield* closeDevice(deviceId, role, "device token rotated")
      const self = approver.deviceId === deviceId
      return {
        deviceId,
        role,
        scopes: granted,
        rotatedAtMs: Date.now(),
        tokenDelivery: self ? ("in-band" as const) : ("withheld-cross-device" as const),
        ...(self ? { token } : {})
      }
    },
    (effect, deviceId, role) => effect.pipe(Effect.mapError(onTheWire("rotate a device token", { deviceId, role }))),
    serial
  )

  const revoke: DevicesService["revoke"] = Effect.fn("Devices.revoke")(
    function* (deviceId, role, approver) {
      const now = Date.now()
      yield* Effect.gen(function* () {
        const device = yield* requireManageable(deviceId, "device token revocation denied", approver)
        yield* sql`UPDATE device_tokens SET revoked_at = ${now} WHERE device_id = ${deviceId} AND role = ${role}`.pipe(
          Effect.mapError(storage("revoke a token"))
        )
        // The role itself is withdrawn: coming back needs a new approval.
        yield* sql`UPDATE devices SET roles = ${json(device.roles.filter((r) => r !== role))} WHERE device_id = ${deviceId}`.pipe(
          Effect.mapError(storage("revoke a role"))
        )
      }).pipe(sql.withTransaction)
      yield* closeDevice(deviceId, role, "device token revoked")
      yield* Effect.logInfo(`revoked ${role} token of device ${deviceId.slice(0, 12)}`)
      return { deviceId, role, revokedAtMs: now }
    },
    (effect, deviceId, role) => effect.pipe(Effect.mapError(onTheWire("revoke a device token", { deviceId, role }))),
    serial
  )

  const touch: DevicesService["touch"] = (deviceId, reason) =>
    sql`UPDATE devices SET last_seen_at = ${Date.now()}, last_seen_reason = ${reason} WHERE device_id = ${deviceId}`.pipe(
      Effect.asVoid,
      // Best effort: at shutdown the store may already be closed when the last node drops.
      Effect.catchAll((e) => Effect.logDebug(`device store: cannot record last seen: ${e.message}`))
    )

  return Devices.of({ get, admit, verifyToken, list, approve, reject, remove, rotate, revoke, touch, epochOf })
})

/**
 * Devices over the Gateway's SqlClient (see `DatabaseLive`, which applies the
 * migrations). Closing the connections of a removed device or of a rotated or
 * revoked token goes through the ConnectionHub; pairing events through the
 * EventBus.
 */
export const DevicesSql: Layer.Layer<Devices, never, SqlClient.SqlClient | ConfigStore | EventBus | ConnectionHub> = Layer.effect(
  Devices,
  makeDevicesSql
)

/**
 * `DevicesSql` with the Gateway's one EventBus and ConnectionHub (the same
 * layer references every other service uses, so they are built once): needs
 * only the database and the config, as `Devices.Default` did.
 */
export const DevicesSqlLive: Layer.Layer<Devices, never, SqlClient.SqlClient | ConfigStore> = DevicesSql.pipe(
  Layer.provide(Layer.mergeAll(EventBusLive, ConnectionHubLive))
)
