/**
 * Devices: paired devices, their per-role tokens and pending pairing
 * requests, kept in SQLite so they survive restarts and crashes. Decides, for
 * a device whose proof was verified, whether it may connect (auto-approving
 * local ones by policy) and with which role and scopes. A device can never
 * hold a role or scope its pairing did not grant.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import { GatewayError } from "../protocol/errors.js"
import { ALL_SCOPES, CloseCode, type ClientInfo, type Role, type Scope } from "../protocol/frames.js"
import { scopeSatisfies } from "../protocol/methods.js"
import { safeEqual } from "../util/secrets.js"
import type { ClawgateConfig } from "../config/schema.js"
import { Config } from "./Config.js"
import { ConnectionHub } from "./ConnectionHub.js"
import { EventBus } from "./EventBus.js"

export interface DeviceTokenInfo {
  readonly role: string
  readonly scopes: ReadonlyArray<string>
  readonly createdAtMs: number
  readonly rotatedAtMs?: number | undefined
  readonly revokedAtMs?: number | undefined
}

/** What a device says about itself when it connects. */
export interface DeviceDescription {
  readonly deviceId: string
  readonly publicKey: string
  readonly displayName?: string | undefined
  readonly platform?: string | undefined
  readonly deviceFamily?: string | undefined
  readonly clientId: string
  readonly clientMode: string
}

export interface PairedDevice extends DeviceDescription {
  /** The first role approved; `roles` has them all. */
  readonly role: string
  readonly roles: ReadonlyArray<string>
  readonly scopes: ReadonlyArray<string>
  readonly approvedVia: "silent" | "owner"
  readonly createdAtMs: number
  readonly approvedAtMs: number
  readonly lastSeenAtMs?: number | undefined
  readonly lastSeenReason?: string | undefined
  readonly connected: boolean
  readonly tokens: ReadonlyArray<DeviceTokenInfo>
}

export interface PairingRequest extends DeviceDescription {
  readonly requestId: string
  readonly role: string
  readonly roles: ReadonlyArray<string>
  readonly scopes: ReadonlyArray<string>
  readonly commands?: ReadonlyArray<string> | undefined
  readonly reason: "not-paired" | "role-upgrade" | "scope-upgrade"
  readonly silent: false
  readonly isRepair: boolean
  readonly remoteIp?: string | undefined
  readonly ts: number
}

export interface AdmitInput {
  readonly deviceId: string
  readonly publicKey: string
  readonly client: ClientInfo
  readonly role: Role
  readonly scopes: ReadonlyArray<string>
  readonly commands?: ReadonlyArray<string> | undefined
  /** Direct loopback, no forwarded headers, no browser Origin. */
  readonly local: boolean
  readonly remoteIp: string
}

/** Who is deciding: the connection's device (if it has one) and its scopes. */
export interface Approver {
  readonly deviceId?: string | undefined
  readonly scopes: ReadonlyArray<string>
}

/** At most this many pairing requests wait at once; a new one pushes out the oldest. */
export const MAX_PENDING_REQUESTS = 256

const isScope = (s: string): s is Scope => (ALL_SCOPES as ReadonlyArray<string>).includes(s)

/**
 * No approver grants, rotates or revokes beyond what it holds itself: the
 * scopes of `target` it does not have (`operator.admin` has them all).
 */
const beyondApprover = (approver: Approver, target: ReadonlyArray<string>): Array<Scope> =>
  target.filter(isScope).filter((s) => !scopeSatisfies(approver.scopes, s))

const beyondScopes = (what: string, missing: ReadonlyArray<Scope>) =>
  GatewayError.of("FORBIDDEN", `missing scope: ${missing.join(", ")} (${what} holds ${missing.length > 1 ? "them" : "it"}, and an approver can only grant, rotate or revoke scopes it holds itself)`, {
    details: { code: "MISSING_SCOPE", missingScope: missing[0], requiredScopes: missing }
  })

export interface Admission {
  readonly device: PairedDevice
  /** Set when this connect issued a new device token (returned once in hello-ok). */
  readonly deviceToken?: string | undefined
}

const hashToken = (token: string) => createHash("sha256").update(token, "utf8").digest("hex")
const newToken = () => randomBytes(32).toString("base64url")
const union = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => [...new Set([...a, ...b])]
const json = (v: unknown) => JSON.stringify(v)
const parseList = (s: unknown): Array<string> => {
  try {
    const v = JSON.parse(String(s))
    return Array.isArray(v) ? v.map(String) : []
  } catch {
    return []
  }
}

const dbError = (what: string) => (e: unknown) =>
  GatewayError.unavailable(`device store: cannot ${what}: ${(e as { message?: string }).message ?? String(e)}`)

const tokenMismatch = () =>
  GatewayError.invalidRequest("unauthorized: device token mismatch (rotate/reissue device token)", {
    code: "AUTH_DEVICE_TOKEN_MISMATCH",
    authReason: "device_token_mismatch",
    canRetryWithDeviceToken: false,
    recommendedNextStep: "update_auth_credentials"
  })

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

export class Devices extends Effect.Service<Devices>()("clawgate/Devices", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const bus = yield* EventBus
    const hub = yield* ConnectionHub
    const config = yield* Config
    // One writer at a time: each decision reads, then writes.
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

    const getDevice = (deviceId: string) =>
      Effect.gen(function* () {
        const rows = yield* sql<DeviceRow>`SELECT * FROM devices WHERE device_id = ${deviceId}`
        if (rows.length === 0) return undefined
        const tokens = yield* sql<TokenRow>`SELECT * FROM device_tokens WHERE device_id = ${deviceId}`
        return toDevice(rows[0]!, tokens)
      }).pipe(Effect.mapError(dbError("read a device")))

    const pendingRequests = sql<{ request: string }>`SELECT request FROM pairing_requests ORDER BY created_at`.pipe(
      Effect.map((rows) => rows.map((r) => JSON.parse(r.request) as PairingRequest)),
      Effect.mapError(dbError("read pairing requests"))
    )

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
      client: { displayName?: string | undefined; platform?: string | undefined; deviceFamily?: string | undefined; clientId: string; clientMode: string }
      roles: ReadonlyArray<string>
      scopes: ReadonlyArray<string>
      via: "silent" | "owner"
    }) =>
      Effect.gen(function* () {
        const now = Date.now()
        yield* sql`INSERT INTO devices (device_id, public_key, display_name, platform, device_family, client_id, client_mode,
            roles, scopes, approved_via, created_at, approved_at)
          VALUES (${r.deviceId}, ${r.publicKey}, ${r.client.displayName ?? null}, ${r.client.platform ?? null},
            ${r.client.deviceFamily ?? null}, ${r.client.clientId}, ${r.client.clientMode}, ${json(r.roles)}, ${json(r.scopes)},
            ${r.via}, ${now}, ${now})
          ON CONFLICT (device_id) DO UPDATE SET roles = excluded.roles, scopes = excluded.scopes,
            approved_via = excluded.approved_via, approved_at = excluded.approved_at,
            display_name = COALESCE(excluded.display_name, devices.display_name)`
      })

    const resolved = (requestId: string, deviceId: string, decision: "approved" | "rejected") =>
      bus.publish({ event: "device.pair.resolved", payload: { requestId, deviceId, decision, ts: Date.now() } })

    const admit = (input: AdmitInput): Effect.Effect<Admission, GatewayError> =>
      serial(
        Effect.gen(function* () {
          const cfg = yield* config.current.pipe(Effect.orElseSucceed((): ClawgateConfig => ({})))
          const autoApproveLocal = cfg.gateway?.nodes?.pairing?.autoApproveLocal ?? true
          const existing = yield* getDevice(input.deviceId)
          const reason: PairingRequest["reason"] | undefined = !existing
            ? "not-paired"
            : !existing.roles.includes(input.role)
              ? "role-upgrade"
              : input.scopes.some((s) => !existing.scopes.includes(s))
                ? "scope-upgrade"
                : undefined
          let device = existing
          if (reason !== undefined) {
            // A device already paired for one role never becomes a node silently.
            const silent = input.local && autoApproveLocal && !(existing && input.role === "node" && reason === "role-upgrade")
            if (!silent) return yield* requestPairing(input, reason, existing)
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
            }).pipe(Effect.mapError(dbError("pair a device")))
            yield* Effect.logInfo(`paired device ${input.deviceId.slice(0, 12)} (${input.role}) silently: local connection`)
            device = yield* getDevice(input.deviceId)
          }
          const d = device!
          const active = d.tokens.find((t) => t.role === input.role && t.revokedAtMs === undefined)
          const deviceToken = active
            ? undefined
            : yield* issueToken(d.deviceId, input.role, d.scopes, false).pipe(Effect.mapError(dbError("issue a device token")))
          return { device: deviceToken ? ((yield* getDevice(input.deviceId)) ?? d) : d, deviceToken }
        })
      )

    const requestPairing = (input: AdmitInput, reason: PairingRequest["reason"], existing: PairedDevice | undefined) =>
      Effect.gen(function* () {
        const waiting = (yield* pendingRequests).find((r) => r.deviceId === input.deviceId)
        // A request that now asks for more (a role, a scope, a command) than the one the owner was shown is a new
        // request: a new id and a new notice, so an approval always covers only what was on the screen.
        const widens =
          waiting !== undefined &&
          (!waiting.roles.includes(input.role) ||
            input.scopes.some((s) => !waiting.scopes.includes(s)) ||
            (input.commands ?? []).some((c) => !(waiting.commands ?? []).includes(c)))
        const pending = widens ? undefined : waiting
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
          Effect.mapError(dbError("store a pairing request"))
        )
        // Each new key pair is a new request: the queue is bounded, the oldest request giving way.
        const dropped = yield* sql<{ request_id: string }>`DELETE FROM pairing_requests WHERE request_id IN (
            SELECT request_id FROM pairing_requests ORDER BY created_at DESC LIMIT -1 OFFSET ${MAX_PENDING_REQUESTS})
          RETURNING request_id`.pipe(Effect.mapError(dbError("trim pairing requests")))
        if (dropped.length > 0) {
          yield* Effect.logWarning(`pairing requests: more than ${MAX_PENDING_REQUESTS} waiting; dropped the oldest ${dropped.length}`)
        }
        if (!pending) {
          yield* bus.publish({ event: "device.pair.requested", payload: request })
          yield* Effect.logInfo(
            `pairing requested by device ${input.deviceId.slice(0, 12)} (${input.role}) from ${input.remoteIp}: clawgate devices approve ${request.requestId}`
          )
        }
        const what =
          reason === "not-paired"
            ? "device is not approved yet"
            : reason === "role-upgrade"
              ? "device is asking for a higher role than currently approved"
              : "device is asking for more scopes than currently approved"
        return yield* GatewayError.of("NOT_PAIRED", `pairing required: ${what}`, {
          details: {
            code: "PAIRING_REQUIRED",
            reason,
            requestId: request.requestId,
            remediationHint: "Approve this device from the pending pairing requests.",
            deviceId: input.deviceId,
            requestedRole: input.role,
            requestedScopes: input.scopes,
            ...(existing ? { approvedRoles: existing.roles, approvedScopes: existing.scopes } : {})
          }
        })
      })

    const verifyToken = (input: { deviceId: string; role: Role; token: string; scopes: ReadonlyArray<string> }) =>
      Effect.gen(function* () {
        const rows = yield* sql<TokenRow>`SELECT * FROM device_tokens WHERE device_id = ${input.deviceId} AND role = ${input.role}`.pipe(
          Effect.mapError(dbError("read a device token"))
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
        const device = yield* getDevice(input.deviceId)
        if (!device || !device.roles.includes(input.role)) return yield* tokenMismatch()
        return device
      })

    // Bumped whenever a device is removed or a token of it rotated or revoked. A connect in progress read the
    // epoch before its checks; if it moved before the connection was registered (and so could be closed), the
    // transport closes it as soon as it is.
    const epochs = new Map<string, number>()
    const epochOf = (deviceId: string): number => epochs.get(deviceId) ?? 0

    const closeDevice = (deviceId: string, role: string | undefined, reason: string) =>
      Effect.suspend(() => {
        epochs.set(deviceId, epochOf(deviceId) + 1)
        return hub.closeWhere((h) => h.deviceId === deviceId && (role === undefined || h.role === role), CloseCode.deviceRemoved, reason)
      })

    const list = Effect.gen(function* () {
      const rows = yield* sql<DeviceRow>`SELECT * FROM devices ORDER BY created_at`
      const tokens = yield* sql<TokenRow>`SELECT * FROM device_tokens`
      return { pending: yield* pendingRequests, paired: rows.map((r) => toDevice(r, tokens)) }
    }).pipe(Effect.mapError(dbError("list devices")))

    const findRequest = (requestId: string) =>
      Effect.gen(function* () {
        const rows = yield* sql<{ request: string }>`SELECT request FROM pairing_requests WHERE request_id = ${requestId}`.pipe(
          Effect.mapError(dbError("read a pairing request"))
        )
        if (rows.length === 0) return yield* GatewayError.invalidRequest("unknown requestId", { requestId })
        return JSON.parse(rows[0]!.request) as PairingRequest
      })

    const takeRequest = (requestId: string) =>
      Effect.gen(function* () {
        const request = yield* findRequest(requestId)
        yield* sql`DELETE FROM pairing_requests WHERE request_id = ${requestId}`.pipe(Effect.mapError(dbError("remove a pairing request")))
        return request
      })

    /** A paired device the approver may act on: it holds every scope the device holds. */
    const requireManageable = (deviceId: string, what: string, approver: Approver) =>
      Effect.gen(function* () {
        const device = yield* requireDevice(deviceId, what)
        const missing = beyondApprover(approver, device.scopes)
        if (missing.length > 0) return yield* beyondScopes("the device holds", missing)
        return device
      })

    const approve = (requestId: string, approver: Approver) =>
      serial(
        Effect.gen(function* () {
          const waiting = yield* findRequest(requestId)
          if (approver.deviceId !== undefined && approver.deviceId === waiting.deviceId) {
            return yield* GatewayError.of(
              "FORBIDDEN",
              "a device cannot approve its own pairing request: approve it from another operator device or on the Gateway host (clawgate devices approve)",
              { details: { code: "SELF_APPROVAL_FORBIDDEN", requestId } }
            )
          }
          const missing = beyondApprover(approver, waiting.scopes)
          if (missing.length > 0) return yield* beyondScopes("the request asks for", missing)
          const request = yield* takeRequest(requestId)
          const existing = yield* getDevice(request.deviceId)
          yield* upsertDevice({
            deviceId: request.deviceId,
            publicKey: request.publicKey,
            client: { ...request, clientId: request.clientId, clientMode: request.clientMode },
            roles: union(existing?.roles ?? [], request.roles),
            scopes: union(existing?.scopes ?? [], request.scopes),
            via: "owner"
          }).pipe(Effect.mapError(dbError("pair a device")))
          yield* resolved(requestId, request.deviceId, "approved")
          yield* Effect.logInfo(`approved pairing ${requestId} for device ${request.deviceId.slice(0, 12)} (${request.roles.join(",")})`)
          return { requestId, device: (yield* getDevice(request.deviceId))! }
        })
      )

    const reject = (requestId: string) =>
      serial(
        Effect.gen(function* () {
          const request = yield* takeRequest(requestId)
          yield* resolved(requestId, request.deviceId, "rejected")
          yield* Effect.logInfo(`rejected pairing ${requestId} for device ${request.deviceId.slice(0, 12)}`)
          return { requestId, deviceId: request.deviceId }
        })
      )

    const requireDevice = (deviceId: string, what: string) =>
      Effect.flatMap(getDevice(deviceId), (d) => (d ? Effect.succeed(d) : Effect.fail(GatewayError.invalidRequest(what, { deviceId }))))

    const remove = (deviceId: string, approver: Approver) =>
      serial(
        Effect.gen(function* () {
          yield* requireManageable(deviceId, "unknown deviceId", approver)
          yield* sql`DELETE FROM device_tokens WHERE device_id = ${deviceId}`.pipe(Effect.mapError(dbError("remove tokens")))
          yield* sql`DELETE FROM devices WHERE device_id = ${deviceId}`.pipe(Effect.mapError(dbError("remove a device")))
          yield* closeDevice(deviceId, undefined, "device removed")
          yield* Effect.logInfo(`removed device ${deviceId.slice(0, 12)}`)
          return { deviceId }
        })
      )

    const rotate = (deviceId: string, role: string, scopes: ReadonlyArray<string> | undefined, approver: Approver) =>
      serial(
        Effect.gen(function* () {
          const device = yield* requireManageable(deviceId, "device token rotation denied", approver)
          if (!device.roles.includes(role)) return yield* GatewayError.invalidRequest("device token rotation denied", { deviceId, role })
          const granted = scopes ?? device.scopes
          if (granted.some((s) => !device.scopes.includes(s))) {
            return yield* GatewayError.invalidRequest("device token rotation denied: scopes beyond the pairing", { deviceId, role })
          }
          const token = yield* issueToken(deviceId, role, granted, true).pipe(Effect.mapError(dbError("rotate a token")))
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
        })
      )

    const revoke = (deviceId: string, role: string, approver: Approver) =>
      serial(
        Effect.gen(function* () {
          const device = yield* requireManageable(deviceId, "device token revocation denied", approver)
          const now = Date.now()
          yield* sql`UPDATE device_tokens SET revoked_at = ${now} WHERE device_id = ${deviceId} AND role = ${role}`.pipe(
            Effect.mapError(dbError("revoke a token"))
          )
          // The role itself is withdrawn: coming back needs a new approval.
          yield* sql`UPDATE devices SET roles = ${json(device.roles.filter((r) => r !== role))} WHERE device_id = ${deviceId}`.pipe(
            Effect.mapError(dbError("revoke a role"))
          )
          yield* closeDevice(deviceId, role, "device token revoked")
          yield* Effect.logInfo(`revoked ${role} token of device ${deviceId.slice(0, 12)}`)
          return { deviceId, role, revokedAtMs: now }
        })
      )

    const touch = (deviceId: string, reason: string) =>
      sql`UPDATE devices SET last_seen_at = ${Date.now()}, last_seen_reason = ${reason} WHERE device_id = ${deviceId}`.pipe(
        Effect.asVoid,
        // Best effort: at shutdown the store may already be closed when the last node drops.
        Effect.catchAll((e) => Effect.logDebug(`device store: cannot record last seen: ${e.message}`))
      )

    return { get: getDevice, admit, verifyToken, list, approve, reject, remove, rotate, revoke, touch, epochOf }
  }),
  dependencies: [EventBus.Default, ConnectionHub.Default]
}) {}
