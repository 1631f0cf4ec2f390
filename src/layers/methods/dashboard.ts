/**
 * device.bootstrap.issue: the one-time code of a `clawgate dashboard` link.
 * The code grants the scopes asked for (default: the caller's own) narrowed
 * to what the caller holds, so no one hands out more than they have; it is
 * consumed by the connect that presents it (AdmissionLive). The code itself
 * is never logged, only who asked and what it grants.
 */
import { Effect } from "effect"
import { printable } from "../../protocol/codec.js"
import { GatewayError } from "../../protocol/errors.js"
import { ALL_SCOPES } from "../../protocol/frames.js"
import { Pairing, scopeSatisfies } from "../../protocol/methods.js"
import { normalizeBasePath } from "../../config/basePath.js"
import type { ClawgateConfig } from "../../config/schema.js"
import { BootstrapCodes } from "../../services/BootstrapCodes.js"
import { ConfigStore } from "../../services/Config.js"
import { serve } from "../../services/Dispatcher.js"

/** `gateway.controlUi.basePath` as a link ends in it: "/" (the default), or "/ui/" for "/ui" (as the UI is served). */
export const controlUiBasePath = (cfg: ClawgateConfig): string => normalizeBasePath(cfg.gateway?.controlUi?.basePath)

export const dashboardMethods = Effect.gen(function* () {
  const codes = yield* BootstrapCodes
  const config = yield* ConfigStore

  return [
    serve(Pairing.DeviceBootstrapIssue, (p, ctx) =>
      Effect.gen(function* () {
        const held = ctx.role === "operator" ? ctx.scopes : []
        const asked = p.scopes ?? held
        const scopes = ALL_SCOPES.filter((s) => asked.includes(s) && scopeSatisfies(held, s))
        if (scopes.length === 0) {
          return yield* GatewayError.invalidRequest(
            `a dashboard code must grant at least one scope this connection holds (asked for ${printable(asked.join(","), 200) || "none"}; it holds ${held.join(",") || "none"})`,
            { code: "MISSING_SCOPE", requestedScopes: asked.slice(0, 16), heldScopes: held }
          )
        }
        const label = p.label === undefined ? undefined : printable(p.label, 128)
        const issued = yield* codes.issue({ scopes, label })
        const cfg = yield* config.current.pipe(Effect.orElseSucceed((): ClawgateConfig => ({})))
        yield* Effect.logInfo(
          `issued a dashboard code${label ? ` (${label})` : ""} for ${ctx.clientIp ?? "an in-process caller"}: ` +
            `scopes ${scopes.join(",")}, valid until ${new Date(issued.expiresAtMs).toISOString()}`
        )
        return { token: issued.token, expiresAtMs: issued.expiresAtMs, scopes: issued.scopes, basePath: controlUiBasePath(cfg) }
      })
    )
  ]
})
