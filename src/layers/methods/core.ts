/**
 * The Gateway's own methods: `health`, `status`, `system-presence`,
 * `config.get`, `logs.tail`. Each depends only on service tags.
 */
import * as os from "node:os"
import { Effect, Either, Option } from "effect"
import { configHash } from "../../config/hash.js"
import { redact, type ClawgateConfig } from "../../config/schema.js"
import { Core } from "../../protocol/methods.js"
import { AgentRunner } from "../../services/AgentRunner.js"
import { Auth } from "../../services/Auth.js"
import { Channels } from "../../services/Channels.js"
import { ConfigStore } from "../../services/Config.js"
import { serve } from "../../services/Dispatcher.js"
import { GatewayLog } from "../../services/GatewayLog.js"
import { GatewayState } from "../../services/GatewayState.js"
import { Health } from "../../services/Health.js"
import { Presence } from "../../services/Presence.js"
import { SESSION_DEFAULTS } from "../../services/Sessions.js"
import { Vitals } from "../../services/Vitals.js"
import { databasePath } from "../Database.js"
import { channelSummary } from "./channels.js"

export const coreMethods = Effect.gen(function* () {
  const health = yield* Health
  const presence = yield* Presence
  const state = yield* GatewayState
  const config = yield* ConfigStore
  const log = yield* GatewayLog
  const auth = yield* Auth
  const channels = yield* Channels
  const vitals = yield* Vitals
  const runner = yield* Effect.serviceOption(AgentRunner)
  const sessionsPath = databasePath(config.paths.stateDir)

  return [
    // OpenClaw's live probe: `{probe: true}` takes a snapshot now (the store, each channel's service).
    serve(Core.Health, (p) => (p.probe === true ? health.probe : health.snapshot)),

    serve(Core.Status, () =>
      Effect.gen(function* () {
        const serving = yield* state.serving
        const connections = yield* state.connections
        const entries = yield* presence.list
        // Counts from the store now (one aggregate read), without asking any channel's service.
        const snapshot = yield* health.fresh
        const cfg = yield* config.current.pipe(Effect.orElseSucceed((): ClawgateConfig => ({})))
        const authMode = yield* auth.resolved.pipe(
          Effect.map((r) => r.mode),
          Effect.orElseSucceed(() => "unknown")
        )
        return {
          ts: Date.now(),
          version: state.version,
          host: os.hostname(),
          platform: process.platform,
          uptimeMs: yield* state.uptimeMs,
          gateway: {
            mode: cfg.gateway?.mode ?? "local",
            bind: serving?.bind ?? cfg.gateway?.bind ?? "loopback",
            port: serving?.port ?? null,
            listeners: serving?.listeners ?? [],
            authMode,
            tls: serving?.tls ?? cfg.gateway?.tls?.enabled === true,
            tlsFingerprint: serving?.tlsFingerprint ?? null,
            tailscale: serving?.tailscale ?? cfg.gateway?.tailscale?.mode ?? "off",
            profile: config.paths.profile ?? null
          },
          connections,
          presence: { count: entries.length, version: yield* presence.version },
          // The fields OpenClaw's CLI reads from `status` (its `status` command maps over them).
          runtimeVersion: state.version,
          heartbeat: { defaultAgentId: SESSION_DEFAULTS.defaultAgentId, agents: [] },
          channelSummary: channelSummary(yield* channels.status),
          queuedSystemEvents: [],
          sessions: {
            count: snapshot.sessions.count,
            paths: [sessionsPath],
            defaults: SESSION_DEFAULTS,
            recent: snapshot.sessions.recent,
            byAgent: snapshot.agents.map((a) => ({
              agentId: a.agentId,
              path: sessionsPath,
              count: a.sessions.count,
              recent: a.sessions.recent
            })),
            asOf: snapshot.ts
          },
          health: { version: yield* health.version, ts: snapshot.ts },
          // The Gateway's own vital signs (clawgate extension, read by `status`, `security audit` and the Control UI).
          vitals: {
            ...(yield* vitals.read),
            connections,
            requestsInFlight: yield* state.requestsInFlight,
            agent: Option.isSome(runner) ? yield* runner.value.activity : { runs: 0, sessions: 0 }
          },
          // clawgate extension, read by `clawgate security audit`.
          security: { untrustedProxyHeaders: yield* state.untrustedProxyHeaders }
        }
      })
    ),

    serve(Core.SystemPresence, () => presence.list),

    serve(Core.ConfigGet, () =>
      Effect.gen(function* () {
        const file = yield* config.load.pipe(Effect.either)
        if (Either.isLeft(file)) {
          return {
            path: config.paths.configPath,
            exists: true,
            valid: false,
            issues: file.left.issues ?? [{ path: "(file)", message: file.left.message }],
            config: null
          }
        }
        return {
          path: config.paths.configPath,
          exists: file.right.exists,
          valid: true,
          hash: configHash(file.right.raw),
          config: redact(file.right.raw)
        }
      })
    ),

    serve(Core.LogsTail, log.tail)
  ]
})
