/**
 * The device store (DevicesSql) on an in-memory database, and the pairing
 * policy on its own. A change that writes several rows is one transaction: a
 * failure half-way (forced by a trigger that aborts the second statement)
 * leaves the store as it was, and closes no connection.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { EventBusLive } from "../../src/layers/state/EventBusLive.js"
import { ConnectionHubLive } from "../../src/layers/state/ConnectionHubLive.js"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Queue } from "effect"
import { ConfigMemory } from "../../src/layers/ConfigMemory.js"
import { DatabaseLive } from "../../src/layers/Database.js"
import { DevicesSql } from "../../src/layers/store/DevicesSql.js"
import {
  checkApproval,
  checkManage,
  deniedOnTheWire,
  pairingNeed,
  pairsSilently,
  rotationScopes,
  widens
} from "../../src/layers/store/pairingPolicy.js"
import type { Role } from "../../src/protocol/frames.js"
import { ConnectionHub } from "../../src/services/ConnectionHub.js"
import { type AdmitInput, Devices, type PairingRequest } from "../../src/services/Devices.js"
import { EventBus } from "../../src/services/EventBus.js"

/** The store with its own database, bus and hub; `autoApproveLocal` as given. */
const storeLayer = (autoApproveLocal: boolean) =>
  DevicesSql.pipe(
    Layer.provideMerge(Layer.mergeAll(DatabaseLive(undefined), EventBusLive, ConnectionHubLive)),
    Layer.provideMerge(ConfigMemory({ gateway: { nodes: { pairing: { autoApproveLocal } } } }))
  )

const NODE = "b".repeat(64)
const ADMIN = { scopes: ["operator.admin"] }

const connect = (role: Role, overrides: Partial<AdmitInput> = {}): AdmitInput => ({
  deviceId: NODE,
  publicKey: "pk-" + NODE.slice(0, 8),
  client: { id: "node-host", version: "1.0.0", platform: "linux", mode: role === "node" ? "node" : "cli" },
  role,
  scopes: [],
  local: false,
  remoteIp: "192.0.2.10",
  ...overrides
})

/** The device asks, its request waits; returns the request's id. */
const requestPairing = (input: AdmitInput) =>
  Effect.gen(function* () {
    const devices = yield* Devices
    const error = yield* Effect.flip(devices.admit(input))
    expect(error).toMatchObject({ code: "NOT_PAIRED", details: { code: "PAIRING_REQUIRED" } })
    return (error.details as { requestId: string }).requestId
  })

/** Makes every `op` on `table` abort, as a constraint would. */
const failOn = (op: "INSERT" | "UPDATE" | "DELETE", table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe(`CREATE TRIGGER fail_${op}_${table} BEFORE ${op} ON ${table} BEGIN SELECT RAISE(ABORT, 'forced failure'); END`)
  )
const stopFailing = (op: "INSERT" | "UPDATE" | "DELETE", table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP TRIGGER fail_${op}_${table}`))

/** A live connection of the device, recording how it was closed. */
const liveConnection = (role: Role) =>
  Effect.gen(function* () {
    const hub = yield* ConnectionHub
    const closed: Array<number> = []
    yield* hub.register({
      connId: `conn-${role}`,
      role,
      deviceId: NODE,
      clientId: "node-host",
      sendEvent: () => {},
      close: (code) => void closed.push(code)
    })
    return closed
  })

/** A paired node (approved by an admin) with its token, admitted once. */
const pairedNode = Effect.gen(function* () {
  const devices = yield* Devices
  const requestId = yield* requestPairing(connect("node"))
  yield* devices.approve(requestId, ADMIN)
  const admitted = yield* devices.admit(connect("node"))
  expect(admitted.deviceToken).toBeDefined()
  return admitted.deviceToken!
})

describe("DevicesSql", () => {
  it.scoped("an approval is the device written and its request deleted, in one transaction: a failure half-way writes no device", () =>
    Effect.gen(function* () {
      const devices = yield* Devices
      const events = yield* (yield* EventBus).subscribe
      const requestId = yield* requestPairing(connect("node", { commands: ["system.run"] }))
      expect([...(yield* Queue.takeAll(events))].map((e) => e.event)).toEqual(["device.pair.requested"])

      // The device row is written first; deleting the request (the second statement) then fails.
      yield* failOn("DELETE", "pairing_requests")
      const error = yield* Effect.flip(devices.approve(requestId, ADMIN))
      expect(error.code).toBe("UNAVAILABLE")
      expect(error.message).toContain("device store: cannot remove a pairing request")
      expect(yield* devices.get(NODE)).toBeUndefined()
      const after = yield* devices.list
      expect(after.paired).toEqual([])
      expect(after.pending.map((r) => r.requestId)).toEqual([requestId])
      // Nothing was announced for the approval that did not happen.
      expect([...(yield* Queue.takeAll(events))].map((e) => e.event)).toEqual([])

      // The same approval, once the store accepts it, pairs the device and resolves the request.
      yield* stopFailing("DELETE", "pairing_requests")
      const approved = yield* devices.approve(requestId, ADMIN)
      expect(approved.device).toMatchObject({ deviceId: NODE, roles: ["node"], approvedVia: "owner" })
      expect((yield* devices.list).pending).toEqual([])
      expect([...(yield* Queue.takeAll(events))].map((e) => e.event)).toEqual(["device.pair.resolved"])
    }).pipe(Effect.provide(storeLayer(false)))
  )

  it.effect("a silent local pairing whose first token cannot be written pairs nothing", () =>
    Effect.gen(function* () {
      const devices = yield* Devices
      yield* failOn("INSERT", "device_tokens")
      const error = yield* Effect.flip(devices.admit(connect("node", { local: true, remoteIp: "127.0.0.1" })))
      expect(error.message).toContain("device store: cannot issue a device token")
      expect(yield* devices.get(NODE)).toBeUndefined()

      yield* stopFailing("INSERT", "device_tokens")
      const admitted = yield* devices.admit(connect("node", { local: true, remoteIp: "127.0.0.1" }))
      expect(admitted.device).toMatchObject({ roles: ["node"], approvedVia: "silent" })
      expect(admitted.deviceToken).toMatch(/^[A-Za-z0-9_-]{43}$/)
    }).pipe(Effect.provide(storeLayer(true)))
  )

  it.effect("a refused connect still stores its request (committed before NOT_PAIRED is answered)", () =>
    Effect.gen(function* () {
      const devices = yield* Devices
      const requestId = yield* requestPairing(connect("node"))
      // The same ask again keeps the id; one that asks for more is a new request.
      expect(yield* requestPairing(connect("node"))).toBe(requestId)
      const wider = yield* requestPairing(connect("node", { commands: ["system.run"] }))
      expect(wider).not.toBe(requestId)
      expect((yield* devices.list).pending.map((r) => r.requestId)).toEqual([wider])
    }).pipe(Effect.provide(storeLayer(false)))
  )

  it.effect("a revocation that fails half-way keeps the token and the role, and closes nothing", () =>
    Effect.gen(function* () {
      const devices = yield* Devices
      const token = yield* pairedNode
      const closed = yield* liveConnection("node")
      const epoch = devices.epochOf(NODE)

      // The token is revoked first; withdrawing the role (the second statement) then fails.
      yield* failOn("UPDATE", "devices")
      const error = yield* Effect.flip(devices.revoke(NODE, "node", ADMIN))
      expect(error.message).toContain("device store: cannot revoke a role")
      const device = (yield* devices.get(NODE))!
      expect(device.roles).toEqual(["node"])
      expect(device.tokens.map((t) => t.revokedAtMs)).toEqual([undefined])
      expect(yield* devices.verifyToken({ deviceId: NODE, role: "node", token, scopes: [] })).toMatchObject({ deviceId: NODE })
      expect(closed).toEqual([])
      expect(devices.epochOf(NODE)).toBe(epoch)

      yield* stopFailing("UPDATE", "devices")
      yield* devices.revoke(NODE, "node", ADMIN)
      expect((yield* devices.get(NODE))!.roles).toEqual([])
      expect(yield* Effect.flip(devices.verifyToken({ deviceId: NODE, role: "node", token, scopes: [] }))).toMatchObject({
        details: { code: "AUTH_DEVICE_TOKEN_MISMATCH" }
      })
      expect(closed).toEqual([4001])
      expect(devices.epochOf(NODE)).toBe(epoch + 1)
    }).pipe(Effect.provide(storeLayer(false)))
  )

  it.effect("a removal that fails half-way keeps the device's tokens", () =>
    Effect.gen(function* () {
      const devices = yield* Devices
      const token = yield* pairedNode
      const closed = yield* liveConnection("node")

      // The tokens are deleted first; deleting the device (the second statement) then fails.
      yield* failOn("DELETE", "devices")
      const error = yield* Effect.flip(devices.remove(NODE, ADMIN))
      expect(error.message).toContain("device store: cannot remove a device")
      expect(yield* devices.verifyToken({ deviceId: NODE, role: "node", token, scopes: [] })).toMatchObject({ deviceId: NODE })
      expect(closed).toEqual([])

      yield* stopFailing("DELETE", "devices")
      yield* devices.remove(NODE, ADMIN)
      expect(yield* devices.get(NODE)).toBeUndefined()
      expect(closed).toEqual([4001])
    }).pipe(Effect.provide(storeLayer(false)))
  )

  it.effect("a rotation replaces the token and closes the role's connections; a refused one changes nothing", () =>
    Effect.gen(function* () {
      const devices = yield* Devices
      const token = yield* pairedNode
      const closed = yield* liveConnection("node")

      const refused = yield* Effect.flip(devices.rotate(NODE, "node", ["operator.read"], ADMIN))
      expect(refused).toMatchObject({ code: "INVALID_REQUEST", message: "device token rotation denied: scopes beyond the pairing" })
      expect(yield* devices.verifyToken({ deviceId: NODE, role: "node", token, scopes: [] })).toMatchObject({ deviceId: NODE })
      expect(closed).toEqual([])

      const rotated = yield* devices.rotate(NODE, "node", undefined, ADMIN)
      // Another device asked: the new token is not handed to it.
      expect(rotated).toMatchObject({ deviceId: NODE, role: "node", tokenDelivery: "withheld-cross-device" })
      expect(rotated.token).toBeUndefined()
      expect(yield* Effect.flip(devices.verifyToken({ deviceId: NODE, role: "node", token, scopes: [] }))).toMatchObject({
        details: { code: "AUTH_DEVICE_TOKEN_MISMATCH" }
      })
      expect(closed).toEqual([4001])
    }).pipe(Effect.provide(storeLayer(false)))
  )

  it.effect("approvals and removals follow the policy, with the wire's codes", () =>
    Effect.gen(function* () {
      const devices = yield* Devices
      const requestId = yield* requestPairing(connect("operator", { scopes: ["operator.admin"] }))
      const self = yield* Effect.flip(devices.approve(requestId, { deviceId: NODE, scopes: ["operator.admin"] }))
      expect(self).toMatchObject({ code: "FORBIDDEN", details: { code: "SELF_APPROVAL_FORBIDDEN", requestId } })
      const weaker = yield* Effect.flip(devices.approve(requestId, { scopes: ["operator.pairing"] }))
      expect(weaker).toMatchObject({ code: "FORBIDDEN", details: { code: "MISSING_SCOPE", missingScope: "operator.admin" } })
      expect(yield* devices.get(NODE)).toBeUndefined()

      yield* devices.approve(requestId, ADMIN)
      const remove = yield* Effect.flip(devices.remove(NODE, { scopes: ["operator.pairing"] }))
      expect(remove).toMatchObject({ code: "FORBIDDEN", details: { code: "MISSING_SCOPE", requiredScopes: ["operator.admin"] } })
      expect(yield* devices.get(NODE)).toMatchObject({ scopes: ["operator.admin"] })
      expect(yield* Effect.flip(devices.approve("no-such-request", ADMIN))).toMatchObject({
        code: "INVALID_REQUEST",
        message: "unknown requestId"
      })
    }).pipe(Effect.provide(storeLayer(false)))
  )
})

describe("pairingPolicy", () => {
  const request = (scopes: ReadonlyArray<string>, extra: Partial<PairingRequest> = {}): PairingRequest => ({
    requestId: "r1",
    deviceId: NODE,
    publicKey: "pk",
    clientId: "cli",
    clientMode: "cli",
    role: "operator",
    roles: ["operator"],
    scopes,
    reason: "not-paired",
    silent: false,
    isRepair: false,
    ts: 0,
    ...extra
  })

  it("a device never approves its own request, even as admin", () => {
    const denied = checkApproval({ deviceId: NODE, scopes: ["operator.admin"] }, request([]))
    expect(Either.isLeft(denied) && denied.left.reason).toBe("SelfApproval")
    expect(Either.isRight(checkApproval({ deviceId: "c".repeat(64), scopes: ["operator.admin"] }, request([])))).toBe(true)
  })

  it("an approver grants only scopes it holds; operator.admin holds them all, operator.write covers operator.read", () => {
    const denied = checkApproval({ scopes: ["operator.pairing"] }, request(["operator.pairing", "operator.admin", "operator.write"]))
    expect(Either.isLeft(denied) && [denied.left.reason, denied.left.missing]).toEqual([
      "BeyondScopes",
      ["operator.admin", "operator.write"]
    ])
    expect(Either.isLeft(denied) && denied.left.message).toContain("missing scope: operator.admin, operator.write")
    expect(Either.isRight(checkApproval({ scopes: ["operator.admin"] }, request(["operator.admin", "operator.approvals"])))).toBe(true)
    expect(Either.isRight(checkApproval({ scopes: ["operator.write"] }, request(["operator.read"])))).toBe(true)
  })

  it("touching a device that holds operator.admin needs operator.admin", () => {
    const adminDevice = { roles: ["operator"], scopes: ["operator.admin"] }
    const denied = checkManage({ scopes: ["operator.pairing", "operator.write"] }, adminDevice)
    expect(Either.isLeft(denied) && denied.left.missing).toEqual(["operator.admin"])
    expect(Either.isRight(checkManage({ scopes: ["operator.admin"] }, adminDevice))).toBe(true)
    expect(Either.isRight(checkManage({ scopes: ["operator.pairing"] }, { roles: ["node"], scopes: [] }))).toBe(true)
  })

  it("what a connect needs approved", () => {
    const paired = { roles: ["operator"], scopes: ["operator.read"] }
    expect(pairingNeed(undefined, { role: "node", scopes: [] })).toBe("not-paired")
    expect(pairingNeed(paired, { role: "node", scopes: [] })).toBe("role-upgrade")
    expect(pairingNeed(paired, { role: "operator", scopes: ["operator.write"] })).toBe("scope-upgrade")
    expect(pairingNeed(paired, { role: "operator", scopes: ["operator.read"] })).toBeUndefined()
  })

  it("only a local connect pairs silently, and an operator device never becomes a node silently", () => {
    const base = { local: true, autoApproveLocal: true, existing: undefined, role: "node", reason: "not-paired" } as const
    expect(pairsSilently(base)).toBe(true)
    expect(pairsSilently({ ...base, local: false })).toBe(false)
    expect(pairsSilently({ ...base, autoApproveLocal: false })).toBe(false)
    expect(pairsSilently({ ...base, existing: { roles: ["operator"], scopes: [] }, reason: "role-upgrade" })).toBe(false)
    expect(pairsSilently({ ...base, role: "operator", existing: { roles: ["node"], scopes: [] }, reason: "role-upgrade" })).toBe(true)
  })

  it("a request that asks for more than the one waiting is a new one", () => {
    const waiting = request(["operator.read"], { roles: ["node"], commands: ["system.info"] })
    expect(widens(waiting, { role: "node", scopes: ["operator.read"], commands: ["system.info"] })).toBe(false)
    expect(widens(waiting, { role: "node", scopes: [], commands: ["system.run"] })).toBe(true)
    expect(widens(waiting, { role: "node", scopes: ["operator.write"] })).toBe(true)
    expect(widens(waiting, { role: "operator", scopes: [] })).toBe(true)
  })

  it("a rotated token stays within the pairing, for a paired role", () => {
    const device = { roles: ["operator"], scopes: ["operator.read", "operator.write"] }
    expect(rotationScopes(device, "operator", undefined)).toEqual(Either.right(["operator.read", "operator.write"]))
    expect(rotationScopes(device, "operator", ["operator.read"])).toEqual(Either.right(["operator.read"]))
    const beyond = rotationScopes(device, "operator", ["operator.admin"])
    expect(Either.isLeft(beyond) && beyond.left.reason).toBe("ScopesBeyondPairing")
    const role = rotationScopes(device, "node", undefined)
    expect(Either.isLeft(role) && deniedOnTheWire(role.left, { deviceId: NODE, role: "node" })).toMatchObject({
      code: "INVALID_REQUEST",
      message: "device token rotation denied",
      details: { deviceId: NODE, role: "node" }
    })
  })
})
