/**
 * What a connect's admission writes, decided inside `Devices.admit`'s one
 * transaction: the device paired silently and a token issued, or its pairing
 * request stored (or refreshed) with the queue cut to `MAX_PENDING_REQUESTS`.
 * The rules are `pairingPolicy`; the statements `devicesRows`; publishing the
 * request and logging happen in DevicesSql once the transaction committed.
 */
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import type { AdmitInput, PairedDevice, PairingReason, PairingRequest } from "../../services/Devices.js"
import { pairingNeed, pairsSilently, union, widens } from "./pairingPolicy.js"
import { storage, type DevicesRows } from "./devicesRows.js"

/** What an admission's transaction decided: admitted, or a request stored and waiting. */
export type AdmitOutcome =
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

/** The body of the admission's transaction, over the store's statements. */
export const makeDecideAdmission = (rows: DevicesRows) => {
  const { readDevice, readWritten, pendingRequests, issueToken, pairPresented, putRequest, trimRequests } = rows

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
      yield* putRequest(request)
      // Each new key pair is a new request: the queue is bounded, the oldest request giving way.
      const dropped = yield* trimRequests
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
        yield* pairPresented(input, existing, existing?.approvedVia === "owner" ? "owner" : "silent")
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

  return decideAdmission
}
