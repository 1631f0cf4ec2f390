/**
 * `clawgate security audit`: gathers the facts (the config file, the modes of
 * the files that hold secrets, the environment's credentials, and what the
 * Gateway it can reach says in `status`), then applies the rules of
 * security/audit.ts. The live part is optional: with no Gateway answering,
 * the audit runs on the config and the files alone and says so.
 */
import { Effect } from "effect"
import type { LiveGateway } from "../security/audit.js"
import { Core } from "../protocol/methods.js"
import { GatewayClient } from "../services/GatewayClient.js"

// The audit itself (gathering the files' facts, applying the rules) is shared with the Gateway's security.audit.
export { securityAudit, type AuditReport } from "../security/audit/run.js"

/** What the reachable Gateway says about itself. Needs `operator.read` (for `status`). */
export const liveFacts = Effect.gen(function* () {
  const client = yield* GatewayClient
  yield* client.connect
  const st = yield* client.call(Core.Status)
  const gw = st.gateway
  const c = st.vitals?.connections
  return {
    url: client.target.url,
    urlSource: client.target.urlSource,
    local: client.target.mode === "local",
    bind: gw?.bind,
    listeners: gw?.listeners,
    authMode: gw?.authMode,
    tls: gw?.tls,
    tailscale: gw?.tailscale,
    connections: c ? { operators: c.operators, nodes: c.nodes, pending: c.pending ?? 0 } : undefined,
    untrustedProxyHeaders: st.security?.untrustedProxyHeaders
  } satisfies LiveGateway
})
