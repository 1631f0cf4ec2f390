/**
 * Who is really on the other end of a connection: the socket address, or,
 * behind trusted reverse proxies, the address they forwarded. Pure functions.
 */
import * as net from "node:net"
import { addressList, type AddressList } from "./addressList.js"
import { isLoopbackAddress, normalizeIp } from "./bind.js"

/**
 * `entry` is an address or a CIDR, IPv4 or IPv6 (`10.0.0.5`, `10.0.0.0/8`,
 * `::1`, `fd7a:115c:a1e0::/48`); IPv4-mapped addresses match both ways.
 * An entry that is neither matches nothing.
 */
export const matchesProxy = (ip: string, entry: string): boolean => addressList([entry]).matches(ip)

/** The trusted proxies of a config, parsed once per config into a BlockList. */
export const trustedProxyList = (trustedProxies: ReadonlyArray<string> | AddressList | undefined): AddressList =>
  trustedProxies !== undefined && "matches" in trustedProxies ? trustedProxies : addressList(trustedProxies)

export interface ClientAddress {
  /** The address decisions are made on (rate limits, pairing, logs). */
  readonly ip: string
  /**
   * A direct connection from a loopback address. A forwarded request is never
   * loopback, whichever header named the client (`X-Forwarded-For`,
   * `X-Real-IP`, `Forwarded`) and whatever address it named: its client is
   * wherever the proxy's client is.
   */
  readonly isLoopback: boolean
  /** The request carried forwarding headers. */
  readonly forwarded: boolean
  /** Forwarding headers came from a peer that is not a trusted proxy: they were ignored. */
  readonly untrustedForwarding: boolean
}

export interface ProxySettings {
  /** `gateway.trustedProxies`, or a list already built from it (`trustedProxyList`). */
  readonly trustedProxies?: ReadonlyArray<string> | AddressList | undefined
  readonly allowRealIpFallback?: boolean | undefined
  /**
   * Tailscale Serve or Funnel is in use (`gateway.tailscale.mode`, or
   * `gateway.auth.allowTailscale`): a loopback peer that sends Tailscale's
   * forwarding headers is the Tailscale proxy, and the client is the address
   * it forwarded.
   */
  readonly tailscaleProxy?: boolean | undefined
}

type Headers = Record<string, string | Array<string> | undefined>

const header = (headers: Headers, name: string) => {
  const v = headers[name]
  return Array.isArray(v) ? v.join(",") : v
}

/** The headers Tailscale Serve adds to every request it forwards. */
export const TAILSCALE_SERVE_HEADERS = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "tailscale-user-login"] as const

const present = (headers: Headers, name: string) => (header(headers, name) ?? "").trim() !== ""

/**
 * Looks like a request Tailscale forwarded: from loopback, with its
 * `X-Forwarded-*` headers and either an identity (Serve) or Funnel's marker.
 * Anyone on this host can send such headers, which is why an identity is
 * believed only after `tailscale whois` confirms it.
 */
const viaTailscale = (peer: string, headers: Headers): boolean =>
  isLoopbackAddress(peer) &&
  present(headers, "x-forwarded-for") &&
  present(headers, "x-forwarded-proto") &&
  present(headers, "x-forwarded-host") &&
  (present(headers, "tailscale-user-login") || header(headers, "tailscale-funnel-request") === "?1")

/** The rightmost `X-Forwarded-For` hop that is not loopback: who Tailscale's proxy was talking to. */
const tailscaleClient = (headers: Headers): string | undefined => {
  const hops = (header(headers, "x-forwarded-for") ?? "").split(",").map((h) => normalizeIp(h.trim()))
  for (const hop of hops.reverse()) {
    if (!net.isIP(hop)) return undefined
    if (!isLoopbackAddress(hop)) return hop
  }
  return undefined
}

/** What a request says about a Tailscale identity, before anyone has asked `tailscale whois`. */
export type TailscaleClaim =
  /** Shaped as Tailscale Serve forwards it: the login to check against `whois <clientIp>`. */
  | { readonly _tag: "Claim"; readonly clientIp: string; readonly login: string }
  /** It carries `tailscale-user-login`, but did not come through Tailscale Serve. */
  | { readonly _tag: "Refused"; readonly reason: string }

/**
 * Decides whether a request's `tailscale-user-login` may be checked at all:
 * only on a loopback socket (Tailscale Serve connects from 127.0.0.1), only
 * with every header Serve adds, and only with a client address in
 * `X-Forwarded-For`. Undefined when there is no identity header.
 */
export const tailscaleClaim = (socketAddress: string | undefined, headers: Headers): TailscaleClaim | undefined => {
  const login = header(headers, "tailscale-user-login")?.trim()
  if (login === undefined || login === "") return undefined
  // Funnel carries requests from the public internet: it never vouches for who is asking.
  if (header(headers, "tailscale-funnel-request") !== undefined) {
    return { _tag: "Refused", reason: "the request came through Tailscale Funnel (the public internet), which carries no identity" }
  }
  const peer = normalizeIp(socketAddress)
  if (!isLoopbackAddress(peer)) {
    return { _tag: "Refused", reason: `tailscale-user-login arrived from ${peer}, not from loopback where Tailscale Serve connects` }
  }
  const missing = TAILSCALE_SERVE_HEADERS.filter((name) => !present(headers, name))
  if (missing.length > 0) {
    return { _tag: "Refused", reason: `tailscale-user-login arrived without ${missing.join(", ")}: not a Tailscale Serve request` }
  }
  const clientIp = tailscaleClient(headers)
  if (clientIp === undefined) {
    return { _tag: "Refused", reason: "x-forwarded-for names no client address beyond loopback" }
  }
  return { _tag: "Claim", clientIp, login }
}

/**
 * Walks `X-Forwarded-For` from the right, skipping trusted proxies; the first
 * untrusted hop is the client. Headers from an untrusted peer are ignored, and
 * such a connection is never treated as loopback, even on a loopback socket.
 */
export const resolveClientAddress = (socketAddress: string | undefined, headers: Headers, settings: ProxySettings): ClientAddress => {
  const peer = normalizeIp(socketAddress)
  const xff = header(headers, "x-forwarded-for")
  const realIp = header(headers, "x-real-ip")
  const forwarded = xff !== undefined || realIp !== undefined || header(headers, "forwarded") !== undefined
  // Tailscale's proxy on this host counts as trusted, and so does every loopback hop it forwarded.
  const tailscale = forwarded && settings.tailscaleProxy === true && viaTailscale(peer, headers)
  const proxies = trustedProxyList(settings.trustedProxies)
  const trusted = (ip: string) => (tailscale && isLoopbackAddress(ip)) || proxies.matches(ip)
  if (!forwarded) return { ip: peer, isLoopback: isLoopbackAddress(peer), forwarded: false, untrustedForwarding: false }
  if (!trusted(peer)) return { ip: peer, isLoopback: false, forwarded: true, untrustedForwarding: true }
  const hops = (xff ?? "")
    .split(",")
    .map((h) => h.trim())
    .filter((h) => h.length > 0)
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(hops[i])
    if (!net.isIP(hop)) break
    if (!trusted(hop)) return { ip: hop, isLoopback: false, forwarded: true, untrustedForwarding: false }
  }
  if (settings.allowRealIpFallback && realIp && net.isIP(realIp.trim())) {
    return { ip: normalizeIp(realIp.trim()), isLoopback: false, forwarded: true, untrustedForwarding: false }
  }
  // Every hop was a trusted proxy (or the proxy named the client only in a header that is not
  // trusted here): the leftmost hop, else the proxy itself, is as far as we can see.
  const [first] = hops
  const leftmost = first !== undefined && net.isIP(first) ? normalizeIp(first) : peer
  return { ip: leftmost, isLoopback: false, forwarded: true, untrustedForwarding: false }
}

export interface OriginSettings {
  readonly allowedOrigins?: ReadonlyArray<string> | undefined
}

/**
 * A browser's upgrade (any `Origin`, `null` included) is allowed when the
 * origin is listed, when its host equals the Host header, or when both are
 * loopback. Returns the reason when it is refused.
 */
export const checkOrigin = (origin: string | undefined, host: string | undefined, settings: OriginSettings): string | undefined => {
  if (origin === undefined) return undefined
  if ((settings.allowedOrigins ?? []).includes(origin)) return undefined
  let originHost: string
  try {
    if (origin === "null") throw new Error("opaque origin")
    originHost = new URL(origin).host.toLowerCase()
  } catch {
    return `origin ${JSON.stringify(origin)} is not allowed (add it to gateway.controlUi.allowedOrigins)`
  }
  const hostHeader = (host ?? "").toLowerCase()
  if (originHost === hostHeader) return undefined
  const bare = (h: string) => h.replace(/:\d+$/, "").replace(/^\[|\]$/g, "")
  if (isLoopbackAddress(bare(originHost)) && isLoopbackAddress(bare(hostHeader))) return undefined
  return `origin ${origin} does not match the Gateway's host ${host ?? "(none)"} (add it to gateway.controlUi.allowedOrigins)`
}
