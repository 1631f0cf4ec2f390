/**
 * The audit's rules about exposure and binding: who can reach the Gateway
 * (loopback, tailnet, network, Tailscale Funnel's public internet) against
 * what it asks of them (a credential, TLS), and what browsers and proxies in
 * front of it are allowed (origins, X-Real-IP). Config and the local
 * Gateway's own account only; what it has seen is in live.ts.
 */
import type { ClawgateConfig } from "../../config/schema.js"
import { setToken, type Surface } from "./surface.js"
import type { Finding } from "./types.js"

/** A bind or a Tailscale publication with no credential in front of it, or auth switched off on loopback. */
export const accessFindings = (s: Surface): Array<Finding> => {
  const { auth, authMode, tailscaleMode, whereText } = s
  if (s.beyondLoopback && !s.hasCredential) {
    return [
      {
        id: "gateway.bind_no_auth",
        severity: "critical",
        title: "The Gateway is bound beyond loopback without authentication",
        detail:
          (authMode === "none"
            ? `It is set to listen on ${whereText} with gateway.auth.mode "none": anyone who can reach the port could connect.`
            : `It is set to listen on ${whereText}, but no ${auth.mode} is set (gateway.auth.${auth.mode}, ${auth.mode === "token" ? "CLAWGATE_GATEWAY_TOKEN" : "CLAWGATE_GATEWAY_PASSWORD"}).`) +
          " clawgate refuses to start like this, but the same config on another Gateway, or a credential removed later, leaves the port open.",
        fix: `${authMode === "none" ? "clawgate config unset gateway.auth.mode && " : ""}${setToken}, or keep the default loopback bind: clawgate config set gateway.bind loopback`
      }
    ]
  }
  if (!s.beyondLoopback && tailscaleMode !== "off" && authMode === "none") {
    return [
      {
        id: "gateway.tailscale_no_auth",
        severity: "critical",
        title: `Tailscale ${tailscaleMode === "funnel" ? "Funnel" : "Serve"} publishes a Gateway that has no authentication`,
        detail: `gateway.tailscale.mode is "${tailscaleMode}" and gateway.auth.mode is "none": everyone ${tailscaleMode === "funnel" ? "on the internet" : "on your tailnet"} reaches the Gateway through Tailscale without a credential.`,
        fix: `clawgate config unset gateway.auth.mode, then ${setToken}`
      }
    ]
  }
  if (!s.exposed && authMode === "none") {
    return [
      {
        id: "gateway.loopback_no_auth",
        severity: "warn",
        title: 'Authentication is off (gateway.auth.mode "none")',
        detail:
          "The Gateway listens on loopback only, but every local user and process (and any local proxy that forwards to it) can control it without a credential.",
        fix: "clawgate config unset gateway.auth.mode (a token is generated on the next start)"
      }
    ]
  }
  return []
}

/** Tailscale Funnel (the public internet) and Serve (the tailnet). */
export const tailscaleFindings = (s: Surface): Array<Finding> => {
  const { auth, tailscaleMode } = s
  if (tailscaleMode === "funnel") {
    const hasPassword = auth.mode === "password" && auth.password !== undefined
    return [
      {
        id: "gateway.tailscale_funnel",
        severity: hasPassword ? "warn" : "critical",
        title: hasPassword
          ? "Tailscale Funnel publishes the Gateway on the public internet"
          : "Tailscale Funnel without password authentication",
        detail: hasPassword
          ? 'gateway.tailscale.mode is "funnel": anyone on the internet can reach the Gateway\'s port and try the password. It is protected by the password and device pairing only.'
          : `gateway.tailscale.mode is "funnel" (the public internet) and gateway.auth.mode is "${auth.mode}". Funnel needs password authentication: the Gateway refuses to start Funnel without it, as OpenClaw's does.`,
        fix: hasPassword
          ? "Prefer Serve (tailnet only): clawgate config set gateway.tailscale.mode serve"
          : 'clawgate config set gateway.tailscale.mode serve (tailnet only), or set a long password: clawgate config set gateway.auth.mode password gateway.auth.password "$(openssl rand -base64 24)"'
      }
    ]
  }
  if (tailscaleMode === "serve") {
    return [
      {
        id: "gateway.tailscale_serve",
        severity: "info",
        title: "Tailscale Serve publishes the Gateway on your tailnet",
        detail: s.allowTailscale
          ? "The Gateway stays on loopback; Tailscale proxies https://<machine>.<tailnet>.ts.net to it. gateway.auth.allowTailscale is true: a verified Tailscale identity replaces the token, so whoever your tailnet ACLs let reach this machine can connect (a new device still needs pairing). Anyone who can run programs on this host can send the same headers from loopback: keep it off on a shared host."
          : "The Gateway stays on loopback; Tailscale proxies https://<machine>.<tailnet>.ts.net to it. Clients still need the token.",
        fix: ""
      }
    ]
  }
  return []
}

/** A bind beyond loopback over plain ws://. */
export const tlsFindings = (s: Surface): Array<Finding> => {
  const tls = s.localLive?.tls ?? s.gw.tls?.enabled === true
  if (!s.beyondLoopback || tls) return []
  const tailnetBind = s.tailnetOnly
  return [
    {
      id: "gateway.bind_no_tls",
      severity: !s.hasCredential ? "critical" : tailnetBind ? "info" : "warn",
      title: "The Gateway is bound beyond loopback without TLS",
      detail: tailnetBind
        ? `It listens on ${s.whereText} over plain ws://. Tailscale encrypts tailnet traffic, but clients cannot pin the Gateway's certificate and must pass --allow-insecure.`
        : `It listens on ${s.whereText} over plain ws://: the credential and every message cross the network unencrypted, and clients must pass --allow-insecure.`,
      fix: "clawgate config set gateway.tls.enabled true, restart the Gateway, and pin `clawgate gateway tls fingerprint` on clients; or bind to loopback and use an SSH tunnel or Tailscale Serve"
    }
  ]
}

/** Origins a browser page may open a WebSocket from, and the X-Real-IP fallback. */
export const browserAndProxyFindings = (gw: NonNullable<ClawgateConfig["gateway"]>, exposed: boolean): Array<Finding> => {
  const findings: Array<Finding> = []
  const origins = gw.controlUi?.allowedOrigins ?? []
  if (origins.includes("*")) {
    findings.push({
      id: "gateway.control_ui.allowed_origins_wildcard",
      severity: "warn",
      title: 'gateway.controlUi.allowedOrigins contains "*"',
      detail:
        '"*" means "any web page" to OpenClaw, which would let any site you visit open a WebSocket to the Gateway. clawgate matches origins exactly, so here it allows nothing, but the same config on an OpenClaw Gateway would.',
      fix: "List the origins you use instead: clawgate config set gateway.controlUi.allowedOrigins '[\"https://app.example\"]'"
    })
  }
  if (origins.includes("null")) {
    findings.push({
      id: "gateway.control_ui.allowed_origins_null",
      severity: "warn",
      title: 'gateway.controlUi.allowedOrigins contains "null"',
      detail:
        "Browsers send Origin: null from sandboxed iframes, file:// pages and some redirects, so any web page can produce it: listing it lets any site you visit open a WebSocket to the Gateway.",
      fix: 'Remove "null" and list real origins: clawgate config set gateway.controlUi.allowedOrigins \'["https://app.example"]\''
    })
  }
  if (gw.allowRealIpFallback === true) {
    findings.push({
      id: "gateway.real_ip_fallback_enabled",
      severity: exposed ? "warn" : "info",
      title: "X-Real-IP is trusted when X-Forwarded-For is absent",
      detail:
        "With gateway.allowRealIpFallback, a proxy in gateway.trustedProxies that passes a client's own X-Real-IP through lets that client choose the address it is rate-limited and logged as.",
      fix: "clawgate config unset gateway.allowRealIpFallback, unless your proxy overwrites X-Real-IP on every request"
    })
  }
  return findings
}
