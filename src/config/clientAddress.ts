/**
 * Who is really on the other end of a connection: the socket address, or,
 * behind trusted reverse proxies, the address they forwarded. Pure functions.
 */
import * as net from "node:net"
import { isLoopbackAddress, normalizeIp } from "./bind.js"

const ipv4ToInt = (ip: string) => ip.split(".").reduce((acc, part) => (acc << 8) + Number(part), 0) >>> 0

/** `entry` is an address (`10.0.0.5`, `::1`) or an IPv4 CIDR (`10.0.0.0/8`). */
export const matchesProxy = (ip: string, entry: string): boolean => {
  const addr = normalizeIp(ip)
  const [base, bitsText] = entry.split("/")
  if (bitsText === undefined) return normalizeIp(base) === addr
  const bits = Number(bitsText)
  if (!net.isIPv4(addr) || !net.isIPv4(base ?? "") || !Number.isInteger(bits) || bits < 0 || bits > 32) return false
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0
  return (ipv4ToInt(addr) & mask) === (ipv4ToInt(base!) & mask)
}

export interface ClientAddress {
  /** The address decisions are made on (rate limits, pairing, logs). */
  readonly ip: string
  /** Direct loopback, or loopback behind only trusted proxies. */
  readonly isLoopback: boolean
  /** The request carried forwarding headers. */
  readonly forwarded: boolean
  /** Forwarding headers came from a peer that is not a trusted proxy: they were ignored. */
  readonly untrustedForwarding: boolean
}

export interface ProxySettings {
  readonly trustedProxies?: ReadonlyArray<string> | undefined
  readonly allowRealIpFallback?: boolean | undefined
}

const header = (headers: Record<string, string | Array<string> | undefined>, name: string) => {
  const v = headers[name]
  return Array.isArray(v) ? v.join(",") : v
}

/**
 * Walks `X-Forwarded-For` from the right, skipping trusted proxies; the first
 * untrusted hop is the client. Headers from an untrusted peer are ignored, and
 * such a connection is never treated as loopback, even on a loopback socket.
 */
export const resolveClientAddress = (
  socketAddress: string | undefined,
  headers: Record<string, string | Array<string> | undefined>,
  settings: ProxySettings
): ClientAddress => {
  const peer = normalizeIp(socketAddress)
  const xff = header(headers, "x-forwarded-for")
  const realIp = header(headers, "x-real-ip")
  const forwarded = xff !== undefined || realIp !== undefined || header(headers, "forwarded") !== undefined
  const trusted = (ip: string) => (settings.trustedProxies ?? []).some((entry) => matchesProxy(ip, entry))
  if (!forwarded) return { ip: peer, isLoopback: isLoopbackAddress(peer), forwarded: false, untrustedForwarding: false }
  if (!trusted(peer)) return { ip: peer, isLoopback: false, forwarded: true, untrustedForwarding: true }
  const hops = (xff ?? "")
    .split(",")
    .map((h) => h.trim())
    .filter((h) => h.length > 0)
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(hops[i])
    if (!net.isIP(hop)) break
    if (!trusted(hop)) return { ip: hop, isLoopback: isLoopbackAddress(hop), forwarded: true, untrustedForwarding: false }
  }
  if (settings.allowRealIpFallback && realIp && net.isIP(realIp.trim())) {
    const ip = normalizeIp(realIp.trim())
    return { ip, isLoopback: isLoopbackAddress(ip), forwarded: true, untrustedForwarding: false }
  }
  // Every hop was a trusted proxy: the leftmost is as far as we can see.
  const leftmost = hops.length > 0 && net.isIP(hops[0]!) ? normalizeIp(hops[0]) : peer
  return { ip: leftmost, isLoopback: isLoopbackAddress(leftmost), forwarded: true, untrustedForwarding: false }
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
