/**
 * `security.audit` (operator.admin): `clawgate security audit`'s findings,
 * made in the Gateway from its own config, its state dir's files and what it
 * knows about itself (where it listens, its auth mode and TLS, Tailscale, the
 * connections open now, forwarding headers it ignored): the facts the CLI asks
 * `status` for, read here without a round trip.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Effect } from "effect"
import { GatewayError } from "../../protocol/errors.js"
import { Security } from "../../protocol/methods.js"
import { securityAudit } from "../../security/audit/run.js"
import type { LiveGateway } from "../../security/audit.js"
import { ConfigStore } from "../../services/Config.js"
import { serve } from "../../services/Dispatcher.js"
import { GatewayState } from "../../services/GatewayState.js"
import { hostForUrl } from "../transport/startup.js"

export const securityMethods = Effect.gen(function* () {
  const config = yield* ConfigStore
  const state = yield* GatewayState

  /** This Gateway as `status` would describe it to the CLI's audit; fails when it does not listen (in-process use). */
  const self = Effect.gen(function* () {
    const serving = yield* state.serving
    if (serving === undefined) return yield* Effect.fail(new Error("this Gateway does not listen on a port (it runs in-process)"))
    const connections = yield* state.connections
    const primary = serving.listeners[0]
    const host = primary === undefined || primary.host === "0.0.0.0" ? "127.0.0.1" : primary.host
    return {
      url: `${serving.tls ? "wss" : "ws"}://${hostForUrl(host)}:${serving.port}`,
      urlSource: "this Gateway",
      local: true,
      bind: serving.bind,
      listeners: serving.listeners,
      authMode: serving.authMode,
      tls: serving.tls,
      tailscale: serving.tailscale ?? "off",
      connections,
      untrustedProxyHeaders: yield* state.untrustedProxyHeaders
    } satisfies LiveGateway
  })

  return [
    // `deep` is OpenClaw's flag: the live checks always run here, so it changes nothing.
    serve(Security.SecurityAudit, () =>
      securityAudit(self).pipe(
        Effect.provideService(ConfigStore, config),
        Effect.provide(NodeFileSystem.layer),
        Effect.map((report) => ({
          ts: Date.now(),
          findings: report.findings,
          summary: report.summary,
          live: report.live,
          configPath: report.configPath
        })),
        Effect.mapError((e) => GatewayError.unavailable(`security audit: ${e.message}`))
      )
    )
  ]
})
