/**
 * Devices in the Gateway's SQLite database (migration `0001_devices`): the
 * paired devices, their per-role tokens (only a SHA-256 of each is stored) and
 * the pending pairing requests. This module holds the operations, each with
 * its transaction and what follows the commit; the rows, their mapping and
 * the statements are `devicesRows`, and the body of an admission's
 * transaction is `devicesAdmission`.
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
import { EventBusLive } from "../state/EventBusLive.js"
import { ConnectionHubLive } from "../state/ConnectionHubLive.js"
import { randomUUID } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, type Either, Layer } from "effect"
import type { ClawgateConfig } from "../../config/schema.js"
import { GatewayError } from "../../protocol/errors.js"
import { CloseCode } from "../../protocol/frames.js"
import { ConfigStore } from "../../services/Config.js"
import { ConnectionHub } from "../../services/ConnectionHub.js"
import { Devices, DevicesStoreError, MAX_PENDING_REQUESTS, PairingDenied, type DevicesService } from "../../services/Devices.js"
import { EventBus } from "../../services/EventBus.js"
import { safeEqual } from "../../util/secrets.js"
import { checkApproval, checkManage, deniedOnTheWire, pairingRequired, rotationScopes, union } from "./pairingPolicy.js"
import { type AdmitOutcome, makeDecideAdmission } from "./devicesAdmission.js"
import { hashToken, makeDevicesRows, parseList, storage } from "./devicesRows.js"

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

export const makeDevicesSql = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const bus = yield* EventBus
  const hub = yield* ConnectionHub
  const config = yield* ConfigStore
  // One decision at a time: each reads, then writes.
  const lock = yield* Effect.makeSemaphore(1)
  const serial = <A, E, R>(e: Effect.Effect<A, E, R>) => lock.withPermits(1)(e)

  const rows = yield* makeDevicesRows
  const { readDevice, readWritten, requireDevice, findRequest, deleteRequest, issueToken, upsertDevice, pairPresented } = rows
  const { readToken, readAll, deleteDevice, revokeToken, setRoles } = rows

  /** A paired device the approver may act on: it holds every scope the device holds. */
  const requireManageable = (deviceId: string, what: string, approver: Parameters<DevicesService["remove"]>[1]) =>
    Effect.tap(requireDevice(deviceId, what), (device) => denied(checkManage(approver, device)))

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

  const decideAdmission = makeDecideAdmission(rows)

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
      const rows = yield* readToken(input.deviceId, input.role)
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

  const list: DevicesService["list"] = readAll.pipe(
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

  const pairWithCode: DevicesService["pairWithCode"] = Effect.fn("Devices.pairWithCode")(
    function* (input) {
      const { device, deviceToken, requestId } = yield* Effect.gen(function* () {
        const existing = yield* readDevice(input.deviceId)
        const waiting = (yield* rows.pendingRequests).find((r) => r.deviceId === input.deviceId)
        yield* pairPresented(input, existing, "owner")
        if (waiting) yield* deleteRequest(waiting.requestId)
        const paired = yield* readWritten(input.deviceId)
        // Always a new token: the browser holding the code has none it could use (a token it may have had is replaced).
        const had = paired.tokens.some((t) => t.role === input.role)
        const deviceToken = yield* issueToken(paired.deviceId, input.role, paired.scopes, had).pipe(
          Effect.mapError(storage("issue a device token"))
        )
        return { device: yield* readWritten(input.deviceId), deviceToken, requestId: waiting?.requestId ?? randomUUID() }
      }).pipe(sql.withTransaction)
      yield* resolved(requestId, device.deviceId, "approved")
      yield* Effect.logInfo(
        `paired device ${device.deviceId.slice(0, 12)} (${input.role}) with a dashboard code: scopes ${input.scopes.join(",") || "-"}`
      )
      return { device, deviceToken, requestId }
    },
    (effect, input) => effect.pipe(Effect.mapError(onTheWire("pair a device with a dashboard code", { deviceId: input.deviceId }))),
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
        yield* deleteDevice(deviceId)
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
        yield* revokeToken(deviceId, role, now)
        // The role itself is withdrawn: coming back needs a new approval.
        yield* setRoles(
          deviceId,
          device.roles.filter((r) => r !== role)
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

  return Devices.of({ get, admit, verifyToken, list, approve, pairWithCode, reject, remove, rotate, revoke, touch, epochOf })
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
