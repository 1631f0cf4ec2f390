/**
 * Admission without a socket, for unit tests: the real Auth, the real device
 * store (an in-memory SQLite) and the real dashboard-code store, fed connect
 * params, the peer's address facts and the nonce directly.
 */
import { randomUUID } from "node:crypto"
import { Effect, Layer } from "effect"
import { AdmissionLive } from "../../src/layers/admission/AdmissionLive.js"
import { BootstrapCodesMemory } from "../../src/layers/admission/BootstrapCodesMemory.js"
import { AuthLive } from "../../src/layers/AuthLive.js"
import { ConfigMemory } from "../../src/layers/ConfigMemory.js"
import { DatabaseLive } from "../../src/layers/Database.js"
import { ConnectionHubLive } from "../../src/layers/state/ConnectionHubLive.js"
import { EventBusLive } from "../../src/layers/state/EventBusLive.js"
import { DevicesSql } from "../../src/layers/store/DevicesSql.js"
import { TailscaleTest, type TailscaleTestCalls } from "../../src/layers/TailscaleTest.js"
import { GatewayError } from "../../src/protocol/errors.js"
import { decodeConnectParams } from "../../src/protocol/frames.js"
import { Admission, type PeerFacts } from "../../src/services/Admission.js"
import { GatewayLog } from "../../src/services/GatewayLog.js"
import { signed, type TestDevice } from "./device.js"

export const ADMISSION_TOKEN = "admission-token-0123456789"

export const NoLog = Layer.succeed(GatewayLog, {
  file: "(none)",
  tail: () => Effect.fail(GatewayError.unavailable("no log")),
  addSecret: () => Effect.void
})

/**
 * Admission on AuthLive, DevicesSql and BootstrapCodesMemory, with one config, one in-memory database and a
 * scripted Tailscale; the stores (Devices, BootstrapCodes) and the EventBus are in the context too.
 */
export const admissionLayer = (
  config: Record<string, unknown> = { gateway: { auth: { token: ADMISSION_TOKEN } } },
  tailscale: { logins?: Record<string, string | null>; record?: TailscaleTestCalls } = {}
) =>
  AdmissionLive.pipe(
    Layer.provideMerge(AuthLive().pipe(Layer.provide(Layer.mergeAll(NoLog, TailscaleTest(tailscale.logins, tailscale.record))))),
    Layer.provideMerge(DevicesSql.pipe(Layer.provide(Layer.mergeAll(DatabaseLive(undefined), ConnectionHubLive)))),
    Layer.provideMerge(Layer.merge(EventBusLive, BootstrapCodesMemory())),
    Layer.provideMerge(ConfigMemory(config))
  )

export const REMOTE: PeerFacts = {
  ip: "203.0.113.7",
  isLoopback: false,
  forwarded: false,
  hasOrigin: false,
  local: false,
  tailscale: undefined
}
export const LOCAL: PeerFacts = { ip: "127.0.0.1", isLoopback: true, forwarded: false, hasOrigin: false, local: true, tailscale: undefined }

export const operator = (auth: Record<string, string> | undefined, scopes: ReadonlyArray<string> = ["operator.read"]) => ({
  minProtocol: 4,
  maxProtocol: 4,
  client: { id: "cli", version: "1.0.0", platform: "linux", mode: "cli" },
  role: "operator",
  scopes,
  ...(auth ? { auth } : {})
})

/** Decodes the params as the transport does, then admits them with `nonce`. */
export const admit = (raw: Record<string, unknown>, peer: PeerFacts, nonce: string = randomUUID()) =>
  Effect.gen(function* () {
    const decoded = decodeConnectParams(raw)
    if (decoded._tag === "Left") return yield* Effect.dieMessage(`bad test params: ${JSON.stringify(decoded.left)}`)
    const admission = yield* Admission
    return yield* admission.admit({ params: decoded.right, peer, nonce })
  })

/** A device's signed connect, admitted. */
export const admitDevice = (device: TestDevice, raw: Record<string, unknown>, peer: PeerFacts) => {
  const nonce = randomUUID()
  return admit(signed(device, raw, nonce), peer, nonce)
}
