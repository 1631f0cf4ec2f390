/**
 * GatewayState: facts about this running Gateway that several services report
 * (start time, where it listens, how many connections it has).
 */
import { Effect, Ref } from "effect"
import type { BindMode } from "../config/schema.js"
import { VERSION } from "../version.js"

export interface Listener {
  readonly host: string
  readonly port: number
}

export interface ServingInfo {
  readonly bind: BindMode
  readonly port: number
  readonly listeners: ReadonlyArray<Listener>
  readonly authMode: string
}

export class GatewayState extends Effect.Service<GatewayState>()("clawgate/GatewayState", {
  effect: Effect.gen(function* () {
    const startedAt = Date.now()
    const serving = yield* Ref.make<ServingInfo | undefined>(undefined)
    const connections = yield* Ref.make({ operators: 0, nodes: 0, pending: 0 })
    return {
      version: VERSION,
      startedAt,
      uptimeMs: Effect.sync(() => Date.now() - startedAt),
      serving: Ref.get(serving),
      setServing: (info: ServingInfo) => Ref.set(serving, info),
      connections: Ref.get(connections),
      countConnection: (kind: "operators" | "nodes" | "pending", delta: number) =>
        Ref.update(connections, (c) => ({ ...c, [kind]: c[kind] + delta }))
    }
  })
}) {}
