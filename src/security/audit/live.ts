/**
 * The audit's rules about live facts: what the running Gateway has seen
 * (forwarding headers from peers that are not trusted proxies, a crowd of
 * connections that have not logged in), how a remote Gateway says it listens,
 * and a note when no Gateway answered and these checks could not run.
 */
import { isLoopbackAddress, isTailnetIPv4 } from "../../config/bind.js"
import type { Surface } from "./surface.js"
import type { AuditFacts, Finding } from "./types.js"

/** What the reachable Gateway (local or not) has seen since it started. */
export const trafficFindings = (s: Surface): Array<Finding> => {
  const findings: Array<Finding> = []
  const { gw, live } = s
  const untrusted = live?.untrustedProxyHeaders
  if (untrusted && untrusted.count > 0) {
    const proxies = live?.local ? (gw.trustedProxies ?? []) : undefined
    const from = untrusted.lastFrom ?? "an unknown address"
    findings.push({
      id: "gateway.untrusted_proxy_headers",
      severity: "warn",
      title: "The Gateway received forwarding headers from a peer that is not a trusted proxy",
      detail:
        `${untrusted.count} connection${untrusted.count === 1 ? "" : "s"} since it started carried X-Forwarded-For, X-Real-IP or Forwarded from an address not in gateway.trustedProxies, ` +
        `the last from ${from}${untrusted.lastAt !== null ? ` at ${new Date(untrusted.lastAt).toISOString()}` : ""}` +
        `${proxies === undefined ? "" : proxies.length === 0 ? " (gateway.trustedProxies is empty)" : ` (gateway.trustedProxies is ${JSON.stringify(proxies)})`}. ` +
        "The headers were ignored and those clients were treated as remote: if a reverse proxy (nginx, Caddy, Tailscale Serve) sends them, clients behind it lose loopback treatment and share one rate-limit bucket; if not, someone is sending forged headers.",
      fix:
        `${live?.local ? "" : "On the Gateway host: "}if ${from} is your reverse proxy, ` +
        `clawgate config set gateway.trustedProxies '${JSON.stringify([...(proxies ?? []), from])}'; otherwise find out who connects from ${from}.`
    })
  }

  const conns = live?.connections
  const budget = live?.unauthenticatedTotal ?? gw.limits?.unauthenticatedTotal ?? 1024
  // A crowd of connections that have not logged in is what a flood looks like while it happens.
  if (conns && conns.pending >= budget / 2) {
    findings.push({
      id: "gateway.unauthenticated_flood",
      severity: "warn",
      title: "Many connections are open that have not logged in",
      detail:
        `live: ${conns.pending} connections have not logged in (the budget is ${budget} in all, gateway.limits.unauthenticatedTotal), ` +
        `beside ${conns.operators} operator${conns.operators === 1 ? "" : "s"} and ${conns.nodes} node${conns.nodes === 1 ? "" : "s"}: ` +
        "someone may be holding connections open to exhaust it; past the budget the Gateway refuses new ones (loopback keeps 64 more).",
      fix: "clawgate status --deep shows the counts; the Gateway's log names the addresses it refused"
    })
  }
  return findings
}

/** No Gateway answered (the live checks were skipped), or a remote one listens beyond loopback without auth or TLS. */
export const reachFindings = (facts: AuditFacts): Array<Finding> => {
  const findings: Array<Finding> = []
  if (!facts.live.reachable) {
    findings.push({
      id: "gateway.live_skipped",
      severity: "info",
      title: "Live checks were skipped: the Gateway did not answer status",
      detail: `${facts.live.url && !facts.live.reason.includes(facts.live.url) ? `${facts.live.url}: ` : ""}${facts.live.reason.replace(/[.\s]+$/, "")}. The findings above come from the config and the files only; the Gateway's actual bind, TLS and the forwarding headers it has seen were not checked.`,
      fix: "Start the Gateway (clawgate gateway run) or point the CLI at it, then run clawgate security audit again."
    })
  } else if (!facts.live.local) {
    const r = facts.live
    const remoteHosts = r.listeners?.map((l) => l.host) ?? []
    const remoteBeyond = remoteHosts.some((h) => !isLoopbackAddress(h))
    const remoteTailnet = remoteHosts.length > 0 && remoteHosts.every((h) => isLoopbackAddress(h) || isTailnetIPv4(h))
    if (remoteBeyond && r.authMode === "none") {
      findings.push({
        id: "gateway.remote.bind_no_auth",
        severity: "critical",
        title: "The remote Gateway listens beyond loopback without authentication",
        detail: `${r.url} (${r.urlSource}) listens on ${remoteHosts.join(", ")} with auth mode "none".`,
        fix: "On that host: clawgate config unset gateway.auth.mode, then set a token, or bind to loopback"
      })
    }
    if (remoteBeyond && r.tls === false) {
      findings.push({
        id: "gateway.remote.bind_no_tls",
        severity: remoteTailnet ? "info" : "warn",
        title: "The remote Gateway listens beyond loopback without TLS",
        detail: `${r.url} (${r.urlSource}) listens on ${remoteHosts.join(", ")} over plain ws://.`,
        fix: "On that host: clawgate config set gateway.tls.enabled true and restart; here: pin its fingerprint (gateway.remote.tlsFingerprint). Or reach it over an SSH tunnel (gateway.remote.transport ssh) or Tailscale Serve."
      })
    }
  }
  return findings
}
